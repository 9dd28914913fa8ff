package plugsurfing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// maxErrorBody bounds what is read of a non-2xx response.
const maxErrorBody = 64 << 10

// Client calls the Plugsurfing user-get-bills API. It is safe for concurrent use.
type Client struct {
	cfg Config
	hc  *http.Client
	loc *time.Location // the zone of PLUGSURFING_UTC_OFFSET
}

// NewClient returns a client for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid). hc carries timeouts; nil means a client with a 60s timeout.
func NewClient(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	loc, _ := ParseUTCOffset(cfg.UTCOffset) // validated
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc, loc: loc}, nil
}

// String names the client by its URL; printing a Client never shows a token.
func (c *Client) String() string { return "plugsurfing.Client(" + config.Redact(c.cfg.BaseURL) + ")" }

// GoString is String, for %#v.
func (c *Client) GoString() string { return c.String() }

// FormatTime writes t in the API's date format (DateLayout) at the fixed offset of loc:
// 2015-03-04T13:32:12+01:00, or +00:00 for UTC (never "Z").
func FormatTime(t time.Time, loc *time.Location) string { return t.In(loc).Format(DateLayout) }

// Bills makes one user-get-bills call for u over the date interval start … end (written at the
// configured UTC offset) and returns each bill's JSON exactly as the API sent it. 429, 5xx,
// transport failures and bodies that do not decode are retried with cfg.Backoff (Retry-After
// honoured). A non-zero result.code is an *APIError: 140 / 144 / 145 match poll.ErrAuth,
// others poll.ErrPermanent; neither is retried. The error names the user (its Scope, never
// its token) and the interval. A cancelled ctx ends the call with ctx's error.
func (c *Client) Bills(ctx context.Context, u User, start, end time.Time) ([]json.RawMessage, error) {
	interval := DateInterval{Start: FormatTime(start, c.loc), End: FormatTime(end, c.loc)}
	body, err := json.Marshal(Request{UserGetBills: UserGetBills{
		User:         RequestUser{IdentifierType: u.IdentifierType, Identifier: u.Identifier, Token: u.Token.Reveal()},
		DateInterval: interval,
	}})
	if err != nil {
		return nil, fmt.Errorf("plugsurfing: user %s: encode request: %w", u.Scope(), err)
	}
	var bills []json.RawMessage
	err = poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		var err error
		bills, err = c.billsOnce(ctx, body, secretsOf(u))
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("plugsurfing: user %s: bills %s..%s: %w", u.Scope(), interval.Start, interval.End, err)
	}
	return bills, nil
}

// secretsOf lists what must never appear in an error about u: its token, and the identifier
// of a token-type user.
func secretsOf(u User) []string {
	s := []string{u.Token.Reveal()}
	if u.IdentifierType == IdentifierToken {
		s = append(s, u.Identifier)
	}
	return s
}

func (c *Client) billsOnce(ctx context.Context, body []byte, secrets []string) ([]json.RawMessage, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.cfg.BaseURL, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, poll.TransportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return nil, poll.HTTPStatusError(resp, decodeError(resp.StatusCode, b, secrets...))
	}
	b, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1))
	if err != nil {
		return nil, poll.TransportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	if int64(len(b)) > c.cfg.MaxResponseBytes {
		return nil, fmt.Errorf("response body larger than %d bytes (--%s/PLUGSURFING_MAX_RESPONSE_BYTES); lower --%s/PLUGSURFING_WINDOW: %w",
			c.cfg.MaxResponseBytes, settingMaxResponseBytes, settingWindow, poll.ErrPermanent)
	}
	a, err := decodeResponse(b)
	if errors.Is(err, poll.ErrPermanent) {
		return nil, err // well-formed JSON in a shape no retry changes
	}
	if err != nil {
		// Most likely truncated in transit: worth a few more attempts.
		return nil, &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(b), err)}
	}
	if a.code != CodeSuccess {
		return nil, &APIError{Status: resp.StatusCode, Code: a.code, Message: poll.SafeText(a.message, secrets...)}
	}
	return a.bills, nil
}

// answer is a decoded 2xx body.
type answer struct {
	code    int
	message string
	bills   []json.RawMessage // each bill's JSON as sent
}

// decodeResponse decodes a 2xx body: a JSON object whose result carries an integer code (a
// JSON integer, or a string of one: "0"). On success the bills are read from user.bills (the
// seed's example) or from a top-level bills (the seed's field list); both present and different,
// or neither present while some other array is, is an error naming what the body holds instead
// of a silent "no bills". user and bills may be absent or null when there are no bills (an
// error result carries none). Each bill is kept as raw bytes. A body that is not valid JSON
// returns a plain error (truncated: the caller retries it); valid JSON in another shape returns
// an error wrapping poll.ErrPermanent that says what was seen.
func decodeResponse(body []byte) (answer, error) {
	trimmed := bytes.TrimSpace(body)
	if !json.Valid(trimmed) {
		if len(trimmed) > 0 && trimmed[0] != '{' {
			return answer{}, errors.New("not a JSON object")
		}
		return answer{}, errors.New("not valid JSON")
	}
	var top map[string]json.RawMessage
	if trimmed[0] != '{' || json.Unmarshal(trimmed, &top) != nil {
		return answer{}, shapeErr("the body is %s, not a JSON object", describeJSON(trimmed))
	}
	code, message, err := resultOf(top)
	if err != nil {
		return answer{}, err
	}
	a := answer{code: code, message: message}
	if code != CodeSuccess {
		return a, nil
	}
	var user map[string]json.RawMessage
	if raw, ok := top["user"]; ok && !isNull(raw) {
		if json.Unmarshal(raw, &user) != nil {
			return answer{}, shapeErr("user is %s, not an object holding bills", describeJSON(raw))
		}
	}
	nested, err := billsAt(user, "user.bills")
	if err != nil {
		return answer{}, err
	}
	flat, err := billsAt(top, "bills")
	if err != nil {
		return answer{}, err
	}
	switch {
	case nested != nil && flat != nil:
		if !sameBills(nested, flat) {
			return answer{}, shapeErr("bills both under user.bills (%d) and at the top level (%d), and they differ: cannot tell which list is the user's", len(nested), len(flat))
		}
		a.bills = nested
	case nested != nil:
		a.bills = nested
	case flat != nil:
		a.bills = flat
	default:
		// No list at all is no bills, unless the body holds an array somewhere else: then the
		// bills are most likely there, and "none" would be a silent loss.
		for _, where := range []struct {
			prefix string
			obj    map[string]json.RawMessage
		}{{"", top}, {"user.", user}} {
			for _, k := range slices.Sorted(maps.Keys(where.obj)) {
				var items []json.RawMessage
				if json.Unmarshal(where.obj[k], &items) == nil && len(items) > 0 {
					return answer{}, shapeErr("result.code 0 without a bills list (neither user.bills nor bills), but %s%s holds %s: not the seed's shape", where.prefix, k, describeJSON(where.obj[k]))
				}
			}
		}
	}
	return a, nil
}

