package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
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

// Targets from the issues (the CPU ones are per 1,000 records, in seconds).
const (
	sinkMinRatio        = 1.0
	sinkMinCeilingRatio = 0.8
	sinkMaxRSSMB        = 150
	normalizerMaxCPU    = 0.040
	normalizerMinRatio  = 0.9
	normalizerMaxRSSMB  = 100
	pollerMinRatio      = 0.8
	e2eMaxCPUAllIn      = 0.120 // the harness's and NATS's
	e2eMinRate          = 15_000
	latencyMaxP99Millis = 500
)

// bareSinkTable is the baseline's scratch table, created AS charging_sessions (same columns,
// engine and keys).
const bareSinkTable = "bench_charging_sessions"

// bareSinkConsumer is the baseline's durable consumer on EVENTS.
const bareSinkConsumer = "bench-bare-sink"

// ceilingName is the sink scenario's insert-only ceiling run.
const ceilingName = "sink: insert-only ceiling"

// ceilingInserters is how many inserts into charging_sessions the sink has in flight with its
// defaults: one. Its EVENTS loop inserts a table's batch on a goroutine while it decodes the
// next, and starts the next insert of that table only once the previous one returned
// (pkg/sink loop.pending); pkg/sink has no setting for it. Change both together.
const ceilingInserters = 1

// sinkScenario: N charging-session events pre-loaded on EVENTS, then inserted into ClickHouse by
// a bare loop (baseline), by pkg/sink, and by clickhouse-go alone from rows built before the
// measured time (the insert-only ceiling: what the sink could do if fetching and decoding were
// free).
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
	resetSink := func(ctx context.Context) error {
		// Dropping the baseline's table also stops its merges, which would run beside the sink.
		if err := h.resetSchema(ctx); err != nil {
			return err
		}
		return st.deleteConsumers(ctx, bus.StreamEvents, "sink-events", "sink-raw")
	}
	// The ceiling's rows exist only from its reset to the end of its run: held any longer,
	// they would be counted in the peak RSS of the sink's next run.
	var (
		ceilRows               [][]any
		ceilHashes, sinkHashes []uint64
	)
	best, rates, err := st.interleave(ctx, side{
		run: run{
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
		},
		reset: func(ctx context.Context) error {
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
		},
	}, side{
		run: run{
			scenario: ScenarioSink, name: "sink", records: n,
			start: func(ctx context.Context, g *group) error {
				return startSink(ctx, st, g, "chargeline-sink", sink.Config{})
			},
			done: h.tablesHold(n, sink.TableChargingSessions),
		},
		reset: resetSink,
		after: func(ctx context.Context, r *Result) error {
			if err := h.checkExact(ctx, r, n, sink.TableChargingSessions); err != nil {
				return err
			}
			sum, err := h.rowsHash(ctx, sink.TableChargingSessions)
			sinkHashes = append(sinkHashes, sum)
			return err
		},
	}, side{
		// Last in each round, so that the first sink run never follows the prebuilt rows.
		run: run{
			scenario: ScenarioSink, name: ceilingName, records: n, baseline: true,
			start: func(ctx context.Context, g *group) error {
				conn, err := sink.Open(sink.Config{DSN: h.ch.DSN()})
				if err != nil {
					return err
				}
				g.cleanup(conn.Close)
				rows := ceilRows
				g.run("insert-only ceiling", func(ctx context.Context) error {
					return insertOnly(ctx, conn, rows, sink.DefaultBatchRows, ceilingInserters)
				})
				return nil
			},
			done: h.tablesHold(n, sink.TableChargingSessions),
		},
		reset: func(ctx context.Context) error {
			if err := resetSink(ctx); err != nil {
				return err
			}
			var err error
			ceilRows, err = ceilingRows(ctx, st.js, n)
			return err
		},
		after: func(ctx context.Context, r *Result) error {
			ceilRows = nil
			plain, err := h.count(ctx, sink.TableChargingSessions, false)
			if err != nil {
				return err
			}
			r.exact("count() "+sink.TableChargingSessions, plain, uint64(n))
			sum, err := h.rowsHash(ctx, sink.TableChargingSessions)
			ceilHashes = append(ceilHashes, sum)
			return err
		},
	})
	if err != nil {
		return nil, err
	}
	base, svc, ceil := best[0], best[1], best[2]
	if k := h.cfg.Repeat; k > 1 {
		base.note("best of %d runs interleaved with the sink's and the ceiling's (records/s: %s)", k, strings.Join(rates[0], ", "))
		svc.note("best of %d runs interleaved with the baseline's and the ceiling's (records/s: %s)", k, strings.Join(rates[1], ", "))
		ceil.note("best of %d runs interleaved with the baseline's and the sink's (records/s: %s)", k, strings.Join(rates[2], ", "))
	}
	// The same rows as the sink's, column by column, or the ratio compares different work.
	same := len(ceilHashes) > 0 && len(sinkHashes) > 0
	if same {
		for _, v := range slices.Concat(ceilHashes, sinkHashes) {
			same = same && v == ceilHashes[0]
		}
	}
	ceil.Checks = append(ceil.Checks, Check{Name: "rows = the sink's (hash of every column)", Got: b2f(same), Pass: same, Correctness: true})
	svc.ratio(base)
	svc.ceiling(ceil)
	base.note("nats.go Fetch(%d) + encoding/json + one clickhouse-go batch insert per fetch + Ack, into %s", sink.DefaultBatchRows, bareSinkTable)
	ceil.note("the sink's rows, built from EVENTS with encoding/json before the measured time and held in memory (in its peak RSS, not the sink's), "+
		"inserted by %d inserter(s) in clickhouse-go batches of %d into %s", ceilingInserters, sink.DefaultBatchRows, sink.TableChargingSessions)
	svc.atLeast(fmt.Sprintf("ratio ≥ %.1f", sinkMinRatio), deref(svc.Ratio), sinkMinRatio)
	svc.atLeast(fmt.Sprintf("≥ %.1f× insert-only ceiling", sinkMinCeilingRatio), deref(svc.CeilingRatio), sinkMinCeilingRatio)
	svc.atMost(fmt.Sprintf("peak RSS ≤ %d MB", sinkMaxRSSMB), svc.PeakRSSMB, sinkMaxRSSMB)
	return []Result{base, ceil, svc}, nil
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

