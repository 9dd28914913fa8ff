package process

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"
)

// WaitReady polls url with GET until it answers 200 OK or ctx ends; then the error says what
// the last attempt got (a status or a connection error) and wraps ctx's error. A service's
// /readyz is the usual url, but any endpoint that answers once the process can work will do.
func WaitReady(ctx context.Context, url string) error {
	var last error
	for {
		if last = get(ctx, url); last == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("process: %s not ready (last: %v): %w", url, last, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func get(ctx context.Context, url string) error {
	// One attempt must not use up the whole wait: a server that accepts and never answers
	// would otherwise hide the status of the attempts after it.
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<16)) // lets the connection be reused
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
