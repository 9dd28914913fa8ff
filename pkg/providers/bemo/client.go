package bemo

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Request and response headers.
const (
	headerAuthorization   = "Authorization"
	headerSubscriptionKey = "Api-Subscription-Key"
	// headerAcceptRange is the simulator's name for the seed's unnamed "Accepted range" header:
	// the largest limit the server accepts.
	headerAcceptRange = "Accept-Range"
	headerPrevRange   = "Prev-Range"
	headerNextRange   = "Next-Range"
)

// sessionsPath is the GetSessionsByAccount endpoint below the base URL; %s is the account id.
const sessionsPath = "/reporting/v1/api/accounts/%s/sessions"

// maxErrorBody bounds what is read of a non-2xx response.
const maxErrorBody = 64 << 10

// Client calls the Be-Mo reporting API. It is safe for concurrent use.
type Client struct {
	cfg  Config
	hc   *http.Client
	base string // BaseURL without a trailing slash
	// lastBody is the size of the latest page body: the buffer size to start the next one with,
	// when the server does not say (chunked pages are alike in size).
	lastBody atomic.Int64
}

// NewClient returns a client for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid). hc carries timeouts and the connection pool (a poller's is
// poll.NewHTTPClient, which keeps a connection per account); nil means a client with a 60s
// timeout.
func NewClient(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

// SessionsQuery selects one page of an account's sessions.
type SessionsQuery struct {
	From, To time.Time // days (their UTC dates are sent); zero leaves the bound out
	// LastCreated (its UTC date is sent) keeps the sessions Be-Mo created, or corrected, on that
	// day or later; zero leaves it out.
	LastCreated time.Time
	Offset      int // page index, 0-based
	Limit       int // page size; 0 means the configured PageSize
}

// window names the query's days in errors: "2026-11-01..2026-11-20", plus " lastCreated=D".
func (q SessionsQuery) window() string {
	w := dateText(q.From) + ".." + dateText(q.To)
	if !q.LastCreated.IsZero() {
		w += " lastCreated=" + dateText(q.LastCreated)
	}
	return w
}

// Page is one page of sessions.
type Page struct {
	// Sessions holds each session's JSON exactly as the API sent it.
	Sessions []json.RawMessage
	// Limit is the page size in force: the limit asked for, or the server's Accept-Range when
	// that is smaller.
	Limit int
	// ids holds what the page's scan read of each session's sessionId (nil when the scanner
	// declined the page), so the source need not scan each session again.
	ids []itemID
}

// Full reports whether the page holds Limit sessions, so a next page may exist.
func (p Page) Full() bool { return len(p.Sessions) >= p.Limit }

// Sessions fetches one page of GetSessionsByAccount. 429, 5xx, transport failures and bodies
// that do not decode are retried with cfg.Backoff (Retry-After honoured); the error returned
// names the account, the window and the page. Errors match poll.ErrAuth when the credentials
// were refused and poll.ErrPermanent when the request cannot succeed (see APIError); neither
// is retried. A cancelled ctx ends the call with ctx's error.
func (c *Client) Sessions(ctx context.Context, account string, q SessionsQuery) (Page, error) {
	if q.Limit <= 0 {
		q.Limit = c.cfg.PageSize
	}
	var page Page
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		var err error
		page, err = c.sessionsOnce(ctx, account, q)
		return err
	})
	if err != nil {
		return Page{}, fmt.Errorf("bemo: account %q: sessions %s page %d: %w", account, q.window(), q.Offset, err)
	}
	return page, nil
}

