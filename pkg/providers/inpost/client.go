package inpost

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

	"github.com/chargeline/chargeline/pkg/poll"
)

// Endpoints below the base URL.
const (
	mpksPath = "/v1/organizations/%s/mpks" // %s: the organization id
	mpkPath  = "/v1/mpks/%d"               // %d: the MPK id
)

// userAgent is sent as X-User-Agent, which ShipX documents for naming the client platform.
const userAgent = "chargeline"

// maxErrorBody bounds what is read of a non-2xx response.
const maxErrorBody = 64 << 10

// Client calls the ShipX MPK endpoints. It is safe for concurrent use.
type Client struct {
	cfg   Config
	hc    *http.Client
	base  string // BaseURL without a trailing slash
	token string // the bearer token without a "Bearer " prefix
}

// NewClient returns a client for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid). hc carries timeouts; nil means a client with a 60s timeout.
func NewClient(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	return &Client{cfg: cfg, hc: hc, base: strings.TrimRight(cfg.BaseURL, "/"), token: bearerToken(cfg.AccessToken)}, nil
}

// ListQuery selects one page of an organization's MPKs.
type ListQuery struct {
	Page      int    // 1-based; 0 means 1
	PerPage   int    // 0 means the configured PageSize
	SortBy    string // an MPK attribute (SortByUpdatedAt …); "" leaves the API's default order
	SortOrder string // SortAsc or SortDesc; "" leaves the API's default
}

// Page is one page of an organization's MPKs.
type Page struct {
	// Items holds each MPK's JSON exactly as the API sent it.
	Items []json.RawMessage
	// Number is the page asked for (1-based).
	Number int
	// Served is the response's page, the page the API says it served; -1 when it does not say.
	Served int
	// PerPage is the page size in force: the response's per_page, or the one asked for when the
	// response does not say.
	PerPage int
	// Count is the response's count, -1 when it does not say. The seed's example cannot tell
	// whether it counts the whole list or this page's items (3 of 3 on one page): More reads it
	// as the list's total only when it exceeds the page's items, which a page count cannot.
	Count int
}

// More reports whether a page after this one may hold MPKs: this page is full and, when its
// count can only be the list's total (larger than the page's items), the pages so far do not
// cover it. A full page whose count equals its items is either reading (the page's items, or a
// total of exactly this many), so the next page is asked for: an empty or short one ends the
// list at the cost of one request, where trusting the total reading would stop after one page
// of an API whose count is the page's.
func (p Page) More() bool {
	if len(p.Items) == 0 || len(p.Items) < p.PerPage {
		return false
	}
	if p.Count > len(p.Items) && p.Number*p.PerPage >= p.Count {
		return false
	}
	return true
}

// MPKs fetches one page of GET /v1/organizations/:organization_id/mpks. 408, 429, 5xx,
// transport failures and bodies that do not decode are retried with cfg.Backoff (Retry-After
// honoured); the error returned names the organization and the page. Errors match poll.ErrAuth
// when the token was refused and poll.ErrPermanent when the request cannot succeed (see
// APIError); neither is retried. An unknown organization (resource_not_found) is a
// configuration error: it matches poll.ErrPermanent and ErrResourceNotFound and names
// INPOST_ORGANIZATIONS. A cancelled ctx ends the call with ctx's error.
func (c *Client) MPKs(ctx context.Context, org string, q ListQuery) (Page, error) {
	if q.Page <= 0 {
		q.Page = 1
	}
	if q.PerPage <= 0 {
		q.PerPage = c.cfg.PageSize
	}
	query := url.Values{}
	query.Set("page", strconv.Itoa(q.Page))
	query.Set("per_page", strconv.Itoa(q.PerPage))
	if q.SortBy != "" {
		query.Set("sort_by", q.SortBy)
	}
	if q.SortOrder != "" {
		query.Set("sort_order", q.SortOrder)
	}
	u := c.base + fmt.Sprintf(mpksPath, url.PathEscape(org)) + "?" + query.Encode()

	var page Page
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		body, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		coll, err := decodeCollection(body)
		if errors.Is(err, poll.ErrPermanent) {
			return err // well-formed JSON in a shape no retry changes
		}
		if err != nil {
			// Most likely truncated in transit: worth a few more attempts.
			return &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
		}
		page = Page{Items: coll.Items, Number: q.Page, Served: -1, PerPage: q.PerPage, Count: -1}
		if coll.PerPage != nil && *coll.PerPage > 0 {
			page.PerPage = *coll.PerPage
		}
		if coll.Count != nil && *coll.Count >= 0 {
			page.Count = *coll.Count
		}
		if coll.Page != nil {
			page.Served = *coll.Page
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, ErrResourceNotFound) {
			return Page{}, fmt.Errorf("inpost: organization %q from --%s/INPOST_ORGANIZATIONS does not exist (or the token cannot see it): %w",
				org, settingOrganizations, err)
		}
		return Page{}, fmt.Errorf("inpost: organization %q: mpks page %d: %w", org, q.Page, err)
	}
	return page, nil
}

