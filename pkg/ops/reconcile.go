package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/sink"
)

// ReconcileRequest selects what to reconcile; zero fields select everything.
type ReconcileRequest struct {
	Provider string
	From, To time.Time // UTC days, inclusive
}

// ReconcileDay compares one provider's day (the UTC day its records were first fetched).
type ReconcileDay struct {
	Provider string `json:"provider"`
	Day      string `json:"day"` // YYYY-MM-DD
	// Raw counts the provider records first fetched that day (raw_records; the versions of one
	// record count once).
	Raw uint64 `json:"raw"`
	// Canonical counts those with at least one canonical row; Rows counts the canonical rows
	// (FINAL) that point at them (lineage raw_id).
	Canonical uint64 `json:"canonical"`
	Rows      uint64 `json:"rows"`
	// NoEvent counts records without canonical row that the provider maps to no event (kept
	// in raw_records only, e.g. a Mews customer).
	NoEvent uint64 `json:"no_event"`
	// DLQ counts the dead letters of that day's records.
	DLQ uint64 `json:"dlq"`
	// Missing counts records with no canonical row, no dead letter and an event due.
	Missing uint64 `json:"missing"`
	// Status is ok, dlq (dead letters to look at) or missing (records lost or still in flight).
	Status string `json:"status"`
	// MissingIDs names up to ten missing records (resource/record id), for a first look.
	MissingIDs []string `json:"missing_ids,omitempty"`
}

// ReconcileReport is what reconcile prints.
type ReconcileReport struct {
	Days []ReconcileDay `json:"days"`
	// InFlight is what the durable consumers have not acknowledged yet: while it is not 0,
	// missing rows may still be on their way.
	InFlight uint64 `json:"in_flight"`
	// Gaps are the gaps the pollers recorded (poller_gaps) on a day in the range: provider data
	// that never reached RAW, so no day's count can show it.
	Gaps []poll.Gap `json:"gaps"`
	// OK is true when every day's status is ok and no gap is recorded.
	OK bool `json:"ok"`
}

