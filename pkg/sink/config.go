package sink

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"

	"github.com/chargeline/chargeline/pkg/config"
)

// Database is the ClickHouse database every chargeline table lives in (DESIGN.md §6).
const Database = "chargeline"

// Config configures a Sink. The zero value of every field means its default.
type Config struct {
	// DSN is the ClickHouse native-protocol DSN, clickhouse://host:9000/chargeline; its options
	// (secure=true, dial_timeout, compress …) are clickhouse-go's. Default
	// clickhouse://127.0.0.1:9000/chargeline.
	DSN string
	// User and Password, when set, replace the DSN's user info.
	User     string
	Password config.Secret
	// Cluster, when set, names the ClickHouse cluster (a remote_servers entry) the sink migrates
	// and writes to: Migrate applies the cluster variant (replicated tables behind Distributed
	// ones, ON CLUSTER), and inserts wait until every shard has its rows
	// (insert_distributed_sync=1, unless the DSN sets it). Empty: a single server.
	Cluster string
	// BatchRows, BatchBytes and BatchAge bound a table's batch: it is inserted as soon as one
	// is reached. Defaults 2500 rows, 8 MiB, 1s. A loop holds up to two batches (one being
	// inserted while the next fills), so memory follows twice BatchRows: at 5000 the sink's peak
	// RSS was 219 MB in `make bench`, at 2500 118 MB for the same rate within noise.
	BatchRows  int
	BatchBytes int
	BatchAge   time.Duration
	// AckWait is how long JetStream waits for an acknowledgement before redelivering; it must
	// exceed BatchAge. Default 30s.
	AckWait time.Duration
	// EventsConsumer and RawConsumer name the durable consumers on EVENTS and RAW. Defaults
	// "sink-events" and "sink-raw".
	EventsConsumer string
	RawConsumer    string
	// ShutdownTimeout bounds the final flush after Run's context ends. Default 15s.
	ShutdownTimeout time.Duration
	// RetryMin and RetryMax bound the backoff between attempts while ClickHouse or the DLQ is
	// unreachable. Defaults 100ms and 10s.
	RetryMin, RetryMax time.Duration
	// Tracing, when set, makes each insert of a batch a span linked to the span every row's
	// message names (its mapping; for raw_records, its page). Nil: no tracing.
	Tracing trace.TracerProvider
}

// Defaults.
const (
	DefaultDSN        = "clickhouse://127.0.0.1:9000/chargeline"
	DefaultBatchRows  = 2500
	DefaultBatchBytes = 8 << 20
	DefaultBatchAge   = time.Second
	DefaultAckWait    = 30 * time.Second
)

