package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/sink"
)

// Targets from the issue.
const (
	sinkMinRatio        = 0.9
	sinkMaxRSSMB        = 150
	normalizerMinRate   = 60_000
	normalizerMinRatio  = 0.7
	pollerMinRatio      = 0.8
	e2eMinRate          = 30_000
	latencyMaxP99Millis = 1000
)

// bareSinkTable is the baseline's scratch table, created AS charging_sessions (same columns,
// engine and keys).
const bareSinkTable = "bench_charging_sessions"

// bareSinkConsumer is the baseline's durable consumer on EVENTS.
const bareSinkConsumer = "bench-bare-sink"

// sinkScenario: N charging-session events pre-loaded on EVENTS, then inserted into ClickHouse by
// a bare loop (baseline) and by pkg/sink.
func (h *harness) sinkScenario(ctx context.Context) ([]Result, error) {
	n := h.cfg.SinkRecords
	st, err := h.newStage(ctx, ScenarioSink, 0)
	if err != nil {
		return nil, err
	}
	defer st.close()
	fmt.Fprintf(h.out, "  pre-loading %d charging-session events on EVENTS…\n", n)
	if err := preloadEvents(ctx, st, h.cfg.Seed, n); err != nil {
		return nil, err
	}
	base, svc, err := st.pair(ctx, run{
		scenario: ScenarioSink, name: "sink: bare baseline", records: n, baseline: true,
		start: func(ctx context.Context, g *group) error {
			_, js, err := st.connect(ctx, "chargeline-bench-bare-sink", 0)
			if err != nil {
				return err
			}
			conn, err := sink.Open(sink.Config{DSN: h.ch.DSN()})
			if err != nil {
				return err
			}
			g.cleanup(conn.Close)
			g.run("bare sink", func(ctx context.Context) error { return bareSink(ctx, js, conn, n) })
			return nil
		},
		done: h.tablesHold(n, bareSinkTable),
	}, run{
		scenario: ScenarioSink, name: "sink", records: n,
		start: func(ctx context.Context, g *group) error {
			return startSink(ctx, st, g, "chargeline-sink", sink.Config{})
		},
		done: h.tablesHold(n, sink.TableChargingSessions),
	}, func(ctx context.Context) error {
		if err := h.resetSchema(ctx); err != nil {
			return err
		}
		if err := st.deleteConsumers(ctx, bus.StreamEvents, bareSinkConsumer); err != nil {
			return err
		}
		if err := h.conn.Exec(ctx, "CREATE TABLE "+sink.Database+"."+bareSinkTable+" AS "+sink.Database+"."+sink.TableChargingSessions); err != nil {
			return fmt.Errorf("bench: scratch table: %w", err)
		}
		return nil
	}, func(ctx context.Context) error {
		// Dropping the baseline's table also stops its merges, which would run beside the sink.
		if err := h.resetSchema(ctx); err != nil {
			return err
		}
		return st.deleteConsumers(ctx, bus.StreamEvents, "sink-events", "sink-raw")
	}, func(ctx context.Context, r *Result) error {
		return h.checkExact(ctx, r, n, sink.TableChargingSessions)
	})
	if err != nil {
		return nil, err
	}
	base.note("nats.go Fetch(%d) + encoding/json + one clickhouse-go batch insert per fetch + Ack, into %s", sink.DefaultBatchRows, bareSinkTable)
	svc.atLeast(fmt.Sprintf("ratio ≥ %.1f", sinkMinRatio), deref(svc.Ratio), sinkMinRatio)
	svc.atMost(fmt.Sprintf("peak RSS ≤ %d MB", sinkMaxRSSMB), svc.PeakRSSMB, sinkMaxRSSMB)
	return []Result{base, svc}, nil
}

// startSink starts one pkg/sink instance on a connection of its own; the zero cfg is the
// service's defaults.
func startSink(ctx context.Context, st *stage, g *group, name string, cfg sink.Config) error {
	cfg.DSN, cfg.Cluster = st.chDSN, st.chCluster
	_, js, err := st.connect(ctx, name, 0)
	if err != nil {
		return err
	}
	sk, err := pipeline.NewSink(ctx, cfg, js, pipeline.Env{Logger: st.h.logger.With("component", name)})
	if err != nil {
		return err
	}
	g.cleanup(sk.Close)
	g.run(name, sk.Run)
	return nil
}

// checkExact adds the exactly-once checks: plain count() and count() FINAL of every table are n.
func (h *harness) checkExact(ctx context.Context, r *Result, n int, tables ...string) error {
	for _, t := range tables {
		plain, err := h.count(ctx, t, false)
		if err != nil {
			return err
		}
		final, err := h.count(ctx, t, true)
		if err != nil {
			return err
		}
		r.exact("count() "+t, plain, uint64(n))
		r.exact("count() FINAL "+t, final, uint64(n))
	}
	return nil
}

func deref(v *float64) float64 {
	if v == nil {
		return 0
	}
	return *v
}

// preloadEvents publishes n canonical charging-session events on EVENTS: the Be-Mo records
// mapped by bemo's Map, as the normalizer would publish them (raw sequence i+1 as lineage).
func preloadEvents(ctx context.Context, st *stage, seed int64, n int) error {
	recs, err := genRecords(seed, n)
	if err != nil {
		return err
	}
	err = publish(ctx, st.js, n, runtime.GOMAXPROCS(0), func(i int) (*nats.Msg, error) {
		raw := recs[i].raw()
		raw.Sequence = uint64(i + 1)
		evs, err := bemo.Provider{}.Map(raw)
		if err != nil || len(evs) != 1 {
			return nil, fmt.Errorf("bench: map record %d: %d events, %v", i, len(evs), err)
		}
		return events.EventMsg(evs[0]), nil
	})
	if err != nil {
		return err
	}
	return waitFor(ctx, st.streamHolds(bus.StreamEvents, n))
}

