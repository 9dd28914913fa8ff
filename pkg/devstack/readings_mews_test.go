package devstack_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/devstack"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestFullChainMewsBillMoney runs Mews simulator → poller (every entity type) → RAW →
// normalizer → EVENTS → sink → ClickHouse under the two readings in which a bill carries no
// Revenue items: its own Amount ("amount"), and no money at all, only order items with its
// BillId in the OrderItem export ("order-items"). Through invoice_totals, the view analysts
// read, every bill must show exactly the simulator's gross and net totals (from money_source
// invoice, resp. invoice_lines), and the money per currency must be Truth's to the cent — also
// after every row of invoices and invoice_lines is inserted a second time (a redelivery).
func TestFullChainMewsBillMoney(t *testing.T) {
	for _, tc := range []struct {
		money, source string
		ownTotals     bool // whether invoices.total_amount is set
	}{
		{"amount", "invoice", true},
		{"order-items", "invoice_lines", false},
	} {
		t.Run(tc.money, func(t *testing.T) {
			clk := &clock{t: time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)}
			readings := sim.Readings{BillMoney: tc.money}
			p := mews.Provider{
				Now:        clk.Now,
				Backoff:    poll.Backoff{Initial: 10 * time.Millisecond, Max: 200 * time.Millisecond, MaxRetryAfter: 50 * time.Millisecond},
				ExportWait: poll.Backoff{Initial: 10 * time.Millisecond, Max: 100 * time.Millisecond, MaxAttempts: 50},
			}
			const seed, records = 13, 600
			s, err := devstack.Start(t.Context(), devstack.Config{
				Dir: t.TempDir(), NATSPort: -1, SimAddr: "127.0.0.1:0", Seed: seed, Records: records,
				PollInterval: 200 * time.Millisecond, Fresh: true, Readings: readings,
				Providers: []providers.Provider{p}, Now: clk.Now,
			}, nil)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(s.Stop)

			// The stack's simulator, built again from the same options, gives each bill's money.
			twin := mews.NewSimulator(sim.Options{Seed: seed, Records: records, Readings: readings, Now: clk.Now})
			truth := s.Sim.Truth()["mews"]
			bills := twin.BillTotals()
			if tt := twin.Truth(); truth.Records != records || tt.Records != records || len(bills) != records ||
				fmt.Sprint(tt.Totals) != fmt.Sprint(truth.Totals) || !slices.Equal(tt.IDs, truth.IDs) || len(truth.Totals) != 3 {
				t.Fatalf("the stack's simulator holds %d bills %v, its twin %d (%d totals) %v", truth.Records, truth.Totals, tt.Records, len(bills), tt.Totals)
			}

			runAll(t, s)
			var last string
			for deadline := time.Now().Add(4 * time.Minute); ; {
				if last = mewsMoneyVersusTruth(t, s, tc.source, bills, truth); last == "" {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("invoice_totals does not show the simulator's bill money within 4 minutes: %s", last)
				}
				time.Sleep(250 * time.Millisecond)
			}

			// The bills carry their own totals only under "amount": under "order-items" the
			// money in the view came from the order items.
			var withTotals, lines uint64
			conn := s.Sink.Conn()
			if err := conn.QueryRow(t.Context(), "SELECT countIf(isNotNull(total_amount)) FROM chargeline.invoices_current WHERE provider = 'mews'").Scan(&withTotals); err != nil {
				t.Fatal(err)
			}
			if want := map[bool]uint64{true: records, false: 0}[tc.ownTotals]; withTotals != want {
				t.Errorf("%d bills with total_amount in invoices, want %d", withTotals, want)
			}
			if err := conn.QueryRow(t.Context(), "SELECT count() FROM chargeline.invoice_lines_current WHERE provider = 'mews'").Scan(&lines); err != nil {
				t.Fatal(err)
			}
			if want := uint64(twin.Entities(mews.EntityOrderItem)); lines != want {
				t.Errorf("%d rows in invoice_lines, want the simulator's %d order items", lines, want)
			}

			// A redelivery of every row changes nothing analysts see.
			for _, table := range []string{"invoices", "invoice_lines"} {
				if err := conn.Exec(t.Context(), "INSERT INTO chargeline."+table+" SELECT * FROM chargeline."+table); err != nil {
					t.Fatalf("duplicate %s: %v", table, err)
				}
			}
			if diff := mewsMoneyVersusTruth(t, s, tc.source, bills, truth); diff != "" {
				t.Errorf("after every row was inserted twice: %s", diff)
			}
			if c, err := s.Counts(t.Context()); err != nil || c.DLQ != 0 {
				t.Errorf("DLQ holds %d messages (err %v), want 0", c.DLQ, err)
			}
		})
	}
}

