// Package clickhouselocal runs a local clickhouse-server process in a directory of its own, for
// devstack and for tests (pkg/sink/clickhousetest): free ports, inline users, no system paths.
package clickhouselocal

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/chargeline/chargeline/pkg/freeport"
)

// ErrNotFound is returned by Binary and Start when no clickhouse-server binary is installed.
var ErrNotFound = errors.New("clickhouse-server not found: install it with `sudo apt-get install -y clickhouse-server` (Debian) " +
	"or from https://clickhouse.com/docs/en/install, or put clickhouse-server on PATH")

// fallbacks are where packages install the server when PATH (e.g. a non-root user's) lacks sbin.
var fallbacks = []string{"/usr/sbin/clickhouse-server", "/usr/bin/clickhouse-server", "/usr/local/bin/clickhouse-server"}

// Binary returns the path of clickhouse-server, from PATH or the usual install locations.
func Binary() (string, error) {
	if p, err := exec.LookPath("clickhouse-server"); err == nil {
		return p, nil
	}
	for _, p := range fallbacks {
		if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
			return p, nil
		}
	}
	return "", ErrNotFound
}

// Process is a running (or stopped) local clickhouse-server. Its ports and data directory stay
// the same across Stop and Restart, so a restarted server keeps its tables. Methods are safe for
// concurrent use.
type Process struct {
	Dir      string // config, data and logs
	TCPPort  int    // native protocol (what the sink uses)
	HTTPPort int    // HTTP interface; /ping is the readiness probe

	// InterserverPort is the replication port of a cluster replica (StartCluster); 0 otherwise.
	InterserverPort int

	bin     string
	replica *replica // nil: a single server
	d       daemon
}

// Pid is the server's process id, 0 while it is not running (the harness reads its CPU time).
func (p *Process) Pid() int { return p.d.pid() }

// Start writes a config into dir (created if missing) and starts clickhouse-server listening
// on 127.0.0.1:tcpPort (0 = a free port), then waits until it answers or ctx ends. The caller
// owns Stop. A server that cannot start is stopped and its error log is quoted in the error.
func Start(ctx context.Context, dir string, tcpPort int) (*Process, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("clickhouselocal: %w", err)
	}
	// A port found free can still be taken before the server binds it: with ports of our own
	// choosing, a bind failure is retried on fresh ones.
	chosen := tcpPort == 0
	for attempt := 1; ; attempt++ {
		p := &Process{Dir: dir, TCPPort: tcpPort, bin: bin}
		if chosen {
			if p.TCPPort, err = freePort(); err != nil {
				return nil, err
			}
		}
		if p.HTTPPort, err = freePort(); err != nil {
			return nil, err
		}
		if err := p.writeConfig(); err != nil {
			return nil, err
		}
		err = p.start(ctx)
		if err == nil {
			return p, nil
		}
		if attempt == 3 || !freeport.InUse(err.Error()) {
			return nil, err
		}
	}
}

// DSN returns the clickhouse:// DSN of the server's chargeline database (user default, no
// password).
func (p *Process) DSN() string {
	return "clickhouse://127.0.0.1:" + strconv.Itoa(p.TCPPort) + "/chargeline"
}

// Addr returns host:port of the native protocol.
func (p *Process) Addr() string { return "127.0.0.1:" + strconv.Itoa(p.TCPPort) }

// Restart starts the server again after Stop, on the same ports and data, and waits until it
// answers or ctx ends.
func (p *Process) Restart(ctx context.Context) error {
	if p.d.running() {
		return errors.New("clickhouselocal: restart: server is running; Stop it first")
	}
	return p.start(ctx)
}

// Stop terminates the server (SIGTERM to its process group, SIGKILL after 15s) and waits for it
// to exit. Stopping a stopped server does nothing.
func (p *Process) Stop() error { p.d.stop(15 * time.Second); return nil }

// Kill ends the server at once (SIGKILL to its process group), the way a crash would, and waits
// for it to exit.
func (p *Process) Kill() error { p.d.kill(); return nil }

