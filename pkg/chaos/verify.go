package chaos

import (
	"time"

	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// canonicalTables hold one deduplicated row per canonical id; each has a …_current view.
var canonicalTables = []string{"charging_sessions", "invoices", "cost_centers"}

// moneyTables carry total_amount and currency.
var moneyTables = []string{"charging_sessions", "invoices"}

// landed is what ClickHouse holds for one provider.
type landed struct {
	rows     uint64            // rows of the canonical tables, FINAL
	distinct uint64            // distinct canonical ids, FINAL
	viewDups uint64            // rows of the …_current views beyond one per id
	totals   map[string]string // sum(total_amount) per currency, FINAL
}

// queryLanded reads every provider's canonical rows from ClickHouse: from the tables named
// <table><suffix> ("" for the tables themselves, "_local" for a replica's own on a cluster),
// and from the …_current views.
func queryLanded(ctx context.Context, conn driver.Conn, suffix string) (map[string]*landed, error) {
	out := map[string]*landed{}
	get := func(p string) *landed {
		if out[p] == nil {
			out[p] = &landed{totals: map[string]string{}}
		}
		return out[p]
	}
	for _, t := range canonicalTables {
		rows, err := conn.Query(ctx, "SELECT provider, count(), uniqExact(id) FROM chargeline."+t+suffix+" FINAL GROUP BY provider")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p string
			var n, d uint64
			if err := rows.Scan(&p, &n, &d); err != nil {
				rows.Close()
				return nil, err
			}
			get(p).rows += n
			get(p).distinct += d
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
		rows, err = conn.Query(ctx, "SELECT provider, count() - uniqExact(id) FROM chargeline."+t+"_current GROUP BY provider")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p string
			var d int64
			if err := rows.Scan(&p, &d); err != nil {
				rows.Close()
				return nil, err
			}
			get(p).viewDups += uint64(max(d, 0))
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	for _, t := range moneyTables {
		rows, err := conn.Query(ctx, "SELECT provider, currency, toString(sum(total_amount)) FROM chargeline."+t+suffix+
			" FINAL WHERE isNotNull(total_amount) GROUP BY provider, currency")
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var p, cur, sum string
			if err := rows.Scan(&p, &cur, &sum); err != nil {
				rows.Close()
				return nil, err
			}
			l := get(p)
			if prev, ok := l.totals[cur]; ok {
				if sum, err = events.AddDecimals(prev, sum); err != nil {
					rows.Close()
					return nil, err
				}
			}
			l.totals[cur] = sum
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// ProviderResult compares one provider's rows with its simulator's ground truth.
type ProviderResult struct {
	Provider   string
	Expected   int    // records the simulator holds
	Distinct   uint64 // distinct canonical ids in ClickHouse (FINAL)
	Lost       int    // expected records without a row
	Duplicated int    // rows beyond one per record: extra ids, and ids a …_current view shows twice
	// Money lists every currency whose total differs from the simulator's, "" when all match.
	Money string
}

// compare returns each provider's verdict; providers are the truth's.
func compare(truth map[string]sim.Truth, got map[string]*landed) []ProviderResult {
	var names []string
	for p := range truth {
		names = append(names, p)
	}
	slices.Sort(names)
	var out []ProviderResult
	for _, p := range names {
		t := truth[p]
		l := got[p]
		if l == nil {
			l = &landed{totals: map[string]string{}}
		}
		r := ProviderResult{Provider: p, Expected: t.Records, Distinct: l.distinct}
		if int(l.distinct) < t.Records {
			r.Lost = t.Records - int(l.distinct)
		} else {
			r.Duplicated = int(l.distinct) - t.Records
		}
		r.Duplicated += int(l.viewDups) + int(l.rows-l.distinct)
		r.Money = compareMoney(t.Totals, l.totals)
		out = append(out, r)
	}
	return out
}

// compareMoney returns the currencies whose totals differ ("" when every one matches to the
// cent and ClickHouse has no other currency), e.g. "EUR 10.50 ≠ 10.25".
func compareMoney(want, got map[string]string) string {
	var diffs []string
	for cur, w := range want {
		g, ok := got[cur]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s missing (want %s)", cur, w))
			continue
		}
		d, err := events.AddDecimals(g, "-"+w)
		if err != nil || strings.Trim(d, "0.-") != "" {
			diffs = append(diffs, fmt.Sprintf("%s %s ≠ %s", cur, g, w))
		}
	}
	if len(want) > 0 {
		for cur, g := range got {
			if _, ok := want[cur]; !ok {
				diffs = append(diffs, fmt.Sprintf("%s %s not in the simulator", cur, g))
			}
		}
	}
	slices.Sort(diffs)
	return strings.Join(diffs, ", ")
}

// pending sums NumPending and NumAckPending over every consumer of every stream, and lists the
// consumers that have any.
func pending(ctx context.Context, js jetstream.JetStream) (uint64, []string, error) {
	var total uint64
	var busy []string
	for _, name := range []string{bus.StreamRaw, bus.StreamEvents, bus.StreamDLQ} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return 0, nil, err
		}
		lister := st.ListConsumers(ctx)
		for info := range lister.Info() {
			n := info.NumPending + uint64(info.NumAckPending)
			if n > 0 {
				busy = append(busy, fmt.Sprintf("%s/%s pending %d, ack pending %d", name, info.Name, info.NumPending, info.NumAckPending))
			}
			total += n
		}
		if err := lister.Err(); err != nil {
			return 0, nil, err
		}
	}
	return total, busy, nil
}

// verdict is one measurement of the whole pipeline against the ground truth.
type verdict struct {
	records   int
	providers []ProviderResult
	pending   uint64
	busy      []string
	dlq       dlqVerdict
	archive   []string // providers whose raw_records miss RAW messages
	replicas  []ReplicaResult
	// replicaProblems lists what a replica's own tables miss or double (a cluster only).
	replicaProblems []string
	err             error // the measurement itself failed (NATS or ClickHouse unreachable)
}

// failures lists everything the verdict finds wrong.
func (v verdict) failures() []string {
	if v.err != nil {
		return []string{"could not measure: " + v.err.Error()}
	}
	var out []string
	for _, p := range v.providers {
		if p.Lost > 0 {
			out = append(out, fmt.Sprintf("%s: %d of %d records lost (%d distinct ids in ClickHouse)", p.Provider, p.Lost, p.Expected, p.Distinct))
		}
		if p.Duplicated > 0 {
			out = append(out, fmt.Sprintf("%s: %d records doubled (%d distinct ids for %d records)", p.Provider, p.Duplicated, p.Distinct, p.Expected))
		}
		if p.Money != "" {
			out = append(out, fmt.Sprintf("%s: money totals differ: %s", p.Provider, p.Money))
		}
		if p.Expected == 0 {
			out = append(out, p.Provider+": the simulator holds no records")
		}
	}
	if len(v.dlq.missing) > 0 {
		out = append(out, "poison records not in the DLQ: "+strings.Join(v.dlq.missing, ", "))
	}
	for i, u := range v.dlq.unexpected {
		if i == 10 {
			out = append(out, fmt.Sprintf("… %d more unexpected dead letters", len(v.dlq.unexpected)-i))
			break
		}
		out = append(out, "unexpected dead letter: "+u)
	}
	for _, b := range v.busy {
		out = append(out, "consumer not caught up: "+b)
	}
	for _, a := range v.archive {
		out = append(out, "raw archive incomplete: "+a)
	}
	return append(out, v.replicaProblems...)
}

// checkArchive compares, per provider, the distinct ce_ids in table (raw_records, or a
// replica's raw_records_local) with the messages on RAW (each a distinct ce-id: Nats-Msg-Id
// drops repeats).
func (s *stack) checkArchive(ctx context.Context, conn driver.Conn, table string) ([]string, error) {
	st, err := s.js.Stream(ctx, bus.StreamRaw)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx, jetstream.WithSubjectFilter("raw.>"))
	if err != nil {
		return nil, err
	}
	onRaw := map[string]uint64{}
	for subj, n := range info.State.Subjects {
		onRaw[bus.ProviderOf(subj)] += n
	}
	rows, err := conn.Query(ctx, "SELECT provider, uniqExact(ce_id) FROM chargeline."+table+" FINAL GROUP BY provider")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	archived := map[string]uint64{}
	for rows.Next() {
		var p string
		var n uint64
		if err := rows.Scan(&p, &n); err != nil {
			return nil, err
		}
		archived[p] = n
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	var out []string
	for p, n := range onRaw {
		if archived[p] != n {
			out = append(out, fmt.Sprintf("%s: %d distinct ce_ids in raw_records for %d messages on RAW", p, archived[p], n))
		}
	}
	slices.Sort(out)
	return out, nil
}

// measure compares ClickHouse, the DLQ and the consumers with the simulators' ground truth.
func (s *stack) measure(ctx context.Context, poison []events.Raw) verdict {
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	var v verdict
	truth, err := s.truth(ctx)
	if err != nil {
		v.err = fmt.Errorf("ground truth: %w", err)
		return v
	}
	for _, t := range truth {
		v.records += t.Records
	}
	got, err := queryLanded(ctx, s.chConn, "")
	if err != nil {
		v.err = fmt.Errorf("clickhouse: %w", err)
		return v
	}
	v.providers = compare(truth, got)
	dls, err := readDLQ(ctx, s.js)
	if err != nil {
		v.err = fmt.Errorf("dlq: %w", err)
		return v
	}
	v.dlq = checkDLQ(dls, poison)
	if v.pending, v.busy, err = pending(ctx, s.js); err != nil {
		v.err = fmt.Errorf("consumers: %w", err)
		return v
	}
	if v.archive, err = s.checkArchive(ctx, s.chConn, "raw_records"); err != nil {
		v.err = fmt.Errorf("raw archive: %w", err)
		return v
	}
	if v.replicas, v.replicaProblems, err = s.measureReplicas(ctx, truth); err != nil {
		v.err = fmt.Errorf("clickhouse replicas: %w", err)
	}
	return v
}

// settle measures until the pipeline matches the ground truth or ctx ends, and returns the
// last measurement (taken after ctx ended, if it did).
func (s *stack) settle(ctx context.Context, poison []events.Raw, logf func(string, ...any)) verdict {
	lastLog := time.Now()
	for {
		v := s.measure(ctx, poison)
		f := v.failures()
		if len(f) == 0 {
			return v
		}
		if time.Since(lastLog) > 15*time.Second {
			logf("not caught up yet: %s", strings.Join(f, "; "))
			lastLog = time.Now()
		}
		select {
		case <-ctx.Done():
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
			defer cancel()
			return s.measure(fctx, poison)
		case <-time.After(2 * time.Second):
		}
	}
}
