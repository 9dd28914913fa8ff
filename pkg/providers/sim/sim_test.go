package sim_test

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// serve runs h behind an Injector for f on a real server: truncation needs a real connection.
func serve(t *testing.T, f sim.Faults) *httptest.Server {
	t.Helper()
	body := strings.Repeat("0123456789", 100)
	h := sim.NewInjector(f).Wrap(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, body)
	}), func(w http.ResponseWriter, status int) { w.WriteHeader(status) })
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv
}

func TestInjectorStormsOf429(t *testing.T) {
	srv := serve(t, sim.Faults{TooManyRequestsEvery: 5, TooManyRequestsBurst: 2})
	var got []int
	for range 10 {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusTooManyRequests && resp.Header.Get("Retry-After") == "" {
			t.Error("429 without Retry-After")
		}
		got = append(got, resp.StatusCode)
	}
	want := []int{200, 200, 200, 200, 429, 429, 429, 200, 200, 429}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("statuses %v, want %v: every fifth request starts a storm of 1+2 refusals", got, want)
		}
	}
}

func TestInjectorTruncatesBodies(t *testing.T) {
	srv := serve(t, sim.Faults{TruncateEvery: 2})
	for i := 1; i <= 4; i++ {
		resp, err := srv.Client().Get(srv.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if i%2 == 1 {
			if err != nil || len(b) != 1000 {
				t.Errorf("request %d: %d bytes, %v; want the whole body", i, len(b), err)
			}
			continue
		}
		if !errors.Is(err, io.ErrUnexpectedEOF) || len(b) != 500 || resp.ContentLength != 1000 {
			t.Errorf("request %d: %d of %d bytes, %v; want half the body and io.ErrUnexpectedEOF", i, len(b), resp.ContentLength, err)
		}
	}
}
