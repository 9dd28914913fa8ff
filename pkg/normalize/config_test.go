package normalize_test

import (
	"errors"
	"flag"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers"
)

func valid() normalize.Config {
	return normalize.Config{MaxDeliver: 5, RetryDelay: time.Second, RetryMaxDelay: time.Minute, Concurrency: 8,
		AckWait: 30 * time.Second, CloseTimeout: 30 * time.Second}
}

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		change  func(c *normalize.Config)
		wantErr string // "" = valid
	}{
		{"valid", func(*normalize.Config) {}, ""},
		{"max deliver 0", func(c *normalize.Config) { c.MaxDeliver = 0 }, "--normalizer-max-deliver/NORMALIZER_MAX_DELIVER must be ≥ 1, got 0"},
		{"retry delay 0", func(c *normalize.Config) { c.RetryDelay = 0 }, "--normalizer-retry-delay/NORMALIZER_RETRY_DELAY must be > 0"},
		{"max delay below delay", func(c *normalize.Config) { c.RetryMaxDelay = time.Millisecond }, "NORMALIZER_RETRY_MAX_DELAY must be ≥ the retry delay 1s, got 1ms"},
		{"concurrency 0", func(c *normalize.Config) { c.Concurrency = 0 }, "NORMALIZER_CONCURRENCY must be ≥ 1, got 0"},
		{"ack wait too short", func(c *normalize.Config) { c.AckWait = time.Millisecond }, "NORMALIZER_ACK_WAIT must be ≥ 1s, got 1ms"},
		{"close timeout 0", func(c *normalize.Config) { c.CloseTimeout = 0 }, "NORMALIZER_CLOSE_TIMEOUT must be > 0"},
		{"provider twice", func(c *normalize.Config) { c.Providers = []string{"bemo", "bemo"} }, `NORMALIZER_PROVIDERS names "bemo" twice`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := valid()
			tt.change(&c)
			err := c.Validate()
			if tt.wantErr == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate() = %v, want config.ErrInvalid containing %q", err, tt.wantErr)
			}
		})
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	err := normalize.Config{RetryMaxDelay: -1, AckWait: 1, CloseTimeout: -1}.Validate()
	for _, s := range []string{"MAX_DELIVER", "RETRY_DELAY", "RETRY_MAX_DELAY", "CONCURRENCY", "ACK_WAIT", "CLOSE_TIMEOUT"} {
		if err == nil || !strings.Contains(err.Error(), "NORMALIZER_"+s) {
			t.Errorf("Validate() = %v, want it to name NORMALIZER_%s", err, s)
		}
	}
}

func TestSettingsDefaultsAreValid(t *testing.T) {
	fs := flag.NewFlagSet("normalizer", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	v, err := config.Load(fs, nil, func(string) string { return "" }, normalize.Settings())
	if err != nil {
		t.Fatal(err)
	}
	cfg := normalize.ConfigFrom(v)
	if err := cfg.Validate(); err != nil {
		t.Fatalf("defaults are invalid: %v", err)
	}
	var all []string
	for _, p := range providers.All() {
		all = append(all, p.Name())
	}
	if strings.Join(cfg.Providers, ",") != strings.Join(all, ",") {
		t.Errorf("default providers %v, want every known provider %v", cfg.Providers, all)
	}
}

func TestNewRejectsUnknownProvider(t *testing.T) {
	if err := (normalize.Config{Providers: []string{"nope"}}).Check(providers.All()); !errors.Is(err, providers.ErrUnknown) {
		t.Errorf("Check = %v, want providers.ErrUnknown", err)
	}
	if err := (normalize.Config{}).Check(providers.All()); err != nil {
		t.Errorf("Check of the zero Config = %v, want nil (defaults)", err)
	}
	srv := natstest.Start(t)
	_, err := normalize.New(normalize.Config{Providers: []string{"nope"}}, srv.JS, providers.All(), nil, nil)
	if !errors.Is(err, config.ErrInvalid) || !errors.Is(err, providers.ErrUnknown) || !strings.Contains(err.Error(), "NORMALIZER_PROVIDERS") {
		t.Fatalf("New = %v, want config.ErrInvalid and providers.ErrUnknown naming NORMALIZER_PROVIDERS", err)
	}
}
