package mews

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// Limits of what is read from a response.
const (
	maxResponseBytes = 32 << 20 // an exports/add or exports/getAll answer
	maxErrorBody     = 64 << 10 // a non-2xx answer
	// defaultStall bounds a file download's silence when hc has no Timeout.
	defaultStall = 60 * time.Second
)

// timeLayout is how the client writes UpdatedUtc bounds: ISO 8601 UTC, whole seconds.
const timeLayout = "2006-01-02T15:04:05Z"

// Client calls the Mews Connector API export operations and downloads export files. It is safe
// for concurrent use.
type Client struct {
	cfg   Config
	hc    *http.Client // API calls, with hc's Timeout
	files *http.Client // downloads: no overall timeout, a stall timeout instead
	stall time.Duration
	base  string // BaseURL without a trailing slash
}

// NewClient returns a client for cfg (defaults applied, then validated: errors wrap
// config.ErrInvalid). hc carries timeouts; nil means a client with a 60s timeout. An export file
// can take far longer than one API call to stream, so downloads use hc without its Timeout and
// instead abort when no byte arrives for that long (60s when hc has none).
func NewClient(cfg Config, hc *http.Client) (*Client, error) {
	cfg.setDefaults()
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	files := *hc
	files.Timeout = 0
	stall := hc.Timeout
	if stall <= 0 {
		stall = defaultStall
	}
	return &Client{cfg: cfg, hc: hc, files: &files, stall: stall, base: strings.TrimRight(cfg.BaseURL, "/")}, nil
}

func (c *Client) credentials() Credentials {
	return Credentials{ClientToken: c.cfg.ClientToken.Reveal(), AccessToken: c.cfg.AccessToken.Reveal(), Client: c.cfg.Client}
}

// scope is the configured export scope, nil when neither enterprises nor chains are set.
func (c *Client) scope() *Scope {
	if len(c.cfg.EnterpriseIDs) == 0 && len(c.cfg.ChainIDs) == 0 {
		return nil
	}
	return &Scope{EnterpriseIDs: c.cfg.EnterpriseIDs, ChainIDs: c.cfg.ChainIDs}
}

// AddExport asks for a new export of entityType within the configured scope, filtered on
// UpdatedUtc in [start, end) (both zero: no filter). 408, 429, 5xx, transport failures and
// bodies that do not decode are retried with cfg.Backoff (Retry-After honoured). A refusal is
// an *APIError: it matches poll.ErrAuth for refused credentials, poll.ErrPermanent otherwise,
// including the refusal while an export of the same entity type is Pending or Processing.
func (c *Client) AddExport(ctx context.Context, entityType string, start, end time.Time) (Export, error) {
	req := AddExportRequest{Credentials: c.credentials(), EntityType: entityType}
	if sc := c.scope(); sc != nil {
		req.Scope = &ScopeParameters{EnterpriseIDs: sc.EnterpriseIDs, ChainIDs: sc.ChainIDs}
	}
	window := "all"
	if !start.IsZero() || !end.IsZero() {
		req.Filters = &Filters{UpdatedUtc: &Interval{StartUtc: formatUTC(start), EndUtc: formatUTC(end)}}
		window = req.Filters.UpdatedUtc.StartUtc + ".." + req.Filters.UpdatedUtc.EndUtc
	}
	var exp Export
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		body, err := c.post(ctx, pathAddExport, req)
		if err != nil {
			return err
		}
		if exp, err = decodeAddExport(body); err != nil {
			return &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
		}
		return nil
	})
	if err != nil {
		return Export{}, fmt.Errorf("mews: exports/add %s UpdatedUtc %s: %w", entityType, window, err)
	}
	return exp, nil
}

// Exports returns the exports with the given ids (an unknown id is simply absent); no ids asks
// for every export of the client. Retries and errors as AddExport.
func (c *Client) Exports(ctx context.Context, ids ...string) ([]Export, error) {
	req := GetExportsRequest{Credentials: c.credentials(), ExportIDs: ids}
	var exps []Export
	err := poll.Retry(ctx, c.cfg.Backoff, func(ctx context.Context) error {
		body, err := c.post(ctx, pathGetExports, req)
		if err != nil {
			return err
		}
		if exps, err = decodeGetExports(body); err != nil {
			return &poll.TemporaryError{Err: fmt.Errorf("malformed response body (%d bytes): %w", len(body), err)}
		}
		return nil
	})
	if err != nil {
		what := "every export"
		if len(ids) > 0 {
			what = "export " + strings.Join(ids, ", ")
		}
		return nil, fmt.Errorf("mews: exports/getAll %s: %w", what, err)
	}
	return exps, nil
}

