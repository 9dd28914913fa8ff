package ops

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2/lib/driver"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/shopspring/decimal"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/sink"
)

// VerifyRequest says what to compare.
type VerifyRequest struct {
	Provider providers.Provider
	// Source is the provider's poll source, built from its settings like the poller's.
	Source poll.Source
	// Scopes restricts the comparison; empty means every scope of Source.
	Scopes []string
	// From is the first instant to read; the provider starts at the window holding it.
	From time.Time
	// Until is the exclusive end; zero reads until the source is caught up.
	Until time.Time
	// Now stamps the records as the poller would; nil means time.Now.
	Now func() time.Time
}

// VerifyScope is how one scope was read.
type VerifyScope struct {
	Scope       string     `json:"scope"`
	Records     int        `json:"records"` // distinct provider records read
	ReadUntil   *time.Time `json:"read_until,omitempty"`
	StoppedAtTo bool       `json:"stopped_at_to"`
	Error       string     `json:"error,omitempty"`
}

// VerifyRecord is a provider record ClickHouse does not hold as the provider has it now.
type VerifyRecord struct {
	Scope    string `json:"scope"`
	Resource string `json:"resource"`
	RecordID string `json:"record_id"`
	// Table is the table that lacks or differs: raw_records or a canonical table.
	Table string `json:"table"`
	// ID is the canonical id (canonical tables) or the provider's current raw ce-id.
	ID     string `json:"id"`
	Reason string `json:"reason"`
}

// VerifyMoney compares the money of one table and currency over the records read.
type VerifyMoney struct {
	Table      string `json:"table"`
	Currency   string `json:"currency"`
	Provider   string `json:"provider"`   // sum of the provider's current records, mapped
	ClickHouse string `json:"clickhouse"` // sum of the same ids' rows (FINAL)
	Equal      bool   `json:"equal"`
}

// VerifyReport is what verify prints.
type VerifyReport struct {
	Provider string        `json:"provider"`
	From     time.Time     `json:"from"`
	Until    *time.Time    `json:"until,omitempty"`
	Scopes   []VerifyScope `json:"scopes"`
	Records  int           `json:"records"` // distinct provider records read
	Events   int           `json:"events"`  // canonical events they map to
	// Unmappable names records the provider's mapping refuses (they are in the DLQ, not
	// missing: chargectl dlq list shows them).
	Unmappable []string       `json:"unmappable"`
	Missing    []VerifyRecord `json:"missing"`
	Different  []VerifyRecord `json:"different"`
	Money      []VerifyMoney  `json:"money"`
	// Gaps are the provider's recorded gaps (poller_gaps) plus those met while reading.
	Gaps []poll.Gap `json:"gaps"`
	OK   bool       `json:"ok"`
}

// moneyColumns names the money column of each canonical table that has one; the event's JSON
// field has the same name.
var moneyColumns = map[string]string{
	sink.TableChargingSessions: "total_amount",
	sink.TableInvoices:         "total_amount",
	sink.TableInvoiceLines:     "amount",
}

// verifyRecord is one provider record as read now.
type verifyRecord struct {
	scope, resource, id, rawID string
	events                     []verifyEvent
}

type verifyEvent struct {
	table, id, rawID, currency string
	amount                     *decimal.Decimal
}

// ErrVerifyRead is returned with the report when a scope could not be read to the end: what
// was read is compared, the rest is unknown.
var ErrVerifyRead = errors.New("ops: verify could not read every scope")

