// Command probe is the container healthcheck of the chargeline images: it GETs one URL and
// exits 0 on a 2xx answer, 1 otherwise. The images are distroless (no shell, no wget), so
// compose's healthcheck runs this instead:
//
//	healthcheck: {test: ["CMD", "/usr/local/bin/probe", "http://127.0.0.1:8080/readyz"]}
package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: probe URL")
		os.Exit(2)
	}
	// Shorter than any healthcheck timeout, so a hung service reads as unhealthy, not as a
	// probe killed by the engine.
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	err := probe(ctx, os.Args[1])
	cancel()
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func probe(ctx context.Context, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("request %s: %w", url, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("get %s: %w", url, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("get %s: %s %s", url, resp.Status, body)
	}
	return nil
}