// resultOf reads result.code and result.message.
func resultOf(top map[string]json.RawMessage) (code int, message string, err error) {
	var result map[string]json.RawMessage
	if raw, ok := top["result"]; !ok || isNull(raw) || json.Unmarshal(raw, &result) != nil {
		return 0, "", shapeErr("no result object with a code; the body holds %s", keysOf(top))
	}
	raw, ok := result["code"]
	if !ok || isNull(raw) {
		return 0, "", shapeErr("result has no code; it holds %s", keysOf(result))
	}
	code, ok = parseCode(raw)
	if !ok {
		return 0, "", shapeErr("result.code %s is not an integer", poll.SafeText(string(raw)))
	}
	_ = json.Unmarshal(result["message"], &message) // a message that is not a string is left out
	return code, message, nil
}

// parseCode reads a result code written as a JSON integer (0, 145) or as a string holding one
// ("0", "145"); anything else (1.5, 1e3, "ok", true) is not a code.
func parseCode(raw json.RawMessage) (int, bool) {
	s := string(bytes.TrimSpace(raw))
	if unq, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(unq)
	}
	n, err := strconv.Atoi(s)
	if err != nil || strings.HasPrefix(s, "+") {
		return 0, false
	}
	return n, true
}

// billsAt returns the array under obj["bills"]: nil when absent or null, an error naming where
// when it is not an array.
func billsAt(obj map[string]json.RawMessage, where string) ([]json.RawMessage, error) {
	raw, ok := obj["bills"]
	if !ok || isNull(raw) {
		return nil, nil
	}
	var bills []json.RawMessage
	if json.Unmarshal(raw, &bills) != nil {
		return nil, shapeErr("%s is %s, not an array", where, describeJSON(raw))
	}
	if bills == nil {
		bills = []json.RawMessage{}
	}
	return bills, nil
}

func sameBills(a, b []json.RawMessage) bool {
	return slices.EqualFunc(a, b, func(x, y json.RawMessage) bool { return bytes.Equal(bytes.TrimSpace(x), bytes.TrimSpace(y)) })
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// describeJSON names a JSON value's kind (and an array's length) for an error message.
func describeJSON(raw json.RawMessage) string {
	v := bytes.TrimSpace(raw)
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '[':
		var items []json.RawMessage
		_ = json.Unmarshal(v, &items)
		return fmt.Sprintf("an array of %d", len(items))
	case '{':
		var obj map[string]json.RawMessage
		_ = json.Unmarshal(v, &obj)
		return "an object with " + keysOf(obj)
	case '"':
		return "a string"
	case 'n':
		return "null"
	case 't', 'f':
		return "a boolean"
	}
	return "a number"
}

// keysOf lists an object's keys for an error message.
func keysOf(obj map[string]json.RawMessage) string {
	if len(obj) == 0 {
		return "no keys"
	}
	keys := slices.Sorted(maps.Keys(obj))
	for i, k := range keys {
		keys[i] = strconv.Quote(poll.SafeText(k))
	}
	if len(keys) > 10 {
		keys = append(keys[:10], "…")
	}
	return "keys " + strings.Join(keys, ", ")
}

// shapeErr is a well-formed body in a shape the client cannot read: permanent, since asking
// again gets the same answer.
func shapeErr(format string, a ...any) error {
	return fmt.Errorf("unexpected response body: %s: %w", fmt.Sprintf(format, a...), poll.ErrPermanent)
}

// decodeError turns a non-2xx body into an *APIError: its result's code and message when it
// has one, else the start of the body. secrets are blanked out of the message.
func decodeError(status int, body []byte, secrets ...string) *APIError {
	var r struct {
		Result *struct {
			Code    json.RawMessage `json:"code"`
			Message any             `json:"message"`
		} `json:"result"`
	}
	if json.Unmarshal(body, &r) == nil && r.Result != nil {
		code, hasCode := parseCode(r.Result.Code)
		message, _ := r.Result.Message.(string)
		if hasCode || message != "" {
			e := &APIError{Status: status, Message: poll.SafeText(message, secrets...)}
			if hasCode {
				e.Code = code
			}
			return e
		}
	}
	msg := http.StatusText(status)
	if b := poll.SafeText(string(body), secrets...); b != "" {
		msg += ": " + b
	}
	return &APIError{Status: status, Message: msg}
}