// bareSink is the sink's bare baseline: fetch a batch, decode each event with encoding/json, insert
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
			vals, err := bareMsgRow(m)
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

// bareMsgRow decodes an EVENTS message into its charging_sessions row with encoding/json and
// bareRow, with the message's ce-id and stream sequence as the sink takes them.
func bareMsgRow(m jetstream.Msg) ([]any, error) {
	var e events.ChargingSession
	if err := json.Unmarshal(m.Data(), &e); err != nil {
		return nil, fmt.Errorf("bench: decode %s: %w", m.Subject(), err)
	}
	meta, err := m.Metadata()
	if err != nil {
		return nil, fmt.Errorf("bench: metadata of %s: %w", m.Subject(), err)
	}
	vals, err := bareRow(e, m.Headers().Get(events.HeaderID), meta.Sequence.Stream)
	if err != nil {
		return nil, fmt.Errorf("bench: row of event %d: %w", meta.Sequence.Stream, err)
	}
	return vals, nil
}

// ceilingRows builds the rows of the n events on EVENTS, as the bare baseline decodes them,
// for the insert-only ceiling to insert. It reads them with an ordered consumer: ephemeral, so
// no durable consumer of a measured run sees it, and nothing to acknowledge.
func ceilingRows(ctx context.Context, js jetstream.JetStream, n int) ([][]any, error) {
	cons, err := js.OrderedConsumer(ctx, bus.StreamEvents, jetstream.OrderedConsumerConfig{FilterSubjects: []string{"events.>"}})
	if err != nil {
		return nil, fmt.Errorf("bench: ceiling rows: %w", err)
	}
	rows := make([][]any, 0, n)
	for len(rows) < n {
		batch, err := cons.Fetch(min(n-len(rows), 4096), jetstream.FetchMaxWait(time.Second))
		if err != nil {
			return nil, fmt.Errorf("bench: ceiling rows: %w", err)
		}
		got := 0
		for m := range batch.Messages() {
			vals, err := bareMsgRow(m)
			if err != nil {
				return nil, fmt.Errorf("bench: ceiling rows: %w", err)
			}
			rows = append(rows, vals)
			got++
		}
		if err := batch.Error(); err != nil && !errors.Is(err, nats.ErrTimeout) {
			return nil, fmt.Errorf("bench: ceiling rows: %w", err)
		}
		if got == 0 {
			// The pre-load waited for all n: a fetch that finds none means they are gone.
			return nil, fmt.Errorf("bench: ceiling rows: EVENTS gave %d of %d events", len(rows), n)
		}
	}
	return rows, nil
}

// insertOnly is the sink's insert-only ceiling: it inserts rows, built beforehand, into
// charging_sessions in clickhouse-go batches of batchRows (PrepareBatch, Append, Send, as
// pkg/sink does), from inserters goroutines taking the next batch in turn. It returns once
// every batch is sent, or at the first error.
func insertOnly(ctx context.Context, conn driver.Conn, rows [][]any, batchRows, inserters int) error {
	stmt := "INSERT INTO " + sink.Database + "." + sink.TableChargingSessions + " (" + strings.Join(bareColumns, ", ") + ")"
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next sync.Mutex
		from int
		wg   sync.WaitGroup
		errs = make([]error, inserters)
	)
	for w := range inserters {
		wg.Go(func() {
			for {
				next.Lock()
				lo := from
				from = min(from+batchRows, len(rows))
				next.Unlock()
				if lo >= len(rows) || ctx.Err() != nil {
					return
				}
				if err := insertRows(ctx, conn, stmt, rows[lo:min(lo+batchRows, len(rows))]); err != nil {
					errs[w] = fmt.Errorf("bench: insert-only ceiling: rows %d+: %w", lo, err)
					cancel() // the other inserters stop: the run has failed
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// insertRows inserts rows in one batch insert.
func insertRows(ctx context.Context, conn driver.Conn, stmt string, rows [][]any) error {
	b, err := conn.PrepareBatch(ctx, stmt)
	if err != nil {
		return err
	}
	for _, vals := range rows {
		if err := b.Append(vals...); err != nil {
			_ = b.Abort()
			return err
		}
	}
	return b.Send()
}

// rowsHash returns a checksum of a chargeline table's rows over bareColumns, the columns the
// sink writes (not inserted_at, the server's clock): two tables holding the same rows, in any
// order, have the same. Summed rather than XORed, so that a duplicated row changes it.
func (h *harness) rowsHash(ctx context.Context, table string) (uint64, error) {
	q := "SELECT sum(cityHash64(toString(tuple(" + strings.Join(bareColumns, ", ") + ")))) FROM " + sink.Database + "." + table
	var sum uint64
	if err := h.conn.QueryRow(ctx, q).Scan(&sum); err != nil {
		return 0, fmt.Errorf("bench: hash of %s: %w", table, err)
	}
	return sum, nil
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
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
