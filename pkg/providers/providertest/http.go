package providertest

import (
	"encoding/json"
	"fmt"
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

// Counter is an http.Handler that counts the requests reaching H, then passes them on: how a
// test sees that a client retried, or gave up without looping. It is safe for concurrent use.
type Counter struct {
	H  http.Handler
	mu sync.Mutex
	n  int
}

func (c *Counter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	c.n++
	c.mu.Unlock()
	c.H.ServeHTTP(w, r)
}

// Count returns the number of requests served so far.
func (c *Counter) Count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.n
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
