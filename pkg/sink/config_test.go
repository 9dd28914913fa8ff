package sink

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/config"
)

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name    string
		cfg     Config
		wantErr []string // substrings, one per expected problem; none = valid
	}{
		{name: "zero value takes the defaults", cfg: Config{}},
		{name: "explicit good values", cfg: Config{DSN: "clickhouse://ch:9000/chargeline?dial_timeout=2s", BatchRows: 10, BatchBytes: 1024, BatchAge: 10 * time.Millisecond, AckWait: time.Second}},
		{name: "dsn without database", cfg: Config{DSN: "clickhouse://ch:9000"}},
		{name: "negative batch rows", cfg: Config{BatchRows: -1}, wantErr: []string{"--batch-rows/SINK_BATCH_ROWS must be ≥ 1, got -1"}},
		{name: "negative batch bytes", cfg: Config{BatchBytes: -5}, wantErr: []string{"--batch-bytes/SINK_BATCH_BYTES must be ≥ 1, got -5"}},
		{name: "negative batch age", cfg: Config{BatchAge: -time.Second}, wantErr: []string{"--batch-age/SINK_BATCH_AGE must be > 0"}},
		{name: "ack wait below a second", cfg: Config{AckWait: 10 * time.Millisecond}, wantErr: []string{"--sink-ack-wait/SINK_ACK_WAIT must be ≥ 1s"}},
		{name: "ack wait not above batch age", cfg: Config{AckWait: 2 * time.Second, BatchAge: 2 * time.Second}, wantErr: []string{"--sink-ack-wait/SINK_ACK_WAIT must exceed --batch-age"}},
		{name: "http dsn", cfg: Config{DSN: "http://ch:8123/chargeline"}, wantErr: []string{"--clickhouse-dsn/CLICKHOUSE_DSN must use the native protocol"}},
		{name: "other database", cfg: Config{DSN: "clickhouse://ch:9000/analytics"}, wantErr: []string{`--clickhouse-dsn/CLICKHOUSE_DSN must name the database "chargeline"`}},
		{name: "bad dsn option", cfg: Config{DSN: "clickhouse://ch:9000/chargeline?dial_timeout=soon"}, wantErr: []string{"--clickhouse-dsn/CLICKHOUSE_DSN"}},
		{name: "consumer name with a dot", cfg: Config{EventsConsumer: "sink.events"}, wantErr: []string{"--sink-events-consumer/SINK_EVENTS_CONSUMER must be letters"}},
		{name: "same consumer names", cfg: Config{EventsConsumer: "sink", RawConsumer: "sink"}, wantErr: []string{"--sink-raw-consumer/SINK_RAW_CONSUMER must differ"}},
		{name: "every problem at once", cfg: Config{BatchRows: -1, BatchBytes: -1, DSN: "http://x"}, wantErr: []string{"SINK_BATCH_ROWS", "SINK_BATCH_BYTES", "CLICKHOUSE_DSN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.wantErr) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if !errors.Is(err, config.ErrInvalid) {
				t.Fatalf("Validate() = %v, want an error wrapping config.ErrInvalid", err)
			}
			for _, want := range tt.wantErr {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("Validate() = %q, want it to contain %q", err, want)
				}
			}
			if n := len(strings.Split(err.Error(), "\n")); n != len(tt.wantErr) {
				t.Errorf("Validate() reported %d problems, want %d: %v", n, len(tt.wantErr), err)
			}
		})
	}
}

func TestConfigErrorsNeverShowThePassword(t *testing.T) {
	for _, dsn := range []string{
		"clickhouse://user:hunter2secret@ch:9000/analytics",
		"clickhouse://user:hunter2secret@ch:9000/chargeline?dial_timeout=soon",
		"http://user:hunter2secret@ch:8123/chargeline",
		"clickhouse://user:hunter2secret@ch:notaport/chargeline",
		"clickhouse://user:hunter2secret@[::1/chargeline",
	} {
		err := Config{DSN: dsn}.Validate()
		if err == nil {
			t.Errorf("Validate(%s) = nil, want an error", config.Redact(dsn))
			continue
		}
		if strings.Contains(err.Error(), "hunter2secret") {
			t.Errorf("Validate error shows the password: %v", err)
		}
	}
	if _, err := Open(Config{DSN: "clickhouse://user:hunter2secret@ch:9000/analytics"}); err == nil || strings.Contains(err.Error(), "hunter2secret") || !errors.Is(err, config.ErrInvalid) {
		t.Errorf("Open error = %v, want ErrInvalid without the password", err)
	}
}

func TestConfigOptionsApplyUserAndPassword(t *testing.T) {
	opts, err := Config{DSN: "clickhouse://dsnuser:dsnpw@ch:9000/chargeline", User: "sink", Password: "pw"}.options()
	if err != nil {
		t.Fatal(err)
	}
	if opts.Auth.Username != "sink" || opts.Auth.Password != "pw" || opts.Auth.Database != "" || opts.Addr[0] != "ch:9000" {
		t.Errorf("options = user %q password %q database %q addr %v", opts.Auth.Username, opts.Auth.Password, opts.Auth.Database, opts.Addr)
	}
}

func TestSettingsMatchConfigFrom(t *testing.T) {
	v, err := config.Load(flagSet(), []string{"--batch-rows", "42", "--sink-ack-wait", "45s"}, func(string) string { return "" }, Settings())
	if err != nil {
		t.Fatal(err)
	}
	cfg := ConfigFrom(v)
	if cfg.BatchRows != 42 || cfg.AckWait != 45*time.Second || cfg.BatchBytes != DefaultBatchBytes || cfg.BatchAge != DefaultBatchAge || cfg.DSN != DefaultDSN {
		t.Errorf("ConfigFrom = %+v", cfg)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("defaults from Settings do not validate: %v", err)
	}
}