// post sends one request and returns the 2xx body; other statuses become *APIError, classified
// for poll.Retry.
func (c *Client) post(ctx context.Context, path string, payload any) ([]byte, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return nil, fmt.Errorf("encode request: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(b))
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
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		apiErr := decodeError(resp.StatusCode, body)
		if resp.StatusCode == http.StatusRequestTimeout {
			return nil, &poll.TemporaryError{Err: apiErr}
		}
		return nil, poll.HTTPStatusError(resp, apiErr)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseBytes+1))
	if err != nil {
		return nil, poll.TransportError(ctx, fmt.Errorf("read response body: %w", err))
	}
	if len(body) > maxResponseBytes {
		return nil, fmt.Errorf("response body larger than %d bytes: %w", maxResponseBytes, poll.ErrPermanent)
	}
	return body, nil
}

// decodeAddExport decodes an exports/add answer: an object holding a well-formed Export.
func decodeAddExport(body []byte) (Export, error) {
	if err := jsonObject(body); err != nil {
		return Export{}, err
	}
	var r struct {
		Export *Export `json:"Export"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		return Export{}, err
	}
	if r.Export == nil {
		return Export{}, errors.New("no Export in the response")
	}
	if err := checkExport(*r.Export); err != nil {
		return Export{}, err
	}
	return *r.Export, nil
}

// decodeGetExports decodes an exports/getAll answer: an object whose Exports (null: none) are
// well formed.
func decodeGetExports(body []byte) ([]Export, error) {
	if err := jsonObject(body); err != nil {
		return nil, err
	}
	var r GetExportsResponse
	if err := json.Unmarshal(body, &r); err != nil {
		return nil, err
	}
	for i, e := range r.Exports {
		if err := checkExport(e); err != nil {
			return nil, fmt.Errorf("Exports[%d]: %w", i, err)
		}
	}
	return r.Exports, nil
}

func jsonObject(body []byte) error {
	trimmed := bytes.TrimLeft(body, " \t\r\n")
	if len(trimmed) == 0 || trimmed[0] != '{' {
		return errors.New("not a JSON object")
	}
	return nil
}

// checkExport rejects an export the source could not act on: no id or status, or a file
// without URL or with a negative size.
func checkExport(e Export) error {
	if e.ID == "" {
		return errors.New("export without Id")
	}
	if e.Status == "" {
		return fmt.Errorf("export %s without Status", poll.SafeText(e.ID))
	}
	for i, f := range e.Files {
		if f.URL == "" || f.SizeInBytes < 0 {
			return fmt.Errorf("export %s: Files[%d] has no Url or a negative SizeInBytes", poll.SafeText(e.ID), i)
		}
	}
	return nil
}

// decodeError turns a non-2xx body into an *APIError: Mews's {Message, RequestId}, else the
// start of the body.
func decodeError(status int, body []byte) *APIError {
	var eb ErrorBody
	if json.Unmarshal(body, &eb) == nil && (eb.Message != "" || eb.RequestID != "") {
		return &APIError{Status: status, Message: poll.SafeText(eb.Message), RequestID: poll.SafeText(eb.RequestID)}
	}
	msg := http.StatusText(status)
	if b := poll.SafeText(string(body)); b != "" {
		msg += ": " + b
	}
	return &APIError{Status: status, Message: msg}
}

// OpenFile starts downloading an export file at byte offset (0: from the start). A resumed
// download asks for Range bytes=offset-; a server that ignores Range has the first offset bytes
// skipped while streaming, never buffered. The body is requested without content encoding, so
// offsets are file bytes. A non-2xx answer is a *FileError (retryable statuses wrapped as
// poll's retryable errors); errors never show the URL's query, which holds its signature. The
// caller reads the body as a stream and closes it.
func (c *Client) OpenFile(ctx context.Context, fileURL string, offset int64) (io.ReadCloser, error) {
	shown := redactFileURL(fileURL)
	dctx, cancel := context.WithCancel(ctx)
	body := &stallReader{d: c.stall, cancel: cancel}
	// Until the headers arrive, the stall timer bounds the wait for them.
	body.timer = time.AfterFunc(c.stall, body.fire)
	fail := func(err error) (io.ReadCloser, error) {
		body.timer.Stop()
		cancel()
		return nil, err
	}
	req, err := http.NewRequestWithContext(dctx, http.MethodGet, fileURL, nil)
	if err != nil {
		return fail(fmt.Errorf("download %s: bad URL: %w", shown, poll.ErrPermanent))
	}
	if err := c.fileURLAllowed(req.URL); err != nil {
		return fail(fmt.Errorf("download %s: %w", shown, err))
	}
	req.Header.Set("Accept-Encoding", "identity")
	if offset > 0 {
		req.Header.Set("Range", "bytes="+strconv.FormatInt(offset, 10)+"-")
	}
	resp, err := c.files.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // url.Error repeats the URL, signature included
		}
		if body.stalled.Load() && ctx.Err() == nil {
			return fail(&poll.TemporaryError{Err: fmt.Errorf("download %s: no response within %s", shown, c.stall)})
		}
		return fail(poll.TransportError(ctx, fmt.Errorf("download %s: %w", shown, err)))
	}
	body.timer.Stop()
	body.rc = resp.Body
	switch {
	case resp.StatusCode == http.StatusPartialContent && offset > 0:
		if start, ok := contentRangeStart(resp.Header.Get("Content-Range")); !ok || start != offset {
			body.Close()
			return fail(&poll.TemporaryError{Err: fmt.Errorf("download %s: asked for bytes from %d, got Content-Range %q",
				shown, offset, poll.SafeText(resp.Header.Get("Content-Range")))})
		}
	case resp.StatusCode == http.StatusRequestedRangeNotSatisfiable && offset > 0:
		// Nothing after offset: the file ends exactly where the checkpoint is.
		body.Close()
		return io.NopCloser(bytes.NewReader(nil)), nil
	case resp.StatusCode >= 200 && resp.StatusCode <= 299:
		if offset > 0 {
			if n, err := io.CopyN(io.Discard, body, offset); err != nil {
				body.Close()
				return fail(&poll.TemporaryError{Err: fmt.Errorf("download %s: skip to byte %d (server ignored Range): got %d bytes: %w",
					shown, offset, n, errOr(err, io.ErrUnexpectedEOF))})
			}
		}
	default:
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		body.Close()
		fe := &FileError{Status: resp.StatusCode, URL: shown, Message: poll.SafeText(string(msg))}
		if fe.Status == http.StatusRequestTimeout {
			return fail(&poll.TemporaryError{Err: fe})
		}
		return fail(poll.HTTPStatusError(resp, fe))
	}
	return body, nil
}

func errOr(err, fallback error) error {
	if errors.Is(err, io.EOF) {
		return fallback
	}
	return err
}

// contentRangeStart reads the first byte position of "bytes 100-199/200".
func contentRangeStart(v string) (int64, bool) {
	rest, ok := strings.CutPrefix(v, "bytes ")
	if !ok {
		return 0, false
	}
	first, _, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(first, 10, 64)
	return n, err == nil
}

// stallReader is a download body whose Read gives up when no byte arrives for d: the timer runs
// only while a Read waits on the network, so a slow consumer (a publish waiting on NATS) never
// counts as a stall.
type stallReader struct {
	rc      io.ReadCloser
	d       time.Duration
	timer   *time.Timer
	cancel  context.CancelFunc
	stalled atomic.Bool
}

func (r *stallReader) fire() {
	r.stalled.Store(true)
	r.cancel()
}

func (r *stallReader) Read(p []byte) (int, error) {
	r.timer.Reset(r.d)
	n, err := r.rc.Read(p)
	r.timer.Stop()
	if err != nil && !errors.Is(err, io.EOF) && r.stalled.Load() {
		err = &poll.TemporaryError{Err: fmt.Errorf("no data for %s: %w", r.d, err)}
	}
	return n, err
}

func (r *stallReader) Close() error {
	r.timer.Stop()
	r.cancel()
	return r.rc.Close()
}

// fileURLAllowed refuses an export file URL that is not https, unless it is http on a host of
// HTTPFileHosts: the URL comes from the provider's answer, and a plain-http (or file:, ftp:) URL
// would send the download, signature included, where anyone on the way can read or alter it.
func (c *Client) fileURLAllowed(u *url.URL) error {
	switch {
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && slices.ContainsFunc(c.cfg.HTTPFileHosts, func(h string) bool {
		return strings.EqualFold(h, u.Host) || strings.EqualFold(h, u.Hostname())
	}):
		return nil
	}
	return fmt.Errorf("refused: export file URLs must be https (plain http only for a host of --%s/MEWS_HTTP_FILE_HOSTS), got %s://%s: %w",
		settingHTTPFileHosts, poll.SafeText(u.Scheme), poll.SafeText(u.Host), poll.ErrPermanent)
}

// redactFileURL drops the query (the signature) and userinfo of a file URL for errors.
func redactFileURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable URL)"
	}
	u.RawQuery, u.ForceQuery, u.Fragment, u.User = "", false, "", nil
	return u.String()
}

func formatUTC(t time.Time) string { return t.UTC().Truncate(time.Second).Format(timeLayout) }
