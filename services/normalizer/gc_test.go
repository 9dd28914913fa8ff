package main

import (
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/freeport"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/process"
)

// TestTheBinaryRunsTheCollectorAtItsDefaultUnlessGOGCSays starts the built normalizer, as an
// orchestrator would, and reads the collector's target from its /metrics: normalize.GCPercent
// without GOGC, GOGC's value with it.
func TestTheBinaryRunsTheCollectorAtItsDefaultUnlessGOGCSays(t *testing.T) {
	dir := t.TempDir()
	if err := process.Build(t.Context(), "", dir, "./services/normalizer"); err != nil {
		t.Fatal(err)
	}
	ns := natstest.Start(t)
	gogc := regexp.MustCompile(`(?m)^go_gc_gogc_percent (\d+)$`)
	for _, tt := range []struct {
		env  []string
		want int
	}{{nil, normalize.GCPercent}, {[]string{"GOGC=150"}, 150}} {
		port, err := freeport.Get()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		p := process.New(process.Config{Name: "normalizer", Bin: filepath.Join(dir, "normalizer"), Logf: t.Logf,
			LogPath: filepath.Join(dir, "normalizer.log"), Env: tt.env,
			Args: []string{"--http-addr=" + addr, "--nats-url=" + ns.URL}})
		if err := p.Start(); err != nil {
			t.Fatal(err)
		}
		if err := process.WaitReady(t.Context(), "http://"+addr+"/readyz"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.Get("http://" + addr + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Stop(10 * time.Second); err != nil {
			t.Fatal(err)
		}
		m := gogc.FindSubmatch(body)
		if m == nil {
			t.Fatalf("env %v: no go_gc_gogc_percent in /metrics:\n%s", tt.env, body)
		}
		if got := string(m[1]); got != fmt.Sprint(tt.want) {
			t.Errorf("env %v: go_gc_gogc_percent = %s, want %d", tt.env, got, tt.want)
		}
	}
}