// bareSink is the sink's ceiling: fetch a batch, decode each event with encoding/json, insert
// the batch with clickhouse-go, acknowledge it; nothing else (no DLQ isolation, no metrics, no
// byte or age limits). It returns once n rows are inserted.
func bareSink(ctx context.Context, js jetstream.JetStream, conn driver.Conn, n int) error {
	cons, err := js.CreateOrUpdateConsumer(ctx, bus.StreamEvents, jetstream.ConsumerConfig{
		Durable: bareSinkConsumer, FilterSubject: "events.>", AckPolicy: jetstream.AckExplicitPolicy,
		AckWait: 30 * time.Second, MaxAckPending: 2 * sink.DefaultBatchRows,
	})
	if err != nil {
		return err
	}
	stmt := "INSERT INTO " + sink.Database + "." + bareSinkTable + " (" + strings.Join(bareColumns, ", ") + ")"
	msgs := make([]jetstream.Msg, 0, sink.DefaultBatchRows)
	for done := 0; done < n; {
		batch, err := cons.Fetch(sink.DefaultBatchRows, jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return err
		}
		b, err := conn.PrepareBatch(ctx, stmt)
		if err != nil {
			return err
		}
		msgs = msgs[:0]
		for m := range batch.Messages() {
			var e events.ChargingSession
			if err := json.Unmarshal(m.Data(), &e); err != nil {
				return err
			}
			meta, err := m.Metadata()
			if err != nil {
				return err
			}
			vals, err := bareRow(e, m.Headers().Get(events.HeaderID), meta.Sequence.Stream)
			if err != nil {
				return err
			}
			if err := b.Append(vals...); err != nil {
				return err
			}
			msgs = append(msgs, m)
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return err
		}
		if len(msgs) == 0 {
			_ = b.Abort()
			continue
		}
		if err := b.Send(); err != nil {
			return err
		}
		for _, m := range msgs {
			if err := m.Ack(); err != nil {
				return err
			}
		}
		done += len(msgs)
	}
	return nil
}

// bareColumns are charging_sessions' columns, as pkg/sink writes them.
var bareColumns = []string{
	"id", "provider", "source_id", "account", "status", "started_at", "ended_at", "duration_seconds",
	"location_id", "location_name", "location_address", "location_postal_code", "location_city",
	"location_country_code", "location_latitude", "location_longitude", "location_operator",
	"location_store_number", "location_time_zone", "token_type", "token_value", "vehicle_id",
	"quantity", "unit", "energy_kwh", "product_category", "product_family", "product_code",
	"lines.product_category", "lines.product_family", "lines.product_code", "lines.quantity",
	"lines.unit", "lines.unit_price", "lines.amount", "lines.currency", "lines.time",
	"total_amount", "currency", "invoice_ref", "cost_center_ref", "source_updated_at",
	"schema_version", "raw_id", "raw_subject", "raw_sequence", "event_id", "event_sequence", "version",
}

// bareRow converts an event the plain way: time.Parse and decimal.NewFromString, no range or
// scale checks.
func bareRow(e events.ChargingSession, ceID string, seq uint64) ([]any, error) {
	var errs []error
	tm := func(s string) *time.Time {
		if s == "" {
			return nil
		}
		t, err := time.Parse(time.RFC3339Nano, s)
		errs = append(errs, err)
		return &t
	}
	dec := func(s string) *decimal.Decimal {
		if s == "" {
			return nil
		}
		d, err := decimal.NewFromString(s)
		errs = append(errs, err)
		return &d
	}
	loc, tok, prod := events.Location{}, events.Token{}, events.Product{}
	if e.Location != nil {
		loc = *e.Location
	}
	if e.Token != nil {
		tok = *e.Token
	}
	if e.Product != nil {
		prod = *e.Product
	}
	k := len(e.LineItems)
	cat, fam, code, unit, cur := make([]string, k), make([]string, k), make([]string, k), make([]string, k), make([]string, k)
	qty, price, at := make([]*decimal.Decimal, k), make([]*decimal.Decimal, k), make([]*time.Time, k)
	amount := make([]decimal.Decimal, k)
	for i, li := range e.LineItems {
		cat[i], fam[i], code[i], unit[i], cur[i] = li.Product.Category, li.Product.Family, li.Product.Code, li.Unit, li.Currency
		qty[i], price[i], at[i] = dec(li.Quantity), dec(li.UnitPrice), tm(li.Time)
		if a := dec(li.Amount); a != nil {
			amount[i] = *a
		}
	}
	vals := []any{
		e.ID, e.Provider, e.SourceID, e.Account, e.Status, tm(e.StartedAt), tm(e.EndedAt), e.DurationSeconds,
		loc.ID, loc.Name, loc.Address, loc.PostalCode, loc.City,
		loc.CountryCode, loc.Latitude, loc.Longitude, loc.Operator,
		loc.StoreNumber, loc.TimeZone, tok.Type, tok.Value, e.VehicleID,
		dec(e.Quantity), e.Unit, dec(e.EnergyKWh), prod.Category, prod.Family, prod.Code,
		cat, fam, code, qty,
		unit, price, amount, cur, at,
		dec(e.TotalAmount), e.Currency, e.InvoiceRef, e.CostCenterRef, tm(e.SourceUpdatedAt),
		e.SchemaVersion, e.Lineage.RawID, e.Lineage.RawSubject, e.Lineage.RawSequence, ceID, seq, e.Lineage.RawSequence,
	}
	return vals, errors.Join(errs...)
}
