package pip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/poll"
)

// exportPath is getPostenInvoicingData below the base URL; %s is the export ("posten").
const exportPath = "/v1/data-export/%s/invoicing"

// paramCompletedAfter is the export's only query parameter.
const paramCompletedAfter = "completedAfter"

// maxErrorBody bounds what is read of a non-2xx response.
const maxErrorBody = 64 << 10

// Client calls the PIP data export API with an OAuth2 bearer token. It is safe for concurrent
// use.
type Client struct {
	cfg    Config
	hc     *http.Client
	base   string // BaseURL without a trailing slash
	tokens *tokens
}

// NewClient returns a client for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid). hc carries timeouts and also serves the token endpoint; nil means a
// client with a 60s timeout.
func NewClient(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc, base: strings.TrimRight(cfg.BaseURL, "/"), tokens: newTokens(cfg, hc)}, nil
}

// Page is one response of the export.
type Page struct {
	// Sessions holds each session's JSON exactly as the API sent it, oldest first.
	Sessions []json.RawMessage
	// ExportedThrough is the response's exportedThrough as sent; "" when it carried none.
	ExportedThrough string
	// Request is the method and URL of the request (no credentials), for error reports.
	Request string
}

// Invoicing fetches one page of getPostenInvoicingData: the sessions completed after
// completedAfter, which is sent verbatim ("" leaves the parameter out: from the beginning).
// 408, 429, 5xx, transport failures and bodies that do not decode are retried with
// cfg.Backoff (Retry-After honoured), token endpoint failures likewise. A 401 with a cached
// client-credentials token drops it and tries once more with a new one. Errors match
// poll.ErrAuth when the credentials or their permissions were refused (*APIError 401/403,
// *TokenError) and poll.ErrPermanent when the request cannot succeed (*APIError 400/404);
// neither is retried. A cancelled ctx ends the call with ctx's error.
func (c *Client) Invoicing(ctx context.Context, completedAfter string) (Page, error) {
	u := c.base + fmt.Sprintf(exportPath, url.PathEscape(c.cfg.Export))
	if completedAfter != "" {
		u += "?" + url.Values{paramCompletedAfter: {completedAfter}}.Encode()
	}
	var page Page
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		var err error
		page, err = c.invoicingOnce(ctx, u)
		return err
	})
	if err != nil {
		after := completedAfter
		if after == "" {
			after = "(from the beginning)"
		}
		return Page{}, fmt.Errorf("pip: export %q: completedAfter %s: %w", c.cfg.Export, after, err)
	}
	return page, nil
}

func (c *Client) invoicingOnce(ctx context.Context, u string) (Page, error) {
	request := http.MethodGet + " " + config.Redact(u)
	tok, fresh, err := c.tokens.get(ctx)
	if err != nil {
		return Page{}, err
	}
	resp, err := c.get(ctx, u, tok)
	if err != nil {
		return Page{}, err
	}
	if resp.StatusCode == http.StatusUnauthorized && c.tokens.refreshable() && !fresh {
		// The cached token was revoked or expired early: one new token, one more try.
		drain(resp)
		c.tokens.invalidate(tok)
		if tok, _, err = c.tokens.get(ctx); err != nil {
			return Page{}, err
		}
		if resp, err = c.get(ctx, u, tok); err != nil {
			return Page{}, err
		}
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		apiErr := decodeError(resp.StatusCode, body, request)
		if resp.StatusCode == http.StatusRequestTimeout {
			return Page{}, &poll.TemporaryError{Err: apiErr}
		}
		return Page{}, poll.HTTPStatusError(resp, apiErr)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxPageBytes+1))
	if err != nil {
		return Page{}, poll.TransportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	if int64(len(body)) > c.cfg.MaxPageBytes {
		return Page{}, fmt.Errorf("response body larger than %d bytes (--%s/PIP_MAX_PAGE_BYTES; the API sends at most %d sessions a page): %w",
			c.cfg.MaxPageBytes, settingMaxPageBytes, c.cfg.PageSize, poll.ErrPermanent)
	}
	r, err := decodePage(body)
	if err != nil {
		// Most likely truncated in transit: worth a few more attempts.
		return Page{}, &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes) for %s: %w", len(body), request, err)}
	}
	p := Page{Sessions: r.Data, Request: request}
	if r.ExportedThrough != nil {
		p.ExportedThrough = *r.ExportedThrough
	}
	return p, nil
}

func (c *Client) get(ctx context.Context, u, token string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	resp, err := c.hc.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			ue.URL = config.Redact(ue.URL)
		}
		return nil, poll.TransportError(ctx, err)
	}
	return resp, nil
}

// drain reads a little of a response that is thrown away, so its connection can be reused.
func drain(resp *http.Response) {
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxErrorBody))
	resp.Body.Close()
}

// decodePage decodes a 2xx body: an object whose "data" is an array (or null) of sessions,
// each kept as raw bytes, and whose exportedThrough is a date-time, null or absent. A bare
// array is read as the sessions without exportedThrough.
func decodePage(body []byte) (ExportResponse, error) {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 {
		return ExportResponse{}, errors.New("empty body")
	}
	switch trimmed[0] {
	case '[':
		var data []json.RawMessage
		if err := json.Unmarshal(body, &data); err != nil {
			return ExportResponse{}, err
		}
		return ExportResponse{Data: data}, nil
	case '{':
	default:
		return ExportResponse{}, errors.New("not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return ExportResponse{}, err
	}
	data, ok := fields["data"]
	if !ok {
		return ExportResponse{}, errors.New(`no "data" field`)
	}
	var r ExportResponse
	if !isNull(data) {
		if err := json.Unmarshal(data, &r.Data); err != nil {
			return ExportResponse{}, fmt.Errorf("data: %w", err)
		}
	}
	if et, ok := fields["exportedThrough"]; ok && !isNull(et) {
		var s string
		if err := json.Unmarshal(et, &s); err != nil {
			return ExportResponse{}, fmt.Errorf("exportedThrough is not a string: %s", poll.SafeText(string(et)))
		}
		if s != "" {
			if _, err := parseStamp(s); err != nil {
				return ExportResponse{}, fmt.Errorf("exportedThrough: %w", err)
			}
			r.ExportedThrough = &s
		}
	}
	return r, nil
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }

// decodeError turns a non-2xx body into an *APIError: code (or error) and message (or
// error_description, detail), else the start of the body.
func decodeError(status int, body []byte, request string) *APIError {
	e := &APIError{Status: status, Request: request}
	var b ErrorBody
	if json.Unmarshal(body, &b) == nil {
		e.Code = poll.SafeText(firstOf(b.Code, b.Error))
		e.Message = poll.SafeText(firstOf(b.Message, b.ErrorDescription, b.Detail))
	}
	if e.Code == "" && e.Message == "" {
		e.Message = http.StatusText(status)
		if s := poll.SafeText(string(body)); s != "" {
			e.Message += ": " + s
		}
	}
	return e
}

func firstOf(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