// Verify re-reads a provider's range with its own source, read-only (nothing is published, no
// checkpoint written, no lease taken), and compares it with ClickHouse: records the provider
// has that have no row, rows that hold another version than the provider's current one, and
// the money per table and currency on both sides. Gaps recorded by the poller are listed. It
// returns ErrDifferences with the report when anything differs.
func Verify(ctx context.Context, ch driver.Conn, js jetstream.JetStream, req VerifyRequest) (*VerifyReport, error) {
	b, err := providers.BackfillerOf(req.Provider)
	if err != nil {
		return nil, err
	}
	if req.Now == nil {
		req.Now = time.Now
	}
	scopes, err := req.Source.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s scopes: %w", req.Provider.Name(), err)
	}
	if len(req.Scopes) > 0 {
		for _, s := range req.Scopes {
			if !slices.Contains(scopes, s) {
				return nil, fmt.Errorf("%w: --scope/CHARGECTL_SCOPE: %s has no scope %q (configured: %s)", config.ErrInvalid, req.Provider.Name(), s, strings.Join(scopes, ", "))
			}
		}
		scopes = req.Scopes
	}
	from, err := b.BackfillCheckpoint(req.From)
	if err != nil {
		return nil, fmt.Errorf("%w: --from/CHARGECTL_FROM: %v", config.ErrInvalid, err)
	}
	name := req.Provider.Name()
	rep := &VerifyReport{Provider: name, From: req.From.UTC(), Until: timePtr(req.Until), Scopes: []VerifyScope{},
		Unmappable: []string{}, Missing: []VerifyRecord{}, Different: []VerifyRecord{}, Money: []VerifyMoney{}, Gaps: []poll.Gap{}}
	var (
		records    []*verifyRecord
		readFailed bool
	)
	for _, scope := range scopes {
		got, res, gaps := verifyRead(ctx, req, b, scope, from)
		rep.Scopes = append(rep.Scopes, res)
		rep.Gaps = append(rep.Gaps, gaps...)
		readFailed = readFailed || res.Error != ""
		for _, r := range got {
			// Sequence 1 stands in for the stream sequence the record never got: it only orders
			// versions in the tables, and verify compares raw ids, not versions.
			raw := events.Raw{ID: r.rawID, Provider: name, Resource: r.resource, Scope: scope, RecordID: r.id, FetchedAt: req.Now(), Data: r.data, Sequence: 1}
			evs, err := req.Provider.Map(raw)
			if err != nil {
				rep.Unmappable = append(rep.Unmappable, r.resource+"/"+r.id+": "+err.Error())
			}
			vr := &verifyRecord{scope: scope, resource: r.resource, id: r.id, rawID: r.rawID}
			for _, e := range evs {
				ve, err := eventFacts(e)
				if err != nil {
					return nil, fmt.Errorf("verify: %s %s: %w", r.resource, r.id, err)
				}
				vr.events = append(vr.events, ve)
			}
			rep.Events += len(vr.events)
			records = append(records, vr)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
	rep.Records = len(records)
	if err := compareRaw(ctx, ch, name, records, rep); err != nil {
		return nil, err
	}
	if err := compareCanonical(ctx, ch, name, records, rep); err != nil {
		return nil, err
	}
	recorded, err := poll.ListGaps(ctx, js, name)
	if err != nil {
		return nil, err
	}
	for _, g := range recorded {
		if len(req.Scopes) == 0 || slices.Contains(req.Scopes, g.Scope) {
			rep.Gaps = append(rep.Gaps, g)
		}
	}
	rep.OK = len(rep.Missing) == 0 && len(rep.Different) == 0 && len(rep.Gaps) == 0 && len(rep.Unmappable) == 0 && !readFailed
	for _, m := range rep.Money {
		rep.OK = rep.OK && m.Equal
	}
	switch {
	case readFailed:
		return rep, ErrVerifyRead
	case !rep.OK:
		return rep, ErrDifferences
	}
	return rep, nil
}

type readRecord struct {
	resource, id, rawID string
	data                []byte
}

// verifyRead reads one scope from from until the window reaching req.Until, keeping the
// latest version of each record (a source may emit a record twice, e.g. a settle re-read).
func verifyRead(ctx context.Context, req VerifyRequest, b providers.Backfiller, scope string, from poll.Checkpoint) ([]readRecord, VerifyScope, []poll.Gap) {
	res := VerifyScope{Scope: scope}
	name := req.Provider.Name()
	index := map[[2]string]int{}
	var (
		out  []readRecord
		gaps []poll.Gap
	)
	err := req.Source.Fetch(ctx, scope, from, func(r poll.Record) error {
		switch {
		case r.Gap != nil:
			g := *r.Gap
			g.Provider, g.Scope, g.Found = name, scope, req.Now().UTC()
			gaps = append(gaps, g)
		case r.Data != nil:
			// A source may reuse its page buffer once emit returns: keep a copy.
			rr := readRecord{resource: r.Resource, id: r.ID, rawID: events.RawID(name, r.Resource, r.ID, r.Data), data: slices.Clone(r.Data)}
			k := [2]string{r.Resource, r.ID}
			if i, ok := index[k]; ok {
				out[i] = rr
			} else {
				index[k] = len(out)
				out = append(out, rr)
			}
		}
		if r.Next == "" {
			return nil
		}
		t, err := b.CheckpointTime(r.Next)
		if err != nil {
			return nil
		}
		res.ReadUntil = timePtr(t)
		if !req.Until.IsZero() && !t.Before(req.Until) {
			return errReachedTo
		}
		return nil
	})
	if errors.Is(err, errReachedTo) {
		err, res.StoppedAtTo = nil, true
	}
	if err != nil {
		res.Error = err.Error()
	}
	res.Records = len(out)
	return out, res, gaps
}

// eventFacts reads what verify compares from a canonical event's data.
func eventFacts(e events.Event) (verifyEvent, error) {
	var body struct {
		ID          string `json:"id"`
		TotalAmount string `json:"total_amount"`
		Amount      string `json:"amount"`
		Currency    string `json:"currency"`
		Lineage     struct {
			RawID string `json:"raw_id"`
		} `json:"lineage"`
	}
	if err := json.Unmarshal(e.Data, &body); err != nil {
		return verifyEvent{}, fmt.Errorf("event %s: %w", e.ID, err)
	}
	ve := verifyEvent{table: sink.TableOf(e), id: body.ID, rawID: body.Lineage.RawID, currency: body.Currency}
	if ve.table == "" {
		return verifyEvent{}, fmt.Errorf("event type %s has no table", e.Type)
	}
	field, amount := moneyColumns[ve.table], body.TotalAmount
	if field == "amount" {
		amount = body.Amount
	}
	if field != "" && amount != "" {
		d, err := decimal.NewFromString(amount)
		if err != nil {
			return verifyEvent{}, fmt.Errorf("event %s: %s %q: %w", e.ID, field, amount, err)
		}
		ve.amount = &d
	}
	return ve, nil
}

// compareRaw looks the records up in raw_records: missing, or archived only in another version
// than the provider's current one.
func compareRaw(ctx context.Context, ch driver.Conn, provider string, records []*verifyRecord, rep *VerifyReport) error {
	byID := map[string][]*verifyRecord{}
	var ids []string
	for _, r := range records {
		if byID[r.id] == nil {
			ids = append(ids, r.id)
		}
		byID[r.id] = append(byID[r.id], r)
	}
	latest := map[[2]string]string{} // {resource, record id} → latest ce-id
	for chunk := range slices.Chunk(ids, 500) {
		// fetched_at is whole seconds: two versions fetched within one tie, and the stream
		// sequence, which grows with every publish, says which came last.
		rows, err := ch.Query(ctx, `SELECT resource, record_id, argMax(ce_id, (fetched_at, stream_seq)) FROM `+sink.Database+`.raw_records
			WHERE provider = ? AND record_id IN ? GROUP BY resource, record_id`, provider, groupSet(chunk))
		if err != nil {
			return fmt.Errorf("verify: read raw_records: %w", err)
		}
		for rows.Next() {
			var resource, id, ce string
			if err := rows.Scan(&resource, &id, &ce); err != nil {
				rows.Close()
				return fmt.Errorf("verify: read raw_records: %w", err)
			}
			latest[[2]string{resource, id}] = ce
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return fmt.Errorf("verify: read raw_records: %w", err)
		}
	}
	for _, r := range records {
		vr := VerifyRecord{Scope: r.scope, Resource: r.resource, RecordID: r.id, Table: sink.TableRawRecords, ID: r.rawID}
		switch ce, ok := latest[[2]string{r.resource, r.id}]; {
		case !ok:
			vr.Reason = "not in raw_records: never fetched (or still in flight)"
			rep.Missing = append(rep.Missing, vr)
		case ce != r.rawID:
			vr.Reason = "raw_records holds another version (" + ce + "): the provider's record changed and was not fetched again"
			rep.Different = append(rep.Different, vr)
		}
	}
	return nil
}

// compareCanonical looks every event up in its table (FINAL) and sums the money on both sides.
func compareCanonical(ctx context.Context, ch driver.Conn, provider string, records []*verifyRecord, rep *VerifyReport) error {
	type moneyKey struct{ table, currency string }
	type rowFacts struct {
		rawID, currency string
		amount          *decimal.Decimal
	}
	want := map[moneyKey]decimal.Decimal{}
	got := map[moneyKey]decimal.Decimal{}
	byTable := map[string][]string{}
	for _, r := range records {
		for _, e := range r.events {
			byTable[e.table] = append(byTable[e.table], e.id)
			if e.amount != nil {
				k := moneyKey{e.table, e.currency}
				want[k] = want[k].Add(*e.amount)
			}
		}
	}
	rows := map[[2]string]rowFacts{} // {table, id}
	for table, ids := range byTable {
		money := "CAST(NULL AS Nullable(String))"
		if col, ok := moneyColumns[table]; ok {
			money = "toString(" + col + ")"
		}
		currency := "''"
		if _, ok := moneyColumns[table]; ok {
			currency = "currency"
		}
		for chunk := range slices.Chunk(ids, 500) {
			res, err := ch.Query(ctx, `SELECT id, raw_id, `+currency+`, `+money+` FROM `+sink.Database+`.`+table+` FINAL
				WHERE provider = ? AND id IN ?`, provider, groupSet(chunk))
			if err != nil {
				return fmt.Errorf("verify: read %s: %w", table, err)
			}
			for res.Next() {
				var (
					id, rawID, cur string
					amount         *string
				)
				if err := res.Scan(&id, &rawID, &cur, &amount); err != nil {
					res.Close()
					return fmt.Errorf("verify: read %s: %w", table, err)
				}
				f := rowFacts{rawID: rawID, currency: cur}
				if amount != nil {
					d, err := decimal.NewFromString(*amount)
					if err != nil {
						res.Close()
						return fmt.Errorf("verify: %s %s: amount %q: %w", table, id, *amount, err)
					}
					f.amount = &d
				}
				rows[[2]string{table, id}] = f
			}
			res.Close()
			if err := res.Err(); err != nil {
				return fmt.Errorf("verify: read %s: %w", table, err)
			}
		}
	}
	for _, r := range records {
		for _, e := range r.events {
			vr := VerifyRecord{Scope: r.scope, Resource: r.resource, RecordID: r.id, Table: e.table, ID: e.id}
			f, ok := rows[[2]string{e.table, e.id}]
			switch {
			case !ok:
				vr.Reason = "no row in " + e.table
				rep.Missing = append(rep.Missing, vr)
				continue
			case f.rawID != e.rawID:
				vr.Reason = "the row is from raw record " + f.rawID + ", the provider's current version is " + e.rawID
				rep.Different = append(rep.Different, vr)
			}
			if f.amount != nil {
				k := moneyKey{e.table, f.currency}
				got[k] = got[k].Add(*f.amount)
			}
		}
	}
	keys := map[moneyKey]bool{}
	for k := range want {
		keys[k] = true
	}
	for k := range got {
		keys[k] = true
	}
	for k := range keys {
		w, g := want[k], got[k]
		rep.Money = append(rep.Money, VerifyMoney{Table: k.table, Currency: k.currency, Provider: w.String(), ClickHouse: g.String(), Equal: w.Equal(g)})
	}
	slices.SortFunc(rep.Money, func(a, b VerifyMoney) int {
		return cmp.Or(strings.Compare(a.Table, b.Table), strings.Compare(a.Currency, b.Currency))
	})
	return nil
}

func (r *VerifyReport) table(w io.Writer) {
	until := "caught up"
	if r.Until != nil {
		until = timeText(*r.Until)
	}
	fmt.Fprintf(w, "verify %s from %s to %s: %d provider records, %d canonical events\n\n", r.Provider, timeText(r.From), until, r.Records, r.Events)
	fmt.Fprintln(w, "SCOPE\tRECORDS\tREAD UNTIL\tSTOPPED AT --to\tERROR")
	for _, s := range r.Scopes {
		ru := "-"
		if s.ReadUntil != nil {
			ru = timeText(*s.ReadUntil)
		}
		fmt.Fprintf(w, "%s\t%d\t%s\t%t\t%s\n", s.Scope, s.Records, ru, s.StoppedAtTo, cell(s.Error, 120))
	}
	fmt.Fprintln(w, "\nTABLE\tCURRENCY\tPROVIDER\tCLICKHOUSE\tSTATUS")
	for _, m := range r.Money {
		status := "ok"
		if !m.Equal {
			status = "differs"
		}
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", m.Table, m.Currency, m.Provider, m.ClickHouse, status)
	}
	if len(r.Money) == 0 {
		fmt.Fprintln(w, "(no money in the records read)")
	}
	// One line per provider record: a record never fetched lacks its raw row and its
	// canonical rows, which is one finding, not two.
	list := func(title string, recs []VerifyRecord) {
		type key struct{ scope, resource, id string }
		var order []key
		lines := map[key][]string{}
		for _, v := range recs {
			k := key{v.Scope, v.Resource, v.RecordID}
			if lines[k] == nil {
				order = append(order, k)
			}
			lines[k] = append(lines[k], v.Reason)
		}
		if len(order) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s (%d records):\n", title, len(order))
		for i, k := range order {
			if i == 50 {
				fmt.Fprintf(w, "… and %d more (--json lists all)\n", len(order)-50)
				break
			}
			fmt.Fprintf(w, "  %s\t%s/%s\t%s\n", k.scope, k.resource, k.id, strings.Join(lines[k], "; "))
		}
	}
	list("missing", r.Missing)
	list("different", r.Different)
	if len(r.Unmappable) > 0 {
		fmt.Fprintf(w, "\nunmappable (%d, in the DLQ: chargectl dlq list): %s\n", len(r.Unmappable), strings.Join(r.Unmappable[:min(len(r.Unmappable), 20)], ", "))
	}
	if len(r.Gaps) > 0 {
		fmt.Fprintf(w, "\ngaps (%d): provider data that never reached RAW\n", len(r.Gaps))
		for _, g := range r.Gaps {
			fmt.Fprintf(w, "  %s\t%s\t%s\tfound %s\n", g.Scope, g.Kind, g.Describe(), timeText(g.Found))
		}
	}
	status := "ok"
	if !r.OK {
		status = "differences"
	}
	fmt.Fprintf(w, "\nresult: %s (%d missing, %d different, %d unmappable, %d gaps)\n", status, len(r.Missing), len(r.Different), len(r.Unmappable), len(r.Gaps))
}

func verifyCommand() command {
	return command{
		name: "verify", synopsis: "--provider P --from DATE [--to DATE] [--scope S,…] [provider settings] [--json]",
		summary: "re-read a range from the provider (read-only) and compare it with ClickHouse (exit 3 on differences)",
		help: `Re-reads a provider's records from --from to --to (whole UTC days, --to inclusive; RFC 3339
times also work) with the provider's own poll source and credentials (the poller's settings),
read-only: nothing is published, no checkpoint written, no lease taken. Each record is mapped
with the provider's mapping, then compared with ClickHouse:
  missing    a record with no row in raw_records (never fetched, or still in flight), or a
             canonical event with no row in its table
  different  raw_records holds another version of the record than the provider's current one
             (its latest ce-id differs), or the canonical row comes from another version
  money      per table and currency, the sum over the records read on both sides (the
             provider's current records mapped, and the same ids' rows read with FINAL)
  gaps       what the pollers recorded as unreadable (ties beyond a page, oversized records),
             and any gap met while reading
Reconcile compares what was fetched with what landed; verify compares what the provider has.
Run it when the pipeline is idle (records in flight show as missing). A provider changes its
records over time: a record updated after the last poll shows as different until the next.

Exit code 3 when anything is missing, different or unmappable, money differs or a gap is
recorded; 1 when
a scope could not be read (what was read is still compared); 0 when everything matches.`,
		settings: func(env Env) [][]config.Setting {
			own := []config.Setting{
				jsonSetting(), providerFlag(true),
				{Name: "from", Env: "CHARGECTL_FROM", Required: true, Usage: "first day (YYYY-MM-DD, UTC) or time (RFC 3339) to read"},
				{Name: "to", Env: "CHARGECTL_TO", Usage: "last day (inclusive) or time to read; default: until caught up"},
				{Name: "scope", Env: "CHARGECTL_SCOPE", Kind: config.List, Usage: "scopes to verify (comma-separated); default every configured scope"},
				{Name: "http-timeout", Env: "POLLER_HTTP_TIMEOUT", Kind: config.Duration, Default: "30s", Min: int64(time.Second), Usage: "timeout of one provider API request"},
			}
			return append([][]config.Setting{bus.ConnSettings(), clickHouseSettings(), own}, providerSettings(env)...)
		},
		run: func(ctx context.Context, s *session) (report, error) {
			p, err := s.provider()
			if err != nil {
				return nil, err
			}
			if _, err := providers.BackfillerOf(p); err != nil {
				return nil, s.v.Invalid("provider", "%v", err)
			}
			from, _, err := parseTime(s.v, "from")
			if err != nil {
				return nil, err
			}
			until, err := untilOf(s.v)
			if err != nil {
				return nil, err
			}
			if !until.IsZero() && !from.Before(until) {
				return nil, s.v.Invalid("to", "must not be before --from")
			}
			// The pollers' client: a connection kept per scope, the request metrics left out.
			src, err := p.NewSource(s.v, poll.NewHTTPClient(s.v.Duration("http-timeout"), p.Name(), nil, nil))
			if err != nil {
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
			rep, err := Verify(ctx, ch, js, VerifyRequest{Provider: p, Source: src, Scopes: s.v.List("scope"), From: from, Until: until, Now: s.env.Now})
			if rep == nil {
				return nil, err
			}
			return rep, err
		},
	}
}
