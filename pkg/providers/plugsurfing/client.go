package plugsurfing

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
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
	r, err := decodeResponse(b)
	if err != nil {
		// Most likely truncated in transit: worth a few more attempts.
		return nil, &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(b), err)}
	}
	if code := *r.Result.Code; code != CodeSuccess {
		return nil, &APIError{Status: resp.StatusCode, Code: code, Message: poll.SafeText(r.Result.Message, secrets...)}
	}
	if r.User == nil {
		return nil, nil
	}
	return r.User.Bills, nil
}

// decodeResponse decodes a 2xx body: a JSON object whose result carries an integer code. user
// may be absent or null (no bills; an error result carries none); each bill is kept as raw
// bytes.
func decodeResponse(body []byte) (Response, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Response{}, errors.New("not a JSON object")
	}
	var r Response
	if err := json.Unmarshal(body, &r); err != nil {
		return Response{}, err
	}
	if r.Result == nil || r.Result.Code == nil {
		return Response{}, errors.New("no result.code")
	}
	return r, nil
}

// decodeError turns a non-2xx body into an *APIError: its result's code and message when it
// has one, else the start of the body. secrets are blanked out of the message.
func decodeError(status int, body []byte, secrets ...string) *APIError {
	var r Response
	if json.Unmarshal(body, &r) == nil && r.Result != nil && (r.Result.Code != nil || r.Result.Message != "") {
		e := &APIError{Status: status, Message: poll.SafeText(r.Result.Message, secrets...)}
		if r.Result.Code != nil {
			e.Code = *r.Result.Code
		}
		return e
	}
	msg := http.StatusText(status)
	if b := poll.SafeText(string(body), secrets...); b != "" {
		msg += ": " + b
	}
	return &APIError{Status: status, Message: msg}
}
