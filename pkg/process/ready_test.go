package process_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/process"
)

// TestWaitReadyWaitsFor200: a service answering 503 while it starts is polled until it
// answers 200.
func TestWaitReadyWaitsFor200(t *testing.T) {
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := process.WaitReady(t.Context(), srv.URL+"/readyz"); err != nil {
		t.Fatal(err)
	}
	if n := calls.Load(); n != 4 {
		t.Errorf("%d requests, want 4: three 503s, then the 200", n)
	}
}

// TestWaitReadyGivesUpWithTheLastStatus: when ctx ends first, the error names the last
// answer and wraps ctx's error.
func TestWaitReadyGivesUpWithTheLastStatus(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer srv.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	err := process.WaitReady(ctx, srv.URL+"/readyz")
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "503 Service Unavailable") {
		t.Fatalf("WaitReady = %v, want the 503 and context.DeadlineExceeded", err)
	}
}