// Freeze stops the running server's process group (SIGSTOP) without ending it: connections stay
// open and nothing answers, the way a hung host looks. Thaw lets it go on.
func (p *Process) Freeze() error { return p.d.signal(syscall.SIGSTOP) }

// Thaw continues a frozen server (SIGCONT).
func (p *Process) Thaw() error { return p.d.signal(syscall.SIGCONT) }

func (p *Process) start(ctx context.Context) error {
	logFrom := p.logSize()
	exited, out, err := p.d.start(p.Dir, p.bin, "--config-file="+filepath.Join(p.Dir, "config.xml"))
	if err != nil {
		return err
	}
	err = p.waitReady(ctx, exited)
	if err == nil && p.replica != nil {
		err = p.waitDDLWorker(ctx, exited, logFrom)
	}
	if err != nil {
		_ = p.Kill()
		return fmt.Errorf("clickhouselocal: server in %s did not start: %w\n%s%s", p.Dir, err, out.String(), p.errorLogTail())
	}
	return nil
}

// waitReady polls /ping until the server answers, it exits, or ctx ends (60s without deadline).
func (p *Process) waitReady(ctx context.Context, exited <-chan struct{}) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	client := &http.Client{Timeout: time.Second}
	url := "http://127.0.0.1:" + strconv.Itoa(p.HTTPPort) + "/ping"
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("process exited")
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-tick.C:
		}
	}
}

func (p *Process) errorLogTail() string {
	b, err := os.ReadFile(filepath.Join(p.Dir, "log", "clickhouse-server.err.log"))
	if err != nil || len(b) == 0 {
		return ""
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return "error log:\n" + string(b)
}

// writeConfig writes a self-contained config: everything under Dir, listening on loopback only,
// the user "default" without password. It works on 18.16 and on current releases (which still
// accept the <yandex> root element).
func (p *Process) writeConfig() error {
	for _, sub := range []string{"data", "tmp", "user_files", "format_schemas", "log"} {
		if err := os.MkdirAll(filepath.Join(p.Dir, sub), 0o755); err != nil {
			return fmt.Errorf("clickhouselocal: %w", err)
		}
	}
	cfg := fmt.Sprintf(`<?xml version="1.0"?>
<yandex>
  <logger>
    <level>%[5]s</level>
    <log>%[1]s/log/clickhouse-server.log</log>
    <errorlog>%[1]s/log/clickhouse-server.err.log</errorlog>
    <size>10M</size>
    <count>2</count>
    <console>0</console>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>%[2]d</tcp_port>
  <http_port>%[3]d</http_port>
  <path>%[1]s/data/</path>
  <tmp_path>%[1]s/tmp/</tmp_path>
  <user_files_path>%[1]s/user_files/</user_files_path>
  <format_schema_path>%[1]s/format_schemas/</format_schema_path>
  <mark_cache_size>53687091</mark_cache_size>
  <max_concurrent_queries>100</max_concurrent_queries>
  <!-- Stop does not wait long for idle client connections (tests, Ctrl-C in devstack). -->
  <shutdown_wait_unfinished>1</shutdown_wait_unfinished>
  <users>
    <default>
      <password></password>
      <networks><ip>::1</ip><ip>127.0.0.1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <!-- poll_interval: an idle connection notices a shutdown within a second (default 10s). -->
  <profiles><default><poll_interval>1</poll_interval></default></profiles>
  <quotas><default></default></quotas>
%[4]s</yandex>
`, p.Dir, p.TCPPort, p.HTTPPort, p.replica.config(p.InterserverPort), p.replica.logLevel())
	if err := os.WriteFile(filepath.Join(p.Dir, "config.xml"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("clickhouselocal: %w", err)
	}
	return nil
}

func freePort() (int, error) {
	port, err := freeport.Get()
	if err != nil {
		return 0, fmt.Errorf("clickhouselocal: %w", err)
	}
	return port, nil
}