func (c *Client) sessionsOnce(ctx context.Context, account string, q SessionsQuery) (Page, error) {
	query := url.Values{}
	if !q.From.IsZero() {
		query.Set("from", q.From.UTC().Format(dateLayout))
	}
	if !q.To.IsZero() {
		query.Set("to", q.To.UTC().Format(dateLayout))
	}
	if !q.LastCreated.IsZero() {
		query.Set("lastCreated", q.LastCreated.UTC().Format(dateLayout))
	}
	query.Set("offset", strconv.Itoa(q.Offset))
	query.Set("limit", strconv.Itoa(q.Limit))
	u := c.base + fmt.Sprintf(sessionsPath, url.PathEscape(account)) + "?" + query.Encode()

	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return Page{}, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set(headerAuthorization, c.cfg.AccessToken.Reveal())
	req.Header.Set(headerSubscriptionKey, c.cfg.SubscriptionKey.Reveal())
	req.Header.Set("Accept", "application/json")

	resp, err := c.hc.Do(req)
	if err != nil {
		return Page{}, poll.TransportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		return Page{}, poll.HTTPStatusError(resp, decodeError(resp.StatusCode, body))
	}
	body, err := readBody(resp, c.cfg.MaxPageBytes+1, &c.lastBody)
	if err != nil {
		return Page{}, poll.TransportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	if int64(len(body)) > c.cfg.MaxPageBytes {
		return Page{}, fmt.Errorf("response body larger than %d bytes (--%s/BEMO_MAX_PAGE_BYTES); lower --%s/BEMO_PAGE_SIZE: %w",
			c.cfg.MaxPageBytes, settingMaxPageBytes, settingPageSize, poll.ErrPermanent)
	}
	env, ids, err := decodePage(body)
	if err != nil {
		// Most likely truncated in transit: worth a few more attempts.
		return Page{}, &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
	}
	if env.Status == StatusError {
		return Page{}, envelopeError(resp.StatusCode, env)
	}
	limit := q.Limit
	if n, err := strconv.Atoi(resp.Header.Get(headerAcceptRange)); err == nil && n > 0 && n < limit {
		limit = n
	}
	return Page{Sessions: env.Data, Limit: limit, ids: ids}, nil
}

// readBody reads at most limit bytes of resp's body into one buffer sized from Content-Length,
// else from the previous page (last), instead of growing from 512 bytes: a page is tens of
// kilobytes and io.ReadAll's regrowing made as much garbage again. The first guess is at most
// maxBodyGuess; a larger body grows from there.
func readBody(resp *http.Response, limit int64, last *atomic.Int64) ([]byte, error) {
	const maxBodyGuess = 1 << 20
	size := resp.ContentLength
	if size < 0 {
		size = last.Load()
	}
	// +1: the read that reports io.EOF, or the byte past limit, needs room without regrowing.
	b := make([]byte, 0, min(max(size, 512), limit, maxBodyGuess)+1)
	r := io.LimitReader(resp.Body, limit)
	for {
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			last.Store(int64(len(b)))
			return b, nil
		}
		if err != nil {
			return b, err
		}
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)] // let append pick the next capacity
		}
	}
}

// decodeEnvelope decodes a 2xx body. It must be an object whose status is Success or Error;
// data may be null (no sessions). Each data item is kept as raw bytes, which may share body's
// memory.
func decodeEnvelope(body []byte) (Envelope, error) {
	env, _, err := decodePage(body)
	return env, err
}

// decodePage is decodeEnvelope plus what the scanner read of each item's sessionId (nil when
// encoding/json decoded the body).
func decodePage(body []byte) (Envelope, []itemID, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return Envelope{}, nil, errors.New("not a JSON object")
	}
	env, ids, ok := scanEnvelope(body)
	if !ok {
		// What the scanner declines is rare (or invalid): encoding/json decides, as it always did.
		env, ids = Envelope{}, nil
		if err := json.Unmarshal(body, &env); err != nil {
			return Envelope{}, nil, err
		}
	}
	switch env.Status {
	case StatusSuccess, StatusError:
	default:
		return Envelope{}, nil, fmt.Errorf("envelope status %q is neither %s nor %s", poll.SafeText(env.Status), StatusSuccess, StatusError)
	}
	return env, ids, nil
}

// decodeError turns a non-2xx body into an *APIError: the envelope's first error, else the
// gateway's {statusCode, message}, else the start of the body.
func decodeError(status int, body []byte) *APIError {
	var env Envelope
	if json.Unmarshal(body, &env) == nil && len(env.Errors) > 0 {
		return envelopeError(status, env)
	}
	var gw gatewayError
	if json.Unmarshal(body, &gw) == nil && gw.Message != "" {
		return &APIError{Status: status, Message: poll.SafeText(gw.Message)}
	}
	msg := http.StatusText(status)
	if b := poll.SafeText(string(body)); b != "" {
		msg += ": " + b
	}
	return &APIError{Status: status, Message: msg}
}

func envelopeError(status int, env Envelope) *APIError {
	e := &APIError{Status: status}
	var msgs []string
	for _, item := range env.Errors {
		if e.Code == "" {
			e.Code = poll.SafeText(item.Code)
		}
		if item.Message != "" {
			msgs = append(msgs, item.Message)
		}
	}
	e.Message = poll.SafeText(strings.Join(msgs, "; "))
	return e
}

func dateText(t time.Time) string {
	if t.IsZero() {
		return "*"
	}
	return t.UTC().Format(dateLayout)
}