// MPK fetches one cost centre with GET /v1/mpks/:id and returns its JSON exactly as sent:
// what refreshes a single MPK. Retries and errors are those of MPKs; an unknown id matches
// ErrResourceNotFound and poll.ErrPermanent.
func (c *Client) MPK(ctx context.Context, id int64) (json.RawMessage, error) {
	u := c.base + fmt.Sprintf(mpkPath, id)
	var item json.RawMessage
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		body, err := c.get(ctx, u)
		if err != nil {
			return err
		}
		if err := decodeObject(body); err != nil {
			return &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
		}
		item = json.RawMessage(bytes.TrimSpace(body))
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("inpost: mpk %d: %w", id, err)
	}
	return item, nil
}

// get performs one GET and returns the 2xx body, or an error classified for poll.Retry.
func (c *Client) get(ctx context.Context, u string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("X-User-Agent", userAgent)

	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, poll.TransportError(ctx, err)
	}
	defer resp.Body.Close()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		apiErr := decodeError(resp.StatusCode, body)
		if resp.StatusCode == http.StatusRequestTimeout {
			return nil, &poll.TemporaryError{Err: apiErr}
		}
		return nil, poll.HTTPStatusError(resp, apiErr)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, c.cfg.MaxPageBytes+1))
	if err != nil {
		return nil, poll.TransportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	if int64(len(body)) > c.cfg.MaxPageBytes {
		return nil, fmt.Errorf("response body larger than %d bytes (--%s/INPOST_MAX_PAGE_BYTES); lower --%s/INPOST_PAGE_SIZE: %w",
			c.cfg.MaxPageBytes, settingMaxPageBytes, settingPageSize, poll.ErrPermanent)
	}
	return body, nil
}

// decodeObject checks that body is one JSON object and nothing else.
func decodeObject(body []byte) error {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	if !json.Valid(trimmed) {
		return errors.New("invalid JSON")
	}
	return nil
}

// decodeCollection decodes a 2xx list body. It must be a JSON object; items may be missing or
// null (no MPKs) but otherwise must be an array of objects, each kept as raw bytes. count, page
// and per_page are integers, or strings holding one ("3"), or absent. A body that is not valid
// JSON returns a plain error (truncated: the caller retries it). Valid JSON in another shape —
// items not an array of objects, a count that is no integer, or no items while another key
// holds a non-empty array (the MPKs are most likely there, and "none" would lose them
// silently) — returns an error wrapping poll.ErrPermanent that says what was seen.
func decodeCollection(body []byte) (Collection, error) {
	if err := decodeObject(body); err != nil {
		return Collection{}, err
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return Collection{}, err
	}
	var coll Collection
	_ = json.Unmarshal(fields["href"], &coll.Href)
	for _, f := range []struct {
		key string
		dst **int
	}{{"count", &coll.Count}, {"page", &coll.Page}, {"per_page", &coll.PerPage}} {
		raw, ok := fields[f.key]
		if !ok || string(bytes.TrimSpace(raw)) == "null" {
			continue
		}
		n, ok := parseCount(raw)
		if !ok {
			return Collection{}, shapeErr("%s %s is not an integer", f.key, poll.SafeText(string(raw)))
		}
		*f.dst = &n
	}
	if raw, ok := fields["items"]; ok && string(bytes.TrimSpace(raw)) != "null" {
		if err := json.Unmarshal(raw, &coll.Items); err != nil {
			return Collection{}, shapeErr("items is not an array")
		}
	} else {
		for _, k := range slices.Sorted(maps.Keys(fields)) {
			var arr []json.RawMessage
			if json.Unmarshal(fields[k], &arr) == nil && len(arr) > 0 {
				return Collection{}, shapeErr("no items, but %q holds an array of %d: the MPKs are not where the seed puts them", poll.SafeText(k), len(arr))
			}
		}
	}
	for i, item := range coll.Items {
		if t := bytes.TrimSpace(item); len(t) == 0 || t[0] != '{' {
			return Collection{}, shapeErr("items[%d] is not a JSON object", i)
		}
	}
	return coll, nil
}

// parseCount reads an integer written as a JSON number (3) or a string holding one ("3").
func parseCount(raw json.RawMessage) (int, bool) {
	s := string(bytes.TrimSpace(raw))
	if unq, err := strconv.Unquote(s); err == nil && strings.HasPrefix(s, `"`) {
		s = strings.TrimSpace(unq)
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && !strings.HasPrefix(s, "+")
}

// shapeErr is a well-formed body in a shape the client cannot read: permanent, since asking
// again gets the same answer.
func shapeErr(format string, a ...any) error {
	return fmt.Errorf("unexpected list body: %s: %w", fmt.Sprintf(format, a...), poll.ErrPermanent)
}

// decodeError turns a non-2xx body into an *APIError: ShipX's {status, error, message,
// details}, else the status text and the start of the body.
func decodeError(status int, body []byte) *APIError {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Error != "" || eb.Message != "") {
		return &APIError{Status: status, Code: poll.SafeText(eb.Error), Message: poll.SafeText(eb.Message)}
	}
	msg := http.StatusText(status)
	if b := poll.SafeText(string(body)); b != "" {
		if msg != "" {
			msg += ": "
		}
		msg += b
	}
	return &APIError{Status: status, Message: msg}
}