// Settings declares the sink's settings (DESIGN.md §8).
func Settings() []config.Setting {
	return []config.Setting{
		{Name: "clickhouse-dsn", Env: "CLICKHOUSE_DSN", Default: DefaultDSN, Usage: "ClickHouse native-protocol DSN (clickhouse://host:9000/chargeline?secure=true for TLS)"},
		{Name: "clickhouse-user", Env: "CLICKHOUSE_USER", Usage: "ClickHouse user (overrides the DSN's)"},
		{Name: "clickhouse-password", Env: "CLICKHOUSE_PASSWORD", Secret: true, Usage: "ClickHouse password (overrides the DSN's)"},
		{Name: "clickhouse-cluster", Env: "CLICKHOUSE_CLUSTER", Usage: "ClickHouse cluster name: migrate with the cluster variant (replicated tables behind Distributed ones, ON CLUSTER); empty: a single server"},
		{Name: "batch-rows", Env: "SINK_BATCH_ROWS", Kind: config.Int, Default: "2500", Min: 1, Usage: "insert a table's batch once it holds this many rows"},
		{Name: "batch-bytes", Env: "SINK_BATCH_BYTES", Kind: config.Int, Default: "8388608", Min: 1, Usage: "insert a table's batch once its messages hold this many bytes"},
		{Name: "batch-age", Env: "SINK_BATCH_AGE", Kind: config.Duration, Default: "1s", Min: int64(time.Millisecond), Usage: "insert a table's batch once its oldest row waited this long"},
		{Name: "sink-ack-wait", Env: "SINK_ACK_WAIT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "JetStream AckWait of the sink's consumers (must exceed --batch-age)"},
		{Name: "sink-events-consumer", Env: "SINK_EVENTS_CONSUMER", Default: "sink-events", Usage: "durable consumer name on EVENTS"},
		{Name: "sink-raw-consumer", Env: "SINK_RAW_CONSUMER", Default: "sink-raw", Usage: "durable consumer name on RAW"},
		{Name: "sink-shutdown-timeout", Env: "SINK_SHUTDOWN_TIMEOUT", Kind: config.Duration, Default: "15s", Min: int64(time.Millisecond), Usage: "how long the final flush may take at shutdown"},
	}
}

// ConfigFrom reads Settings from v.
func ConfigFrom(v config.Values) Config {
	return Config{
		DSN:             v.String("clickhouse-dsn"),
		User:            v.String("clickhouse-user"),
		Password:        v.Secret("clickhouse-password"),
		Cluster:         v.String("clickhouse-cluster"),
		BatchRows:       v.Int("batch-rows"),
		BatchBytes:      v.Int("batch-bytes"),
		BatchAge:        v.Duration("batch-age"),
		AckWait:         v.Duration("sink-ack-wait"),
		EventsConsumer:  v.String("sink-events-consumer"),
		RawConsumer:     v.String("sink-raw-consumer"),
		ShutdownTimeout: v.Duration("sink-shutdown-timeout"),
	}
}

func (c *Config) setDefaults() {
	if c.DSN == "" {
		c.DSN = DefaultDSN
	}
	if c.BatchRows == 0 {
		c.BatchRows = DefaultBatchRows
	}
	if c.BatchBytes == 0 {
		c.BatchBytes = DefaultBatchBytes
	}
	if c.BatchAge == 0 {
		c.BatchAge = DefaultBatchAge
	}
	if c.AckWait == 0 {
		c.AckWait = DefaultAckWait
	}
	if c.EventsConsumer == "" {
		c.EventsConsumer = "sink-events"
	}
	if c.RawConsumer == "" {
		c.RawConsumer = "sink-raw"
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = 15 * time.Second
	}
	if c.RetryMin == 0 {
		c.RetryMin = 100 * time.Millisecond
	}
	if c.RetryMax == 0 {
		c.RetryMax = 10 * time.Second
	}
}

var consumerName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// Validate reports every invalid field at once; each error wraps config.ErrInvalid and names the
// setting. Defaults are applied to a copy first, so a zero Config is valid.
func (c Config) Validate() error {
	c.setDefaults()
	var errs []error
	bad := func(setting, format string, a ...any) {
		errs = append(errs, fmt.Errorf("%w: %s %s", config.ErrInvalid, setting, fmt.Sprintf(format, a...)))
	}
	if _, err := c.options(); err != nil {
		bad("--clickhouse-dsn/CLICKHOUSE_DSN", "%v", err)
	}
	if c.Cluster != "" && !clusterName.MatchString(c.Cluster) {
		bad("--clickhouse-cluster/CLICKHOUSE_CLUSTER", "must be letters, digits, _, . or -, got %q", c.Cluster)
	}
	if c.BatchRows < 1 {
		bad("--batch-rows/SINK_BATCH_ROWS", "must be ≥ 1, got %d", c.BatchRows)
	}
	if c.BatchBytes < 1 {
		bad("--batch-bytes/SINK_BATCH_BYTES", "must be ≥ 1, got %d", c.BatchBytes)
	}
	if c.BatchAge <= 0 {
		bad("--batch-age/SINK_BATCH_AGE", "must be > 0, got %s", c.BatchAge)
	}
	if c.AckWait < time.Second {
		bad("--sink-ack-wait/SINK_ACK_WAIT", "must be ≥ 1s, got %s", c.AckWait)
	} else if c.AckWait <= c.BatchAge {
		bad("--sink-ack-wait/SINK_ACK_WAIT", "must exceed --batch-age/SINK_BATCH_AGE (%s), got %s", c.BatchAge, c.AckWait)
	}
	if !consumerName.MatchString(c.EventsConsumer) {
		bad("--sink-events-consumer/SINK_EVENTS_CONSUMER", "must be letters, digits, - or _, got %q", c.EventsConsumer)
	}
	if !consumerName.MatchString(c.RawConsumer) {
		bad("--sink-raw-consumer/SINK_RAW_CONSUMER", "must be letters, digits, - or _, got %q", c.RawConsumer)
	}
	if c.EventsConsumer == c.RawConsumer && consumerName.MatchString(c.RawConsumer) {
		// Different streams could share a name, but one name for two roles confuses operators.
		bad("--sink-raw-consumer/SINK_RAW_CONSUMER", "must differ from --sink-events-consumer, both are %q", c.RawConsumer)
	}
	if c.ShutdownTimeout <= 0 {
		bad("--sink-shutdown-timeout/SINK_SHUTDOWN_TIMEOUT", "must be > 0, got %s", c.ShutdownTimeout)
	}
	if c.RetryMin <= 0 || c.RetryMax < c.RetryMin {
		bad("RetryMin/RetryMax", "must satisfy 0 < RetryMin ≤ RetryMax, got %s and %s", c.RetryMin, c.RetryMax)
	}
	return errors.Join(errs...)
}

// options parses the DSN. Errors never contain the password: they quote the DSN redacted.
func (c Config) options() (*clickhouse.Options, error) {
	shown := config.Redact(c.DSN)
	u, err := url.Parse(c.DSN)
	if err != nil {
		// url.Error quotes the whole URL, password included: keep only its reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("cannot parse %s: %v", shown, err)
	}
	if u.Scheme != "clickhouse" && u.Scheme != "tcp" {
		return nil, fmt.Errorf("must use the native protocol (clickhouse://host:9000/%s), got scheme %q in %s", Database, u.Scheme, shown)
	}
	opts, err := clickhouse.ParseDSN(c.DSN)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", shown, scrub(err.Error(), u))
	}
	if db := opts.Auth.Database; db != "" && db != Database {
		return nil, fmt.Errorf("must name the database %q (the migrations create it), got %q in %s", Database, db, shown)
	}
	// The handshake names no database: the database may not exist before Migrate creates it,
	// and every statement qualifies its tables with chargeline.
	opts.Auth.Database = ""
	if c.User != "" {
		opts.Auth.Username = c.User
	}
	if !c.Password.IsZero() {
		opts.Auth.Password = c.Password.Reveal()
	}
	if opts.DialTimeout == 0 {
		opts.DialTimeout = 5 * time.Second
	}
	if opts.MaxOpenConns == 0 {
		opts.MaxOpenConns = 4
	}
	if opts.ReadTimeout == 0 {
		// clickhouse-go waits 5 minutes by default: a connection to a server that went away
		// would stall the loop that long before the outage retry even starts.
		opts.ReadTimeout = insertTimeout
	}
	if c.Cluster != "" {
		// Acknowledge only what every shard holds: by default a Distributed table queues the
		// rows on the server the insert reached and forwards them later.
		if opts.Settings == nil {
			opts.Settings = clickhouse.Settings{}
		}
		if _, set := opts.Settings["insert_distributed_sync"]; !set {
			opts.Settings["insert_distributed_sync"] = 1
		}
	}
	return opts, nil
}

// scrub removes the DSN's password from a message, in case a library quoted it.
func scrub(msg string, u *url.URL) string {
	if u.User != nil {
		if pw, ok := u.User.Password(); ok && pw != "" {
			msg = strings.ReplaceAll(msg, pw, "xxxxx")
			msg = strings.ReplaceAll(msg, url.QueryEscape(pw), "xxxxx")
		}
	}
	return msg
}

// Open returns a ClickHouse connection pool for cfg (native protocol). It does not dial: the
// first query does, so a ClickHouse that is down at start is retried like any outage.
func Open(cfg Config) (driver.Conn, error) {
	cfg.setDefaults()
	opts, err := cfg.options()
	if err != nil {
		return nil, fmt.Errorf("%w: --clickhouse-dsn/CLICKHOUSE_DSN %v", config.ErrInvalid, err)
	}
	conn, err := clickhouse.Open(opts)
	if err != nil {
		return nil, fmt.Errorf("sink: open clickhouse %s: %s", config.Redact(cfg.DSN), scrubPassword(err.Error(), opts.Auth.Password))
	}
	return conn, nil
}

func scrubPassword(msg, pw string) string {
	if pw == "" {
		return msg
	}
	return strings.ReplaceAll(msg, pw, "xxxxx")
}
