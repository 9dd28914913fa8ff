package chaos_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/freeport"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/chargeline/chargeline/pkg/chaos"
	"github.com/chargeline/chargeline/pkg/process"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
	"github.com/chargeline/chargeline/pkg/sink/clickhousetest"
)

var (
	buildOnce sync.Once
	binDir    string
	buildErr  error
)

// binaries builds the service binaries once for the package's tests.
func binaries(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		binDir, buildErr = os.MkdirTemp("", "chargeline-chaos-bin-")
		if buildErr == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			buildErr = process.Build(ctx, "", binDir, chaos.Packages()...)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binDir
}

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// secret makes a recognisable secret value (letters, digits and dashes only, so no encoding
// can disguise it in the output).
func secret(name string) string { return "S3CRET-" + name + "-q7Zx" }

// TestServicesNeverPrintSecrets runs every service binary with known secret values — NATS
// passwords and tokens (also in the URL and from a _FILE), ClickHouse passwords (also in the
// DSN), every provider credential (also in base URLs) — in setups where they are refused or
// used, at debug level, and asserts that no secret appears in the process's output (logs and
// errors) nor on its /metrics page.
func TestServicesNeverPrintSecrets(t *testing.T) {
	bin := binaries(t)
	natsPass := secret("nats-password")
	ns, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: -1, JetStream: true, StoreDir: t.TempDir(),
		Username: "svc", Password: natsPass, NoSigs: true, NoLog: true})
	if err != nil {
		t.Fatal(err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(30 * time.Second) {
		t.Fatal("nats-server not ready")
	}
	t.Cleanup(func() { ns.Shutdown(); ns.WaitForShutdown() })
	natsAddr := strings.TrimPrefix(ns.ClientURL(), "nats://")
	ch := clickhousetest.Start(t)

	simSrv, err := simserver.New(simserver.Config{Options: sim.Options{Seed: 1, Records: 20}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(simSrv.Handler())
	t.Cleanup(hs.Close)
	simAddr := strings.TrimPrefix(hs.URL, "http://")

	natsOK := []string{"NATS_URL=nats://" + natsAddr, "NATS_USER=svc", "NATS_PASSWORD=" + natsPass}
	passFile := filepath.Join(t.TempDir(), "nats-password")
	if err := os.WriteFile(passFile, []byte(natsPass+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	chPass, dsnPass := secret("clickhouse-password"), secret("dsn-password")
	chEnv := []string{"CLICKHOUSE_DSN=clickhouse://default:" + dsnPass + "@" + ch.Addr() + "/chargeline", "CLICKHOUSE_PASSWORD=" + chPass}

	type run struct {
		name    string
		bin     string
		args    []string
		env     []string
		secrets []string
		// expect is a text the output must hold, so the run is known to have reached the path
		// that handles the secret.
		expect string
		// exits: the process ends by itself (a refusal at start); otherwise it is stopped with
		// SIGTERM after its /metrics page was read.
		exits bool
	}
	runs := []run{
		{name: "normalizer wrong NATS password", bin: "normalizer", exits: true, expect: "uthorization",
			env:     []string{"NATS_URL=nats://" + natsAddr, "NATS_USER=svc", "NATS_PASSWORD=" + secret("wrong-nats-password")},
			secrets: []string{secret("wrong-nats-password")}},
		{name: "normalizer NATS token refused", bin: "normalizer", exits: true, expect: "uthorization",
			env:     []string{"NATS_URL=nats://" + natsAddr, "NATS_TOKEN=" + secret("nats-token")},
			secrets: []string{secret("nats-token")}},
		{name: "normalizer password in the NATS URL", bin: "normalizer", exits: true, expect: "uthorization",
			env:     []string{"NATS_URL=nats://svc:" + secret("url-password") + "@" + natsAddr},
			secrets: []string{secret("url-password")}},
		{name: "normalizer password from a file", bin: "normalizer", expect: "starting",
			env: []string{"NATS_URL=nats://" + natsAddr, "NATS_USER=svc", "NATS_PASSWORD_FILE=" + passFile}, secrets: []string{natsPass}},
		{name: "sink ClickHouse password refused", bin: "sink", expect: "clickhouse", env: append(slices.Clone(natsOK), chEnv...),
			secrets: []string{natsPass, chPass, dsnPass}},
		{name: "chargectl status", bin: "chargectl", args: []string{"status"}, exits: true, env: append(slices.Clone(natsOK), chEnv...),
			secrets: []string{natsPass, chPass, dsnPass}},
	}
	for _, p := range providers.All() {
		env := slices.Clone(natsOK)
		env = append(env, "POLLER_PROVIDER="+p.Name(), "POLL_INTERVAL=200ms")
		secrets := []string{natsPass}
		secretEnv := map[string]bool{}
		for _, s := range p.Settings() {
			if s.Secret {
				secretEnv[s.Env] = true
			}
		}
		urlPass := secret(p.Name() + "-url-password")
		for k, v := range p.SimEnv("http://user:" + urlPass + "@" + simAddr + "/" + p.Name()) {
			if secretEnv[k] {
				// The simulator's credentials replaced by known secrets it refuses; a list of
				// "<identity>=<token>" keeps its identities.
				var parts []string
				for i, part := range strings.Split(v, ",") {
					s := secret(fmt.Sprintf("%s-%d", strings.ToLower(k), i))
					if id, _, ok := strings.Cut(part, "="); ok {
						parts = append(parts, id+"="+s)
					} else {
						parts = append(parts, s)
					}
					secrets = append(secrets, s)
				}
				v = strings.Join(parts, ",")
			}
			env = append(env, k+"="+v)
		}
		secrets = append(secrets, urlPass)
		runs = append(runs, run{name: "poller " + p.Name() + " credentials refused", bin: "poller", env: env, secrets: secrets, expect: `"level":"ERROR"`})
	}

	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			t.Parallel()
			port := freePort(t)
			args := append([]string{"--http-addr", "127.0.0.1:" + strconv.Itoa(port), "--log-level", "debug"}, r.args...)
			if r.bin == "chargectl" {
				args = r.args
			}
			logPath := filepath.Join(t.TempDir(), r.bin+".log")
			p := process.New(process.Config{Name: r.bin, Bin: filepath.Join(bin, r.bin), Args: args, Env: r.env, LogPath: logPath, Logf: t.Logf})
			if err := p.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _, _ = p.Stop(5 * time.Second) })
			output := func() string {
				b, _ := os.ReadFile(logPath)
				return string(b)
			}
			var metrics string
			if r.exits {
				select {
				case <-p.Done():
				case <-time.After(60 * time.Second):
					t.Fatalf("still running after 60s:\n%s", output())
				}
			} else {
				// Long enough to connect, poll and be refused (or retry), then read /metrics.
				deadline := time.Now().Add(30 * time.Second)
				for !strings.Contains(output(), r.expect) && time.Now().Before(deadline) {
					time.Sleep(100 * time.Millisecond)
				}
				time.Sleep(time.Second)
				metrics = scrape(t, port)
				if _, err := p.Stop(60 * time.Second); errors.Is(err, process.ErrStopTimeout) {
					t.Fatalf("still running 60s after SIGTERM:\n%s", output())
				}
			}
			text := output()
			for _, s := range r.secrets {
				if strings.Contains(text, s) {
					t.Errorf("the output shows the secret %s:\n%s", s, text)
				}
				if strings.Contains(metrics, s) {
					t.Errorf("/metrics shows the secret %s", s)
				}
			}
			if r.expect != "" && !strings.Contains(text, r.expect) {
				t.Errorf("the output lacks %q, so the run did not reach the code that handles the secret:\n%s", r.expect, text)
			}
		})
	}
}

func scrape(t *testing.T, port int) string {
	t.Helper()
	resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/metrics")
	if err != nil {
		t.Errorf("GET /metrics: %v", err)
		return ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := freeport.Get()
	if err != nil {
		t.Fatal(err)
	}
	return port
}