// mewsMoneyVersusTruth returns "" when invoice_totals shows exactly one row per simulated bill,
// with its currency, gross and net totals to the cent and the wanted money_source, and when
// the revenue per currency, read as the analysts' README reads it (sum(total_amount) over
// invoice_totals), is Truth's; else what differs.
func mewsMoneyVersusTruth(t *testing.T, s *devstack.Stack, source string, bills map[string]mews.SimMoney, truth sim.Truth) string {
	t.Helper()
	rows, err := s.Sink.Conn().Query(t.Context(), `
		SELECT invoice_id, currency, toString(total_gross), toString(total_net), money_source
		FROM chargeline.invoice_totals WHERE provider = 'mews'`)
	if err != nil {
		return err.Error()
	}
	defer rows.Close()
	var diffs []string
	seen := map[string]bool{}
	for rows.Next() {
		var (
			id, cur, src string
			gross, net   *string
		)
		if err := rows.Scan(&id, &cur, &gross, &net, &src); err != nil {
			t.Fatal(err)
		}
		bill := strings.TrimPrefix(id, "mews:")
		w, ok := bills[bill]
		switch {
		case !ok:
			diffs = append(diffs, "bill "+id+" is not the simulator's")
		case seen[bill]:
			diffs = append(diffs, "bill "+id+" has more than one row")
		case gross == nil || net == nil || cur != w.Currency || !sameMoney(*gross, w.Gross) || !sameMoney(*net, w.Net) || src != source:
			diffs = append(diffs, fmt.Sprintf("bill %s: %s gross %v net %v from %q, want %s %s %s from %q", id, cur, deref(gross), deref(net), src, w.Currency, w.Gross, w.Net, source))
		}
		seen[bill] = true
	}
	if err := rows.Err(); err != nil {
		return err.Error()
	}
	if len(seen) != len(bills) {
		diffs = append(diffs, fmt.Sprintf("%d of %d bills in invoice_totals", len(seen), len(bills)))
	}
	rows2, err := s.Sink.Conn().Query(t.Context(), `
		SELECT currency, toString(sum(total_amount)) FROM chargeline.invoice_totals
		WHERE provider = 'mews' AND currency != '' GROUP BY currency`)
	if err != nil {
		return err.Error()
	}
	defer rows2.Close()
	got := map[string]string{}
	for rows2.Next() {
		var cur, sum string
		if err := rows2.Scan(&cur, &sum); err != nil {
			t.Fatal(err)
		}
		got[cur] = sum
	}
	for cur, w := range truth.Totals {
		if !sameMoney(got[cur], w) {
			diffs = append(diffs, fmt.Sprintf("%s revenue %q, Truth %s", cur, got[cur], w))
		}
	}
	if len(got) != len(truth.Totals) {
		diffs = append(diffs, fmt.Sprintf("currencies %v, Truth %v", got, truth.Totals))
	}
	if len(diffs) > 5 {
		diffs = append(diffs[:5], fmt.Sprintf("… %d more", len(diffs)-5))
	}
	return strings.Join(diffs, "; ")
}

func sameMoney(a, b string) bool {
	if a == "" || b == "" {
		return a == b
	}
	d, err := events.AddDecimals(a, "-"+b)
	return err == nil && strings.Trim(d, "0.-") == ""
}

func deref(s *string) string {
	if s == nil {
		return "NULL"
	}
	return *s
}
