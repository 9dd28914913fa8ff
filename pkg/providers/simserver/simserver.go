// Package simserver serves every provider's simulator on one listener: /<provider>/… is the
// provider's API (its base URL is http://<addr>/<provider>), and /truth reports each
// simulator's ground truth as JSON, so devstack and the tests can compare what reached
// ClickHouse with what the providers hold.
package simserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Settings declares providersim's settings.
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "addr", Env: "PROVIDERSIM_ADDR", Default: "127.0.0.1:8081", Usage: "listen address of the simulated provider APIs"},
		{Name: "seed", Env: "PROVIDERSIM_SEED", Kind: config.Int, Default: "1", Usage: "seed of the synthetic data"},
		{Name: "records", Env: "PROVIDERSIM_RECORDS", Kind: config.Int, Default: "5000", Min: 1, Usage: "records per provider"},
		{Name: "sim-providers", Env: "PROVIDERSIM_PROVIDERS", Kind: config.List, Usage: "providers to simulate (default all)"},
		{Name: "fault-429-every", Env: "PROVIDERSIM_FAULT_429_EVERY", Kind: config.Int, Default: "0", Usage: "answer one request in N with 429 and Retry-After (0 = never)"},
		{Name: "fault-500-every", Env: "PROVIDERSIM_FAULT_500_EVERY", Kind: config.Int, Default: "0", Usage: "answer one request in N with 500 (0 = never)"},
		{Name: "fault-slow-every", Env: "PROVIDERSIM_FAULT_SLOW_EVERY", Kind: config.Int, Default: "0", Usage: "delay one response in N by --fault-slow-delay (0 = never)"},
		{Name: "fault-slow-delay", Env: "PROVIDERSIM_FAULT_SLOW_DELAY", Kind: config.Duration, Default: "2s", Usage: "delay of a slow response"},
		{Name: "fault-expired-token", Env: "PROVIDERSIM_FAULT_EXPIRED_TOKEN", Kind: config.Bool, Default: "false", Usage: "refuse every request as an expired token"},
		{Name: "fault-429-burst", Env: "PROVIDERSIM_FAULT_429_BURST", Kind: config.Int, Default: "0", Usage: "requests refused with 429 after each 429 of --fault-429-every (a storm)"},
		{Name: "fault-retry-after", Env: "PROVIDERSIM_FAULT_RETRY_AFTER", Kind: config.Duration, Default: "1s", Usage: "Retry-After sent with a 429"},
		{Name: "fault-truncate-every", Env: "PROVIDERSIM_FAULT_TRUNCATE_EVERY", Kind: config.Int, Default: "0", Usage: "cut one successful response in N off half-way (0 = never)"},
		{Name: "fault-expire-url-every", Env: "PROVIDERSIM_FAULT_EXPIRE_URL_EVERY", Kind: config.Int, Default: "0", Usage: "refuse one export file download in N as an expired URL (Mews; 0 = never)"},
		{Name: "reading-late-created", Env: "PROVIDERSIM_READING_LATE_CREATED", Kind: config.Bool, Default: "false", Usage: "Be-Mo creates and corrects some sessions days after they started (found only by lastCreated)"},
		{Name: "reading-records-key", Env: "PROVIDERSIM_READING_RECORDS_KEY", Usage: "PIP: the key of the response's record list (default data)"},
		{Name: "reading-tie-beyond-page", Env: "PROVIDERSIM_READING_TIE_BEYOND_PAGE", Kind: config.Bool, Default: "false", Usage: "PIP: more sessions share one completion instant than a page holds"},
		{Name: "reading-bill-money", Env: "PROVIDERSIM_READING_BILL_MONEY", Default: "revenue", Usage: "Mews: where a bill's money is: its Revenue items, its own Amount, or only the order items with its BillId"},
		{Name: "reading-oversized-bytes", Env: "PROVIDERSIM_READING_OVERSIZED_BYTES", Kind: config.Int, Default: "0", Min: 0, Usage: "one record in the middle of a page at least this large (0 = none)"},
		{Name: "reading-plugsurfing-bills-top-level", Env: "PROVIDERSIM_READING_PLUGSURFING_BILLS_TOP_LEVEL", Kind: config.Bool, Default: "false", Usage: "Plugsurfing: the bills list at the top of the answer, not under user"},
		{Name: "reading-plugsurfing-numeric-session-ids", Env: "PROVIDERSIM_READING_PLUGSURFING_NUMERIC_SESSION_IDS", Kind: config.Bool, Default: "false", Usage: "Plugsurfing: external-session-ids are JSON integers"},
		{Name: "reading-plugsurfing-string-result-code", Env: "PROVIDERSIM_READING_PLUGSURFING_STRING_RESULT_CODE", Kind: config.Bool, Default: "false", Usage: "Plugsurfing: result.code is a string"},
		{Name: "reading-plugsurfing-inclusive-end", Env: "PROVIDERSIM_READING_PLUGSURFING_INCLUSIVE_END", Kind: config.Bool, Default: "false", Usage: "Plugsurfing: a date-interval includes its end"},
		{Name: "reading-plugsurfing-bills-without-sessions", Env: "PROVIDERSIM_READING_PLUGSURFING_BILLS_WITHOUT_SESSIONS", Kind: config.Bool, Default: "false", Usage: "Plugsurfing: some bills cover no session (external-session-ids [], null or absent)"},
		{Name: "reading-inpost-count-is-page-size", Env: "PROVIDERSIM_READING_INPOST_COUNT_IS_PAGE_SIZE", Kind: config.Bool, Default: "false", Usage: "InPost: count is the number of items on the page, not in the list"},
		{Name: "reading-inpost-string-ids", Env: "PROVIDERSIM_READING_INPOST_STRING_IDS", Kind: config.Bool, Default: "false", Usage: "InPost: MPK ids, and the list's count, page and per_page, are JSON strings"},
		{Name: "reading-inpost-utc-times", Env: "PROVIDERSIM_READING_INPOST_UTC_TIMES", Kind: config.Bool, Default: "false", Usage: "InPost: times in UTC (Z) with microseconds"},
		{Name: "reading-inpost-repeat-last-page", Env: "PROVIDERSIM_READING_INPOST_REPEAT_LAST_PAGE", Kind: config.Bool, Default: "false", Usage: "InPost: a page past the last serves the last page again"},
		{Name: "fault-token-lifetime", Env: "PROVIDERSIM_FAULT_TOKEN_LIFETIME", Kind: config.Duration, Default: "0s", Usage: "issued access tokens stop working after this long, though announced for longer (PIP; 0 = as announced)"},
	}
}

