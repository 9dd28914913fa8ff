package poll_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/poll"
)

// A poller asks for every scope's next page at once, all on the provider's one host: each
// scope's connection must be kept between its pages, not closed as one too many idle (the
// default transport keeps two per host) and dialled again.
func TestNewHTTPClientKeepsAConnectionPerScope(t *testing.T) {
	var (
		mu    sync.Mutex
		dials int
	)
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		io.WriteString(w, `{"data":[]}`)
	}))
	srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			mu.Lock()
			dials++
			mu.Unlock()
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	hc := poll.NewHTTPClient(10*time.Second, "test", nil, nil)
	const scopes, pages = 8, 20
	for range pages {
		var wg sync.WaitGroup
		for range scopes {
			wg.Go(func() {
				req, err := http.NewRequestWithContext(context.WithoutCancel(t.Context()), http.MethodGet, srv.URL, nil)
				if err != nil {
					t.Error(err)
					return
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			})
		}
		wg.Wait()
	}
	// One per scope, and a few more when a page is asked for just before the connection of
	// the previous one is back in the pool (the transport returns it asynchronously).
	mu.Lock()
	defer mu.Unlock()
	if dials > 2*scopes {
		t.Errorf("%d connections for %d pages of %d scopes polled at once, want about one per scope", dials, pages*scopes, scopes)
	}
}
