package devstack

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/chargeline/chargeline/pkg/bus"
)

// Counts is what has reached each stage.
type Counts struct {
	Expected   int               // records the simulators hold (ground truth)
	Raw        uint64            // messages on RAW
	Events     uint64            // messages on EVENTS
	DLQ        uint64            // messages on DLQ
	Rows       map[string]uint64 // rows per table, deduplicated (FINAL)
	RawRecords uint64            // rows in raw_records (FINAL)
}

// Canonical returns the deduplicated rows of every canonical table.
func (c Counts) Canonical() uint64 {
	return c.Rows["charging_sessions"] + c.Rows["invoices"] + c.Rows["cost_centers"]
}

// Done reports whether every simulated record reached ClickHouse (as a canonical row or a DLQ
// message) and its raw archive.
func (c Counts) Done() bool {
	return c.Expected > 0 && c.Canonical()+c.DLQ >= uint64(c.Expected) && c.RawRecords >= c.Raw && c.Raw > 0
}

// Counts reads the counters of every stage.
func (s *Stack) Counts(ctx context.Context) (Counts, error) {
	c := Counts{Rows: map[string]uint64{}}
	for _, t := range s.Sim.Truth() {
		c.Expected += t.Records
	}
	for name, dst := range map[string]*uint64{bus.StreamRaw: &c.Raw, bus.StreamEvents: &c.Events, bus.StreamDLQ: &c.DLQ} {
		st, err := s.JS.Stream(ctx, name)
		if err != nil {
			return c, fmt.Errorf("devstack: stream %s: %w", name, err)
		}
		info, err := st.Info(ctx)
		if err != nil {
			return c, fmt.Errorf("devstack: stream %s: %w", name, err)
		}
		*dst = info.State.Msgs
	}
	if s.Sink == nil {
		return c, nil
	}
	for _, table := range []string{"charging_sessions", "invoices", "invoice_lines", "cost_centers", "raw_records"} {
		var n uint64
		if err := s.Sink.Conn().QueryRow(ctx, "SELECT count() FROM chargeline."+table+" FINAL").Scan(&n); err != nil {
			return c, fmt.Errorf("devstack: count %s: %w", table, err)
		}
		if table == "raw_records" {
			c.RawRecords = n
		} else {
			c.Rows[table] = n
		}
	}
	return c, nil
}

// Progress is one line of counters.
func (c Counts) Progress() string {
	return fmt.Sprintf("raw %d · events %d · dlq %d · rows %d/%d expected · raw_records %d",
		c.Raw, c.Events, c.DLQ, c.Canonical(), c.Expected, c.RawRecords)
}

// PrintSummary writes the end-of-run summary and the commands to look at the result.
func (s *Stack) PrintSummary(w io.Writer, c Counts, seconds float64) {
	rate := 0.0
	if seconds > 0 {
		rate = float64(c.Canonical()) / seconds
	}
	fmt.Fprintf(w, "\nsummary: %d rows in charging_sessions, %d in invoices (%d invoice_lines), %d in cost_centers, %d raw_records, %d in DLQ; %.0f records/s end to end (%.1fs)\n",
		c.Rows["charging_sessions"], c.Rows["invoices"], c.Rows["invoice_lines"], c.Rows["cost_centers"], c.RawRecords, c.DLQ, rate, seconds)
	var b strings.Builder
	fmt.Fprintf(&b, "\nquery ClickHouse:\n")
	fmt.Fprintf(&b, "  clickhouse-client --port %d -q 'SELECT * FROM chargeline.charging_sessions_daily ORDER BY day DESC LIMIT 10'\n", s.ClickHouse.TCPPort)
	fmt.Fprintf(&b, "  clickhouse-client --port %d -q 'SELECT provider, currency, sum(total_amount) FROM chargeline.charging_sessions_current GROUP BY provider, currency'\n", s.ClickHouse.TCPPort)
	fmt.Fprintf(&b, "subscribe to the subjects (nats CLI: go install github.com/nats-io/natscli/nats@v0.5.0):\n")
	fmt.Fprintf(&b, "  nats --server %s sub 'events.>'\n", s.NATS.ClientURL())
	fmt.Fprintf(&b, "  nats --server %s stream ls\n", s.NATS.ClientURL())
	fmt.Fprintf(&b, "the provider simulators: http://%s/truth\n", s.SimAddr)
	fmt.Fprint(w, b.String())
}