// Config configures a Server.
type Config struct {
	Addr    string
	Names   []string // providers to simulate; empty = all
	Options sim.Options
	// Providers replaces providers.All() (tests steer a provider's clock this way).
	Providers []providers.Provider
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		Addr:  v.String("addr"),
		Names: v.List("sim-providers"),
		Options: sim.Options{
			Seed:    int64(v.Int("seed")),
			Records: v.Int("records"),
			Faults: sim.Faults{
				TooManyRequestsEvery: v.Int("fault-429-every"),
				ServerErrorEvery:     v.Int("fault-500-every"),
				SlowEvery:            v.Int("fault-slow-every"),
				SlowDelay:            v.Duration("fault-slow-delay"),
				ExpiredToken:         v.Bool("fault-expired-token"),
				TooManyRequestsBurst: v.Int("fault-429-burst"),
				RetryAfter:           v.Duration("fault-retry-after"),
				TruncateEvery:        v.Int("fault-truncate-every"),
				ExpireURLEvery:       v.Int("fault-expire-url-every"),
				TokenLifetime:        v.Duration("fault-token-lifetime"),
			},
			Readings: sim.Readings{
				LateCreated:    v.Bool("reading-late-created"),
				RecordsKey:     v.String("reading-records-key"),
				TieBeyondPage:  v.Bool("reading-tie-beyond-page"),
				BillMoney:      v.String("reading-bill-money"),
				OversizedBytes: v.Int("reading-oversized-bytes"),

				PlugsurfingBillsTopLevel:        v.Bool("reading-plugsurfing-bills-top-level"),
				PlugsurfingNumericSessionIDs:    v.Bool("reading-plugsurfing-numeric-session-ids"),
				PlugsurfingStringResultCode:     v.Bool("reading-plugsurfing-string-result-code"),
				PlugsurfingInclusiveEnd:         v.Bool("reading-plugsurfing-inclusive-end"),
				PlugsurfingBillsWithoutSessions: v.Bool("reading-plugsurfing-bills-without-sessions"),
				InPostCountIsPageSize:           v.Bool("reading-inpost-count-is-page-size"),
				InPostStringIDs:                 v.Bool("reading-inpost-string-ids"),
				InPostUTCTimes:                  v.Bool("reading-inpost-utc-times"),
				InPostRepeatLastPage:            v.Bool("reading-inpost-repeat-last-page"),
			},
		},
	}
}

