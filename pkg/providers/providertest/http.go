package providertest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Serve starts an httptest server for h and closes it when t's test ends.
func Serve(t testing.TB, h http.Handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

// Counter is an http.Handler that counts the requests reaching it, then passes them on to H:
// how a test sees that a client retried, or gave up without looping. With Fail set it answers
// the first N requests with Fail instead (FailFirst): a server that fails, then recovers. It is
// safe for concurrent use.
type Counter struct {
	H    http.Handler
	Fail http.Handler
	N    int
	mu   sync.Mutex
	n    int
}

// FailFirst returns a Counter that answers the first n requests with fail and passes the rest
// to next (usually the provider's simulator), so a retry test states the failures it means
// (Respond, or a simulator with faults) and CheckRetried sees how many requests it took. The
// client tests of every provider need this same server.
func FailFirst(n int, fail, next http.Handler) *Counter {
	return &Counter{H: next, Fail: fail, N: n}
}

func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	h := c.H
	if c.Fail != nil && c.n <= c.N {
		h = c.Fail
	}
	c.mu.Unlock()
	h.ServeHTTP(w, r)
}

// Count returns the number of requests served so far.
func (c *Counter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
}

// Reset sets the count back to zero, which also re-arms FailFirst's failures: one server for
// several calls of a test, each of which must get through the same failures.
func (c *Counter) Reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n = 0
}

// Respond returns a handler that answers every request with status, a Retry-After header of
// retryAfter unless it is empty, and body: the refusal (a 429, a 5xx) a retry test puts in
// front of a simulator with FailFirst.
func Respond(status int, retryAfter, body string) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		io.WriteString(w, body)
	})
}

// CheckRetried runs call, a client request against FailFirst servers hs, inside a synctest
// bubble. It fails t unless call succeeds, each of hs served exactly its failures and then one
// request more (the client retried every failure and stopped at the success), and at least wait
// passed meanwhile: in the bubble only the client's sleeps move the clock, so that is how a test
// sees the client honour a Retry-After of wait.
func CheckRetried(t testing.TB, wait time.Duration, call func() error, hs ...*Counter) {
	t.Helper()
	begin := time.Now()
	if err := call(); err != nil {
		t.Fatal(err)
	}
	for i, h := range hs {
		if got := h.Count(); got != h.N+1 {
			t.Errorf("server %d of %d: %d requests, want %d (%d failed, then one succeeded)", i+1, len(hs), got, h.N+1, h.N)
		}
	}
	if waited := time.Since(begin); waited < wait {
		t.Errorf("retried after %s, before the server's Retry-After of %s", waited, wait)
	}
}

// Clock is a settable test clock that a simulator and a source can share (pass its Now), so a
// test moves "today" for both at once. It is safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock returns a Clock reading t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

// Add moves the clock on by d.
func (c *Clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// Fixed returns a clock that always reads t.
func Fixed(t time.Time) func() time.Time { return func() time.Time { return t } }

// DecodeJSON decodes b into a generic value (maps, slices, float64s), failing t if b is not
// JSON.
func DecodeJSON(t testing.TB, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// Shape describes a decoded JSON value's keys and value kinds, recursively (an array by its
// first element): two documents of the same shape hold the same fields whatever their values,
// which is how a simulator's or client's bodies are held to the seed's examples.
func Shape(v any) any {
	switch v := v.(type) {
	case map[string]any:
		m := map[string]any{}
		for k, x := range v {
			m[k] = Shape(x)
		}
		return m
	case []any:
		if len(v) == 0 {
			return "array"
		}
		return []any{Shape(v[0])}
	case nil:
		return "null"
	default:
		return fmt.Sprintf("%T", v)
	}
}
