// Package service is the scaffold every chargeline main shares: settings from flags and
// environment, JSON logs, signal handling, and the /healthz, /readyz and /metrics endpoints.
// Configuration errors exit with code 2 before anything starts.
package service

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/tracing"
)

// Exit codes of every service.
const (
	ExitOK      = 0
	ExitFailure = 1 // a runtime failure: lost connection for good, refused credentials …
	ExitConfig  = 2 // invalid configuration, reported before anything started
)

// Settings declares what every service accepts.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "http-addr", Env: "HTTP_ADDR", Default: ":8080", Usage: "address of /metrics, /healthz and /readyz (empty disables)"},
		{Name: "log-level", Env: "LOG_LEVEL", Default: "info", Usage: "debug, info, warn or error"},
		{Name: "log-format", Env: "LOG_FORMAT", Default: "json", Usage: "json or text"},
	}
}

// Env is what a service's run function receives.
type Env struct {
	Values   config.Values
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Ready is set by the run function once it is connected and provisioned; /readyz calls it.
	Ready func(func(ctx context.Context) error)
	// Tracing is the OpenTelemetry tracing the OTEL_* environment asks for; nil when off.
	Tracing *tracing.Provider
	// HTTPAddr is where /metrics, /healthz and /readyz listen ("" when disabled), with the
	// port resolved when --http-addr asked for port 0.
	HTTPAddr string
}

// Main parses settings from args and the environment, sets up logging and the HTTP endpoints,
// and calls run with a context cancelled on SIGINT/SIGTERM. It returns the process exit code.
func Main(name string, args []string, stderr io.Writer, settings [][]config.Setting, run func(ctx context.Context, env Env) error) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	return Run(ctx, name, args, os.Getenv, stderr, settings, run)
}

// Run is Main without signal handling: the service stops when ctx ends, and settings come from
// args and getenv. Tests run a service's real wiring through it (package servicetest).
func Run(ctx context.Context, name string, args []string, getenv func(string) string, stderr io.Writer, settings [][]config.Setting, run func(ctx context.Context, env Env) error) int {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	v, err := config.Load(fs, args, getenv, append([][]config.Setting{Settings()}, settings...)...)
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitConfig
	}
	logger, err := NewLogger(stderr, v.String("log-level"), v.String("log-format"))
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return ExitConfig
	}
	logger = logger.With(slog.String("service", name))

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	var (
		ready    readiness
		httpAddr string
	)
	if addr := v.String("http-addr"); addr != "" {
		srv, err := serveHTTP(addr, reg, &ready, logger)
		if err != nil {
			fmt.Fprintf(stderr, "%s: %v\n", name, err)
			return ExitConfig
		}
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		httpAddr = srv.Addr
	}
	tp, err := tracing.FromEnv(ctx, name, getenv)
	if err != nil {
		logger.Error("invalid configuration", slog.String("error", err.Error()))
		return ExitConfig
	}
	if tp != nil {
		logger.Info("tracing on", slog.String("endpoint", tp.Endpoint), slog.String("sampler", tp.Sampler))
		defer func() {
			sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), tracing.ShutdownTimeout)
			defer cancel()
			if err := tp.Shutdown(sctx); err != nil {
				logger.Warn("tracing", slog.String("error", err.Error()))
			}
		}()
	}
	logger.Info("starting", slog.String("http_addr", httpAddr))
	err = run(ctx, Env{Values: v, Logger: logger, Registry: reg, Ready: ready.set, HTTPAddr: httpAddr, Tracing: tp})
	switch {
	case errors.Is(err, config.ErrInvalid):
		logger.Error("invalid configuration", slog.String("error", err.Error()))
		return ExitConfig
	case err != nil && !errors.Is(err, context.Canceled):
		logger.Error("stopped", slog.String("error", err.Error()))
		return ExitFailure
	}
	logger.Info("stopped cleanly")
	return ExitOK
}

// NewLogger builds the slog logger every service uses.
func NewLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("%w: --log-level/LOG_LEVEL must be debug, info, warn or error, got %q", config.ErrInvalid, level)
	}
	opts := &slog.HandlerOptions{Level: l}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("%w: --log-format/LOG_FORMAT must be json or text, got %q", config.ErrInvalid, format)
}

type readiness struct {
	mu    sync.Mutex
	check func(ctx context.Context) error
}

func (r *readiness) set(f func(ctx context.Context) error) { r.mu.Lock(); r.check = f; r.mu.Unlock() }
func (r *readiness) get() func(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.check
}

func serveHTTP(addr string, reg *prometheus.Registry, ready *readiness, logger *slog.Logger) (*http.Server, error) {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, r *http.Request) {
		check := ready.get()
		if check == nil {
			http.Error(w, "starting", http.StatusServiceUnavailable)
			return
		}
		ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
		defer cancel()
		if err := check(ctx); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ready\n")
	})
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: --http-addr/HTTP_ADDR: %w", config.ErrInvalid, err)
	}
	srv := &http.Server{Addr: ln.Addr().String(), Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server", slog.String("error", err.Error()))
		}
	}()
	return srv, nil
}