// Server is the running simulator set.
type Server struct {
	cfg    Config
	sims   map[string]sim.Simulator
	mux    *http.ServeMux
	logger *slog.Logger
}

// New builds the simulators of cfg.Providers.
func New(cfg Config, logger *slog.Logger) (*Server, error) {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	switch cfg.Options.Readings.BillMoney {
	case "", "revenue", "amount", "order-items":
	default:
		return nil, fmt.Errorf("%w: --reading-bill-money/PROVIDERSIM_READING_BILL_MONEY: %q is not one of revenue, amount, order-items", config.ErrInvalid, cfg.Options.Readings.BillMoney)
	}
	s := &Server{cfg: cfg, sims: map[string]sim.Simulator{}, mux: http.NewServeMux(), logger: logger}
	if cfg.Providers == nil {
		cfg.Providers = providers.All()
	}
	for _, p := range cfg.Providers {
		if len(cfg.Names) > 0 && !slices.Contains(cfg.Names, p.Name()) {
			continue
		}
		sm := p.NewSimulator(cfg.Options)
		s.sims[p.Name()] = sm
		prefix := "/" + p.Name()
		s.mux.Handle(prefix+"/", http.StripPrefix(prefix, sm))
	}
	for _, name := range cfg.Names {
		if _, ok := s.sims[name]; !ok {
			_, err := providers.Lookup(name)
			return nil, fmt.Errorf("%w: --sim-providers/PROVIDERSIM_PROVIDERS: %w", config.ErrInvalid, err)
		}
	}
	s.mux.HandleFunc("GET /truth", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s.Truth())
	})
	return s, nil
}

// Handler serves every simulator under /<provider>/ and /truth.
func (s *Server) Handler() http.Handler { return s.mux }

// Truth returns each simulator's ground truth by provider.
func (s *Server) Truth() map[string]sim.Truth {
	out := map[string]sim.Truth{}
	for name, sm := range s.sims {
		out[name] = sm.Truth()
	}
	return out
}

// BaseURL is the base URL a provider's client uses to reach its simulator at addr.
func BaseURL(addr, provider string) string { return "http://" + addr + "/" + provider }

// Run serves until ctx is cancelled.
func (s *Server) Run(ctx context.Context) error {
	ln, err := net.Listen("tcp", s.cfg.Addr)
	if err != nil {
		return fmt.Errorf("%w: --addr/PROVIDERSIM_ADDR: %w", config.ErrInvalid, err)
	}
	return s.Serve(ctx, ln)
}

// Serve serves on ln until ctx is cancelled.
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: s.mux, ReadHeaderTimeout: 5 * time.Second}
	s.logger.Info("provider simulators listening", slog.String("addr", ln.Addr().String()), slog.Int("providers", len(s.sims)))
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("simserver: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("simserver: shutdown: %w", err)
	}
	return nil
}
