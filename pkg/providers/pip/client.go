package pip

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
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
		page, err = c.invoicingOnce(ctx, u, completedAfter)
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

func (c *Client) invoicingOnce(ctx context.Context, u, completedAfter string) (Page, error) {
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
	r, err := decodePage(body, c.cfg.RecordsField, completedAfter)
	if errors.Is(err, poll.ErrPermanent) {
		// Valid JSON of a shape this client cannot read: a retry gets the same.
		return Page{}, fmt.Errorf("response of %s: %w", request, err)
	}
	if err != nil {
		// Most likely truncated in transit: worth a few more attempts.
		return Page{}, &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes) for %s: %w", len(body), request, err)}
	}
	p := Page{Sessions: r.Sessions, Request: request}
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

// fieldExportedThrough is the one field of the response body the seed names.
const fieldExportedThrough = "exportedThrough"

// decodePage decodes a 2xx body. A bare JSON array is the sessions without exportedThrough.
// An object carries exportedThrough (a date-time, null or absent) and the sessions in the list
// findRecords picks, each kept as the exact bytes the API sent. completedAfter is the value
// the request sent ("" = from the beginning). An error wrapping poll.ErrPermanent means valid
// JSON whose record list cannot be told (retrying gets the same body); any other error means a
// malformed body.
func decodePage(body []byte, recordsField, completedAfter string) (ExportResponse, error) {
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
		return ExportResponse{Sessions: data}, nil
	case '{':
	default:
		return ExportResponse{}, errors.New("not a JSON object")
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return ExportResponse{}, err
	}
	var r ExportResponse
	if et, ok := fields[fieldExportedThrough]; ok && !isNull(et) {
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
	var err error
	r.RecordsKey, r.Sessions, err = findRecords(fields, recordsField, claimsProgress(r.ExportedThrough, completedAfter))
	if err != nil {
		return ExportResponse{}, err
	}
	return r, nil
}

// claimsProgress reports whether a response's exportedThrough says that sessions completed
// after completedAfter were exported: it is later than completedAfter (any value, from the
// beginning). Only then can a response without a record list be an error: a server that
// repeats completedAfter or sends no exportedThrough has nothing to deliver.
func claimsProgress(exportedThrough *string, completedAfter string) bool {
	if exportedThrough == nil {
		return false
	}
	if completedAfter == "" {
		return true
	}
	through, err1 := parseStamp(*exportedThrough)
	after, err2 := parseStamp(completedAfter)
	return err1 != nil || err2 != nil || through.after(after)
}

// findRecords returns the key and the items of the body's record list. The seed never names
// it, so with recordsField set (PIP_RECORDS_FIELD) it is that field, else the one array that
// holds objects, whatever its key. A body without a list is an empty page as long as it does
// not claim progress (see claimsProgress): one empty array is the list, empty; several empty
// arrays, none at all, or a field left out are empty too when nothing was exported, and an
// error otherwise. Several arrays holding objects, or a list that cannot be found in a body
// that claims progress, are errors wrapping poll.ErrPermanent that name the keys seen.
func findRecords(fields map[string]json.RawMessage, recordsField string, progress bool) (string, []json.RawMessage, error) {
	if recordsField != "" {
		v, ok := fields[recordsField]
		switch {
		case !ok && !progress:
			return "", nil, nil // a server that leaves out an empty list
		case !ok:
			return "", nil, fmt.Errorf("no field %q (--%s/PIP_RECORDS_FIELD), though exportedThrough says sessions were exported; keys: %s: %w",
				poll.SafeText(recordsField), settingRecordsField, describeKeys(fields), poll.ErrPermanent)
		case isNull(v):
			return recordsField, nil, nil
		}
		var items []json.RawMessage
		if err := json.Unmarshal(v, &items); err != nil {
			return "", nil, fmt.Errorf("field %q (--%s/PIP_RECORDS_FIELD) is not an array; keys: %s: %w",
				poll.SafeText(recordsField), settingRecordsField, describeKeys(fields), poll.ErrPermanent)
		}
		return recordsField, items, nil
	}
	var (
		withObjects, empty []string
		key                string
		items              []json.RawMessage
	)
	for k, v := range fields {
		if k == fieldExportedThrough || len(v) == 0 || v[0] != '[' {
			continue // json.Unmarshal leaves no space before a RawMessage
		}
		var list []json.RawMessage
		if json.Unmarshal(v, &list) != nil {
			continue // cannot happen: the body was valid JSON
		}
		switch {
		case len(list) == 0:
			empty = append(empty, k)
		case slices.ContainsFunc(list, isObject):
			withObjects = append(withObjects, k)
			key, items = k, list
		}
	}
	switch {
	case len(withObjects) == 1:
		return key, items, nil
	case len(withObjects) > 1:
		return "", nil, fmt.Errorf("several arrays of objects (%s): cannot tell which one holds the sessions; set --%s/PIP_RECORDS_FIELD to its key: %w",
			quoteKeys(withObjects), settingRecordsField, poll.ErrPermanent)
	case len(empty) == 1:
		return empty[0], nil, nil
	case !progress:
		return "", nil, nil
	}
	return "", nil, fmt.Errorf("no array of objects to read the sessions from, though exportedThrough says sessions were exported; keys: %s; set --%s/PIP_RECORDS_FIELD if they are elsewhere: %w",
		describeKeys(fields), settingRecordsField, poll.ErrPermanent)
}

// isObject reports whether a list item is a JSON object (json.Unmarshal leaves no space
// before a RawMessage).
func isObject(item json.RawMessage) bool { return len(item) > 0 && item[0] == '{' }

// describeKeys lists a body's keys with the kind of each value, sorted, for an error message:
// "exportedThrough" (string), "items" (array of 2)….
func describeKeys(fields map[string]json.RawMessage) string {
	keys := slices.Sorted(maps.Keys(fields))
	if len(keys) == 0 {
		return "none"
	}
	const most = 20
	parts := make([]string, 0, min(len(keys), most)+1)
	for i, k := range keys {
		if i == most {
			parts = append(parts, fmt.Sprintf("… %d more", len(keys)-most))
			break
		}
		parts = append(parts, strconv.Quote(poll.SafeText(k))+" ("+kindOf(fields[k])+")")
	}
	return strings.Join(parts, ", ")
}

func quoteKeys(keys []string) string {
	slices.Sort(keys)
	q := make([]string, len(keys))
	for i, k := range keys {
		q[i] = strconv.Quote(poll.SafeText(k))
	}
	return strings.Join(q, ", ")
}

// kindOf names the JSON kind of v: object, string, null…, an array with its length.
func kindOf(v json.RawMessage) string {
	if len(v) == 0 {
		return "empty"
	}
	switch v[0] {
	case '{':
		return "object"
	case '[':
		var list []json.RawMessage
		_ = json.Unmarshal(v, &list)
		return fmt.Sprintf("array of %d", len(list))
	case '"':
		return "string"
	case 'n':
		return "null"
	case 't', 'f':
		return "boolean"
	}
	return "number"
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
