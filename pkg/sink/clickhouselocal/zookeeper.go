package clickhouselocal

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/chargeline/chargeline/pkg/freeport"
)

// ErrZooKeeperNotFound is returned by StartZooKeeper when Debian's zookeeper package (or a Java
// runtime) is missing. ClickHouse 18.16 has no Keeper of its own: its replicated tables need
// ZooKeeper.
var ErrZooKeeperNotFound = errors.New("zookeeper not found: install it with `sudo apt-get install -y zookeeper` " +
	"(Debian; it brings a Java runtime), or run `make deps`")

// zooKeeperJars are where Debian's zookeeper package puts the server; the jar's manifest names
// every library it needs, so it is the whole class path.
var zooKeeperJars = []string{"/usr/share/java/zookeeper.jar", "/usr/share/zookeeper/zookeeper.jar"}

// zooKeeperBinary returns the java binary and the ZooKeeper jar.
func zooKeeperBinary() (java, jar string, err error) {
	if java, err = exec.LookPath("java"); err != nil {
		return "", "", ErrZooKeeperNotFound
	}
	for _, j := range zooKeeperJars {
		if _, err := os.Stat(j); err == nil {
			return java, j, nil
		}
	}
	return "", "", ErrZooKeeperNotFound
}

// ZooKeeper is a running (or stopped) standalone ZooKeeper server in a directory of its own,
// for the replicated tables of a local ClickHouse cluster. Its port and data stay the same
// across Stop and Restart. Methods are safe for concurrent use.
type ZooKeeper struct {
	Dir  string // config, data and output
	Port int    // client port on 127.0.0.1

	java, jar string
	d         daemon
}

// StartZooKeeper writes a config into dir (created if missing) and starts ZooKeeper listening
// on 127.0.0.1:port (0 = a free port), then waits until it answers or ctx ends. The caller owns
// Stop.
func StartZooKeeper(ctx context.Context, dir string, port int) (*ZooKeeper, error) {
	java, jar, err := zooKeeperBinary()
	if err != nil {
		return nil, err
	}
	if dir, err = filepath.Abs(dir); err != nil {
		return nil, fmt.Errorf("clickhouselocal: %w", err)
	}
	if err := os.MkdirAll(filepath.Join(dir, "data"), 0o755); err != nil {
		return nil, fmt.Errorf("clickhouselocal: %w", err)
	}
	// As in Start: a port of our choosing taken before the bind is retried on a fresh one.
	chosen := port == 0
	for attempt := 1; ; attempt++ {
		if chosen {
			if port, err = freePort(); err != nil {
				return nil, err
			}
		}
		z := &ZooKeeper{Dir: dir, Port: port, java: java, jar: jar}
		err = z.writeConfigAndStart(ctx)
		if err == nil {
			return z, nil
		}
		if attempt == 3 || !chosen || !freeport.InUse(err.Error()) {
			return nil, err
		}
	}
}

func (z *ZooKeeper) writeConfigAndStart(ctx context.Context) error {
	// tickTime 500ms: sessions may be as short as 1s (2 ticks), so ClickHouse notices a lost
	// ZooKeeper in seconds. The admin server (Jetty on :8080 by default) is off: tests run in
	// parallel. ruok answers the readiness probe.
	cfg := fmt.Sprintf("tickTime=500\ninitLimit=10\nsyncLimit=5\ndataDir=%s/data\nclientPort=%d\nclientPortAddress=127.0.0.1\n"+
		"admin.enableServer=false\n4lw.commands.whitelist=ruok,srvr,mntr\nmaxClientCnxns=0\nautopurge.purgeInterval=1\n",
		z.Dir, z.Port)
	if err := os.WriteFile(filepath.Join(z.Dir, "zoo.cfg"), []byte(cfg), 0o644); err != nil {
		return fmt.Errorf("clickhouselocal: %w", err)
	}
	return z.start(ctx)
}

// Addr returns host:port of the client port.
func (z *ZooKeeper) Addr() string { return "127.0.0.1:" + strconv.Itoa(z.Port) }

// Restart starts ZooKeeper again after Stop or Kill, on the same port and data.
func (z *ZooKeeper) Restart(ctx context.Context) error {
	if z.d.running() {
		return errors.New("clickhouselocal: zookeeper restart: still running; Stop it first")
	}
	return z.start(ctx)
}

// Stop terminates ZooKeeper (SIGTERM, SIGKILL after 10s) and waits for it to exit.
func (z *ZooKeeper) Stop() error { z.d.stop(10 * time.Second); return nil }

// Kill ends ZooKeeper at once (SIGKILL).
func (z *ZooKeeper) Kill() error { z.d.kill(); return nil }

// Freeze stops ZooKeeper (SIGSTOP): connections stay open, nothing answers. Thaw continues it.
func (z *ZooKeeper) Freeze() error { return z.d.signal(syscall.SIGSTOP) }

// Thaw continues a frozen ZooKeeper.
func (z *ZooKeeper) Thaw() error { return z.d.signal(syscall.SIGCONT) }

func (z *ZooKeeper) start(ctx context.Context) error {
	// A small heap and the serial collector: a test server holds a few thousand znodes.
	exited, out, err := z.d.start(z.Dir, z.java, "-Xmx192m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
		"-Dzookeeper.log.dir="+z.Dir, "-cp", z.jar,
		"org.apache.zookeeper.server.ZooKeeperServerMain", filepath.Join(z.Dir, "zoo.cfg"))
	if err != nil {
		return err
	}
	if err := z.waitReady(ctx, exited); err != nil {
		_ = z.Kill()
		return fmt.Errorf("clickhouselocal: zookeeper in %s did not start: %w\n%s", z.Dir, err, out.String())
	}
	return nil
}

// waitReady sends ruok until ZooKeeper answers imok, it exits, or ctx ends (60s without
// deadline).
func (z *ZooKeeper) waitReady(ctx context.Context, exited <-chan struct{}) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 60*time.Second)
		defer cancel()
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		if z.ruok(ctx) {
			return nil
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

func (z *ZooKeeper) ruok(ctx context.Context) bool {
	var dialer net.Dialer
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	c, err := dialer.DialContext(dctx, "tcp", z.Addr())
	if err != nil {
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(time.Second))
	if _, err := c.Write([]byte("ruok")); err != nil {
		return false
	}
	line, _ := bufio.NewReader(c).ReadString('\n')
	return line == "imok"
}