func (r *ReconcileReport) table(w io.Writer) {
	fmt.Fprintln(w, "PROVIDER\tDAY\tRAW\tCANONICAL\tROWS\tNO EVENT\tDLQ\tMISSING\tSTATUS")
	var t ReconcileDay
	for _, d := range r.Days {
		fmt.Fprintf(w, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", d.Provider, d.Day, d.Raw, d.Canonical, d.Rows, d.NoEvent, d.DLQ, d.Missing, d.Status)
		t.Raw, t.Canonical, t.Rows, t.NoEvent, t.DLQ, t.Missing = t.Raw+d.Raw, t.Canonical+d.Canonical, t.Rows+d.Rows, t.NoEvent+d.NoEvent, t.DLQ+d.DLQ, t.Missing+d.Missing
	}
	if len(r.Days) == 0 && len(r.Gaps) == 0 {
		fmt.Fprintln(w, "(no raw records, no dead letters and no gaps in the range)")
		return
	}
	status := "ok"
	if !r.OK {
		status = "differences"
	}
	fmt.Fprintf(w, "total\t\t%d\t%d\t%d\t%d\t%d\t%d\t%s\n", t.Raw, t.Canonical, t.Rows, t.NoEvent, t.DLQ, t.Missing, status)
	for _, d := range r.Days {
		if len(d.MissingIDs) > 0 {
			fmt.Fprintf(w, "\nmissing %s %s: %s\n", d.Provider, d.Day, strings.Join(d.MissingIDs, ", "))
		}
	}
	if len(r.Gaps) > 0 {
		fmt.Fprintf(w, "\ngaps (%d): provider data that never reached RAW (chargectl gaps)\n", len(r.Gaps))
		for _, g := range r.Gaps {
			fmt.Fprintf(w, "%s\t%s\t%s\t%s\tfound %s\n", g.Provider, g.Scope, g.Kind, g.Describe(), timeText(g.Found))
		}
	}
	if r.InFlight > 0 {
		fmt.Fprintf(w, "\nnote: %d messages are not yet acknowledged by the normalizer or sink (chargectl status): missing rows may still be in flight\n", r.InFlight)
	}
}

// recordsQuery yields one row per provider record (provider, resource, record_id): the UTC day
// it was first fetched, whether any version of it (ce_id) has a canonical row, how many
// canonical rows point at its versions, its versions' ce-ids and the latest one. Grouping by
// version first makes raw rows stored twice (a re-fetch in another monthly partition) count
// once; the latest version is the last first fetched, a tie within fetched_at's second broken by
// the stream sequence. ANY LEFT JOIN … USING runs on ClickHouse 18.16 and on current releases.
const recordsQuery = `
SELECT provider, resource, record_id,
       toDate(min(first_fetched)) AS day,
       max(mapped) AS has_rows,
       sum(rows) AS rows,
       groupArray(ce_id) AS ids,
       argMax(ce_id, (first_fetched, first_seq)) AS last_id
FROM
(
    SELECT provider, resource, record_id, ce_id, min(fetched_at) AS first_fetched, min(stream_seq) AS first_seq
    FROM chargeline.raw_records
    WHERE %s
    GROUP BY provider, resource, record_id, ce_id
)
ANY LEFT JOIN
(
    SELECT provider, raw_id AS ce_id, toUInt8(1) AS mapped, count() AS rows
    FROM
    (
        SELECT provider, raw_id FROM chargeline.charging_sessions FINAL
        UNION ALL
        SELECT provider, raw_id FROM chargeline.invoices FINAL
        UNION ALL
        SELECT provider, raw_id FROM chargeline.cost_centers FINAL
        UNION ALL
        SELECT provider, raw_id FROM chargeline.invoice_lines FINAL
    )
    GROUP BY provider, ce_id
) USING (provider, ce_id)
GROUP BY provider, resource, record_id`

type (
	dayKey struct{ provider, day string }
	rawKey struct{ provider, rawID string }
)

// unmatched is a provider record without canonical row.
type unmatched struct {
	provider, resource, recordID, day string
	ids                               []string
	lastID                            string
}

// Reconcile compares, per provider and UTC day of first fetch, the raw records in ClickHouse
// with the canonical rows derived from them and the DLQ's dead letters (see the reconcile
// command's help for the method). It returns the report, and ErrDifferences with it when a day
// is not ok.
func Reconcile(ctx context.Context, ch driver.Conn, js jetstream.JetStream, provs []providers.Provider, req ReconcileRequest) (*ReconcileReport, error) {
	where, args := "1 = 1", []any{}
	if req.Provider != "" {
		where, args = "provider = ?", append(args, req.Provider)
	}
	records := fmt.Sprintf(recordsQuery, where)
	dayFilter, dayArgs := "1 = 1", []any{}
	if !req.From.IsZero() {
		dayFilter += " AND day >= toDate(?)"
		dayArgs = append(dayArgs, req.From.Format(time.DateOnly))
	}
	if !req.To.IsZero() {
		dayFilter += " AND day <= toDate(?)"
		dayArgs = append(dayArgs, req.To.Format(time.DateOnly))
	}
	inRange := func(day string) bool {
		return (req.From.IsZero() || day >= req.From.Format(time.DateOnly)) && (req.To.IsZero() || day <= req.To.Format(time.DateOnly))
	}

	days := map[dayKey]*ReconcileDay{}
	get := func(provider, day string) *ReconcileDay {
		k := dayKey{provider, day}
		if days[k] == nil {
			days[k] = &ReconcileDay{Provider: provider, Day: day}
		}
		return days[k]
	}

	rows, err := ch.Query(ctx, `SELECT provider, day, count(), sum(has_rows), sum(rows) FROM (`+records+`) WHERE `+dayFilter+` GROUP BY provider, day`,
		append(slices.Clone(args), dayArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: count records: %w", err)
	}
	for rows.Next() {
		var (
			provider string
			day      time.Time
			n, rw    uint64
			withRows uint64
		)
		if err := rows.Scan(&provider, &day, &n, &withRows, &rw); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reconcile: count records: %w", err)
		}
		d := get(provider, day.Format(time.DateOnly))
		d.Raw, d.Canonical, d.Rows = n, withRows, rw
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reconcile: count records: %w", err)
	}

	var open []unmatched
	rows, err = ch.Query(ctx, `SELECT provider, resource, record_id, day, ids, last_id FROM (`+records+`) WHERE has_rows = 0 AND `+dayFilter,
		append(slices.Clone(args), dayArgs...)...)
	if err != nil {
		return nil, fmt.Errorf("reconcile: records without rows: %w", err)
	}
	for rows.Next() {
		var (
			u   unmatched
			day time.Time
		)
		if err := rows.Scan(&u.provider, &u.resource, &u.recordID, &day, &u.ids, &u.lastID); err != nil {
			rows.Close()
			return nil, fmt.Errorf("reconcile: records without rows: %w", err)
		}
		u.day = day.Format(time.DateOnly)
		open = append(open, u)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("reconcile: records without rows: %w", err)
	}

	letters, err := dlqByRawID(ctx, js, req.Provider)
	if err != nil {
		return nil, err
	}
	explained := map[*deadLetterRef]bool{}
	var toMap []unmatched
	for _, u := range open {
		var hit []*deadLetterRef
		for _, id := range u.ids {
			hit = append(hit, letters[rawKey{u.provider, id}]...)
		}
		if len(hit) > 0 {
			for _, l := range hit {
				if !explained[l] {
					explained[l] = true
					get(u.provider, u.day).DLQ++
				}
			}
			continue
		}
		toMap = append(toMap, u)
	}
	// Dead letters of records that are fine otherwise (an older version, one of several events)
	// count on the day their own headers say.
	for _, refs := range letters {
		for _, l := range refs {
			if !explained[l] && inRange(l.day) {
				explained[l] = true
				get(l.provider, l.day).DLQ++
			}
		}
	}
	noEvent, err := withoutEvents(ctx, ch, provs, toMap)
	if err != nil {
		return nil, err
	}
	for _, u := range toMap {
		d := get(u.provider, u.day)
		if noEvent[u.lastID] {
			d.NoEvent++
			continue
		}
		d.Missing++
		if len(d.MissingIDs) < 10 {
			d.MissingIDs = append(d.MissingIDs, u.resource+"/"+u.recordID)
		}
	}

	rep := &ReconcileReport{Days: []ReconcileDay{}, Gaps: []poll.Gap{}, OK: true}
	gaps, err := poll.ListGaps(ctx, js, req.Provider)
	if err != nil {
		return nil, err
	}
	for _, g := range gaps {
		if inRange(g.Found.UTC().Format(time.DateOnly)) {
			rep.Gaps = append(rep.Gaps, g)
			rep.OK = false
		}
	}
	for _, d := range days {
		switch {
		case d.Missing > 0:
			d.Status = "missing"
		case d.DLQ > 0:
			d.Status = "dlq"
		default:
			d.Status = "ok"
		}
		if d.Status != "ok" {
			rep.OK = false
		}
		rep.Days = append(rep.Days, *d)
	}
	slices.SortFunc(rep.Days, func(a, b ReconcileDay) int {
		return cmp.Or(strings.Compare(a.Provider, b.Provider), strings.Compare(a.Day, b.Day))
	})
	if rep.InFlight, err = inFlight(ctx, js); err != nil {
		return nil, err
	}
	if !rep.OK {
		return rep, ErrDifferences
	}
	return rep, nil
}

// deadLetterRef is a dead letter as reconcile sees it: the raw record version it is about.
type deadLetterRef struct {
	provider, rawID, day string
}

// dlqByRawID indexes the DLQ by (provider, raw ce-id): a dead-lettered raw record carries its
// ce-id, a dead-lettered event names its raw record in lineage.raw_id. day is the UTC day of
// chargeline-fetched-at (raw messages), else of the dead letter itself.
func dlqByRawID(ctx context.Context, js jetstream.JetStream, provider string) (map[rawKey][]*deadLetterRef, error) {
	out := map[rawKey][]*deadLetterRef{}
	err := scanDLQ(ctx, js, DLQFilter{Provider: provider}, false, func(d DeadLetter, m *nats.Msg) error {
		ref := &deadLetterRef{provider: d.Provider, day: d.Time.UTC().Format(time.DateOnly), rawID: d.CEID}
		if t, err := time.Parse(time.RFC3339Nano, m.Header.Get(events.HeaderFetchedAt)); err == nil {
			ref.day = t.UTC().Format(time.DateOnly)
		}
		if strings.HasPrefix(d.OriginalSubject, "events.") {
			var body struct {
				Lineage struct {
					RawID string `json:"raw_id"`
				} `json:"lineage"`
			}
			_ = json.Unmarshal(m.Data, &body) // a body that is not an event keeps its own ce-id
			if body.Lineage.RawID != "" {
				ref.rawID = body.Lineage.RawID
			}
		}
		k := rawKey{ref.provider, ref.rawID}
		out[k] = append(out[k], ref)
		return nil
	})
	return out, err
}

// withoutEvents returns the latest ce-ids of the records (among us) that their provider maps to
// no event, reading their payloads from raw_records and mapping them with the provider's pure
// Map. Records of providers chargectl does not know are left out (they count as missing).
func withoutEvents(ctx context.Context, ch driver.Conn, provs []providers.Provider, us []unmatched) (map[string]bool, error) {
	byProvider := map[string][]string{}
	for _, u := range us {
		byProvider[u.provider] = append(byProvider[u.provider], u.lastID)
	}
	out := map[string]bool{}
	for name, ids := range byProvider {
		var p providers.Provider
		for _, q := range provs {
			if q.Name() == name {
				p = q
			}
		}
		if p == nil {
			continue
		}
		for chunk := range slices.Chunk(ids, 500) {
			rows, err := ch.Query(ctx, `SELECT ce_id, any(resource), any(scope), any(record_id), any(payload) FROM `+sink.Database+`.raw_records
				WHERE provider = ? AND ce_id IN ? GROUP BY ce_id`, name, groupSet(chunk))
			if err != nil {
				return nil, fmt.Errorf("reconcile: read payloads: %w", err)
			}
			for rows.Next() {
				var r events.Raw
				var payload string
				if err := rows.Scan(&r.ID, &r.Resource, &r.Scope, &r.RecordID, &payload); err != nil {
					rows.Close()
					return nil, fmt.Errorf("reconcile: read payloads: %w", err)
				}
				r.Provider, r.Data = name, []byte(payload)
				evs, err := p.Map(r)
				if err == nil && len(evs) == 0 {
					out[r.ID] = true
				}
			}
			rows.Close()
			if err := rows.Err(); err != nil {
				return nil, fmt.Errorf("reconcile: read payloads: %w", err)
			}
		}
	}
	return out, nil
}

// groupSet binds ids as a tuple, (a, b, …), which IN takes on every ClickHouse version (an
// array, the binding of a plain slice, is refused by 18.16).
func groupSet(ids []string) clickhouse.GroupSet {
	g := clickhouse.GroupSet{Value: make([]any, len(ids))}
	for i, id := range ids {
		g.Value[i] = id
	}
	return g
}

// inFlight sums what the durable consumers on RAW and EVENTS have not acknowledged.
func inFlight(ctx context.Context, js jetstream.JetStream) (uint64, error) {
	var n uint64
	for _, name := range []string{bus.StreamRaw, bus.StreamEvents} {
		st, err := js.Stream(ctx, name)
		if err != nil {
			return 0, fmt.Errorf("stream %s: %w", name, err)
		}
		cl := st.ListConsumers(ctx)
		for ci := range cl.Info() {
			if ci.Config.Durable != "" {
				n += ci.NumPending + uint64(ci.NumAckPending)
			}
		}
		if err := cl.Err(); err != nil {
			return 0, fmt.Errorf("consumers of %s: %w", name, err)
		}
	}
	return n, nil
}

func reconcileCommand() command {
	return command{
		name: "reconcile", synopsis: "[--provider P] [--from DATE] [--to DATE] [--json]",
		summary: "per provider and day: raw records vs canonical rows vs DLQ (exit 3 on differences)",
		help: `Compares, per provider and UTC day, what was fetched with what reached the canonical tables
and what was dead-lettered.

Method. The day of a record is the UTC day it was first fetched (raw_records.fetched_at; the
record's own business date is provider-specific). A record is a provider record id (per
resource); its versions (changed content, new ce-id) count once.
  RAW        records first fetched that day (raw_records, archived by the sink from RAW)
  CANONICAL  of those, records with at least one row in charging_sessions, invoices,
             invoice_lines or cost_centers (FINAL), joined on the rows' lineage raw_id = a
             version's ce-id
  ROWS       the canonical rows (FINAL) pointing at those records
  NO EVENT   records without row that the provider maps to no event (archived only): their
             latest payload is mapped again with the provider's pure Map to tell
  DLQ        dead letters of that day's records: a dead-lettered raw record by its ce-id, a
             dead-lettered event by its lineage raw_id; a dead letter whose record has rows
             counts on the day of its chargeline-fetched-at (or of the dead letter)
  MISSING    records with no row, no dead letter and an event due; up to ten are named
  STATUS     missing if MISSING > 0, else dlq if DLQ > 0, else ok
RAW = CANONICAL + NO EVENT + (dead-lettered records) + MISSING.
Gaps the pollers recorded on a day of the range (provider data that never reached RAW: a tie
beyond a page, an oversized record; chargectl gaps) are listed below the days.

Run it when the pipeline is idle: records still in flight show as missing; the output notes
how many messages the durable consumers have not acknowledged yet. Messages RAW kept but the
sink never archived do not appear (raw_records is the reference).

Reconcile cannot see a record the poller never fetched: chargectl verify asks the provider.

Exit code 3 when a day is not ok or a gap is listed, 0 otherwise.`,
		settings: func(Env) [][]config.Setting {
			return [][]config.Setting{bus.ConnSettings(), clickHouseSettings(), {
				jsonSetting(), providerFlag(false),
				{Name: "from", Env: "CHARGECTL_FROM", Usage: "first day (YYYY-MM-DD, UTC) to report"},
				{Name: "to", Env: "CHARGECTL_TO", Usage: "last day (YYYY-MM-DD, UTC, inclusive) to report"},
			}}
		},
		run: func(ctx context.Context, s *session) (report, error) {
			var req ReconcileRequest
			var err error
			req.Provider = s.v.String("provider")
			if req.From, _, err = parseTime(s.v, "from"); err != nil {
				return nil, err
			}
			if req.To, _, err = parseTime(s.v, "to"); err != nil {
				return nil, err
			}
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			ch, err := s.clickHouse()
			if err != nil {
				return nil, err
			}
			rep, err := Reconcile(ctx, ch, js, s.env.Providers, req)
			if rep == nil {
				return nil, err
			}
			return rep, err
		},
	}
}
