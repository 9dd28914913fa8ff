package inpost

import (
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// SimAccessToken is the token the simulator accepts (as "Authorization: Bearer sim-token");
// anything else is refused with 401 like the real API refuses it.
const SimAccessToken = "sim-token"

// Simulator limits and defaults.
const (
	simDefaultPerPage = 30  // the seed's example answers with per_page 30
	simMaxPerPage     = 100 // a larger per_page is served as 100, and the response says so
	simDefaultRecords = 100
	simHistoryDays    = 30 // MPKs are created over the 30 days before today …
	simFutureDays     = 2  // … and the 2 days after, so advancing the clock creates more
	simMaxUpdateDelay = 10 * 24 * time.Hour
	simBulkEdits      = 8                  // per organization: instants at which several MPKs are edited together
	simTieOneIn       = 4                  // one MPK in N is created in the same bulk import as the previous one
	simLongNameOneIn  = 25                 // one MPK in N has a name of exactly 255 characters
	simSeedStream     = 0x696e706f73742d73 // "inpost-s": the PCG stream of the generator
	// simHref is the production host: items carry it whatever host serves them, so the bytes
	// (and raw ids) do not depend on where the simulator listens.
	simHref = "https://api-shipx-pl.easypack24.net"
)

// simTimeLayout is how ShipX writes times: local Polish time with milliseconds and offset.
const simTimeLayout = "2006-01-02T15:04:05.000-07:00"

// simUTCTimeLayout is how Readings.InPostUTCTimes writes them: UTC, "Z", microseconds (what a
// Rails API with its default JSON time precision raised to 6 writes).
const simUTCTimeLayout = "2006-01-02T15:04:05.000000Z07:00"

// SimOrganizations returns the organizations the simulator serves, in order; any other
// organization id is a 404 resource_not_found.
func SimOrganizations() []string { return []string{"1", "2", "3"} }

// SimEnv returns the INPOST_* environment that points a source at a simulator served at baseURL
// (providersim, httptest): devstack and tests pass it to config.Load as getenv.
func SimEnv(baseURL string) map[string]string { return Provider{}.SimEnv(baseURL) }

// SimEnv returns the INPOST_* environment that points a source at a simulator served at baseURL.
func (Provider) SimEnv(baseURL string) map[string]string {
	return map[string]string{
		"INPOST_BASE_URL":      baseURL,
		"INPOST_ACCESS_TOKEN":  SimAccessToken,
		"INPOST_ORGANIZATIONS": strings.Join(SimOrganizations(), ","),
	}
}

// NewSimulator serves the ShipX MPK endpoints from opts.Records synthetic MPKs (≤ 0: 100),
// generated from opts.Seed: the same seed, count and day of opts.Now() give the same MPKs. They
// belong to SimOrganizations(), have globally unique integer ids in creation order, names unique
// within their organization (some exactly 255 characters, with Polish letters), and times in
// Polish local time (+01:00 or +02:00) with milliseconds, as the seed writes them. MPKs are
// created over the 30 days before today and the 2 days after (UTC); one in four comes from the
// same bulk import as the previous one (same created_at and updated_at), and about half are
// updated once or twice later, partly in bulk edits that give several MPKs one updated_at.
// Only what exists at opts.Now() is served: an MPK appears once created_at ≤ now and shows its
// latest version with updated_at ≤ now, so advancing the clock creates and updates MPKs.
//
// GET /v1/organizations/:organization_id/mpks pages (page, per_page; per_page above 100 is
// served as 100 and the response says so) and sorts (sort_by id, name, description, created_at
// or updated_at; sort_order asc or desc; ties by id in the same direction; without sort_by the
// order is id descending, as in the seed's example). GET /v1/mpks/:id serves one MPK. POST and
// PUT are refused with 405: the poller never writes. Errors use ShipX's body {status, error,
// message, details}: 401 for a missing or wrong token (and under Faults.ExpiredToken or
// Faults.MissingToken), 404 resource_not_found for an unknown organization or MPK, 400
// validation_failed for bad parameters. Generic faults (429 with Retry-After, 500, slow
// responses) come from sim.Injector. Truth().Records counts the MPKs existing at now (one
// cost_centers row each) and IDs lists their ids (SimCostCenters gives each one's current
// version); Totals is empty (MPKs carry no money); Requests counts list requests per
// organization id and single reads per "mpk <id>".
//
// Other readings of the seed (opts.Readings), each on its own or together; none changes which
// MPKs exist, their order or the Truth but for Requests:
//   - InPostCountIsPageSize: count is the number of items on the page served, not in the list.
//   - InPostRepeatLastPage: a page past the last serves the last page again, and its page
//     attribute names the page served (the last), not the one asked for; each such answer is
//     counted in Requests under "repeated <organization id>". An empty list serves page 1.
//   - InPostStringIDs: MPK ids are JSON strings ("id":"17"), in the list and in GET
//     /v1/mpks/:id, and so are the list's count, page and per_page ("count":"3"): an API that
//     writes its integers as strings.
//   - InPostUTCTimes: created_at and updated_at are in UTC with "Z" and microseconds
//     ("2026-11-20T11:02:03.123456Z"). The instants gain 1–999 µs, a function of the
//     generated instant, so MPKs that share a time still share it and no two times change
//     places.
func (Provider) NewSimulator(opts sim.Options) sim.Simulator {
	s := &simulator{
		now:      opts.Clock(),
		faults:   opts.Faults,
		readings: opts.Readings,
		orgs:     map[string][]*simMPK{},
		byID:     map[int64]*simMPK{},
		requests: map[string]int{},
	}
	n := opts.Records
	if n <= 0 {
		n = simDefaultRecords
	}
	for _, org := range SimOrganizations() {
		s.orgs[org] = nil
	}
	for _, m := range generate(opts.Seed, n, utcDay(s.now()), opts.Readings) {
		s.orgs[m.org] = append(s.orgs[m.org], m)
		s.byID[m.id] = m
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/v1/organizations/{organization_id}/mpks", s.list)
	mux.HandleFunc("/v1/mpks/{id}", s.get)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, CodeResourceNotFound, "Resource you are looking for are not found")
	})
	s.handler = sim.NewInjector(opts.Faults).Wrap(mux, writeFault)
	return s
}

type simulator struct {
	now      func() time.Time
	faults   sim.Faults
	readings sim.Readings
	orgs     map[string][]*simMPK // in id order
	byID     map[int64]*simMPK
	handler  http.Handler

	mu       sync.Mutex
	requests map[string]int
}

// simMPK is one generated MPK with its whole history.
type simMPK struct {
	org      string
	id       int64
	created  time.Time
	versions []simVersion // ascending updated; versions[0].updated == created
}

type simVersion struct {
	updated           time.Time
	name, description string
	data              json.RawMessage
}

// at returns the version current at now, or nil before the MPK is created.
func (m *simMPK) at(now time.Time) *simVersion {
	var cur *simVersion
	for i := range m.versions {
		if m.versions[i].updated.After(now) {
			break
		}
		cur = &m.versions[i]
	}
	return cur
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Truth counts and lists the MPKs existing at now.
func (s *simulator) Truth() sim.Truth {
	now := s.now()
	t := sim.Truth{Totals: map[string]string{}, Requests: map[string]int{}}
	for _, list := range s.orgs {
		for _, m := range list {
			if m.at(now) != nil {
				t.Records++
				t.IDs = append(t.IDs, strconv.FormatInt(m.id, 10))
			}
		}
	}
	slices.Sort(t.IDs)
	s.mu.Lock()
	for k, v := range s.requests {
		t.Requests[k] = v
	}
	s.mu.Unlock()
	return t
}

func (s *simulator) count(key string) {
	s.mu.Lock()
	s.requests[key]++
	s.mu.Unlock()
}

// authorized writes the 401 and returns false when the request's token is refused.
func (s *simulator) authorized(w http.ResponseWriter, r *http.Request) bool {
	token, hasBearer := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	switch {
	case s.faults.MissingToken:
		writeError(w, http.StatusUnauthorized, "unauthorized", "Access token is required.")
	case s.faults.ExpiredToken:
		writeError(w, http.StatusUnauthorized, "token_expired", "Access token has expired.")
	case !hasBearer || token == "":
		writeError(w, http.StatusUnauthorized, "unauthorized", "Access token is required.")
	case token != SimAccessToken:
		writeError(w, http.StatusUnauthorized, "token_invalid", "Access token is invalid.")
	default:
		return true
	}
	return false
}

// readOnly refuses writes: the seed's POST (create) and PUT (update) are not simulated.
func readOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		return true
	}
	w.Header().Set("Allow", "GET")
	writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "The simulator serves GET only; creating and updating MPKs is not simulated.")
	return false
}

// simSortKeys are the attributes sort_by accepts.
var simSortKeys = map[string]func(a, b *simVersion, x, y *simMPK) int{
	"id":          func(_, _ *simVersion, x, y *simMPK) int { return 0 },
	"name":        func(a, b *simVersion, _, _ *simMPK) int { return strings.Compare(a.name, b.name) },
	"description": func(a, b *simVersion, _, _ *simMPK) int { return strings.Compare(a.description, b.description) },
	"created_at":  func(_, _ *simVersion, x, y *simMPK) int { return x.created.Compare(y.created) },
	"updated_at":  func(a, b *simVersion, _, _ *simMPK) int { return a.updated.Compare(b.updated) },
}

func (s *simulator) list(w http.ResponseWriter, r *http.Request) {
	if !readOnly(w, r) || !s.authorized(w, r) {
		return
	}
	q := r.URL.Query()
	details := map[string][]string{}
	page, ok := simInt(q.Get("page"), 1)
	if !ok {
		details["page"] = []string{"invalid"}
	}
	perPage, ok := simInt(q.Get("per_page"), simDefaultPerPage)
	if !ok {
		details["per_page"] = []string{"invalid"}
	}
	sortBy, order := q.Get("sort_by"), q.Get("sort_order")
	if sortBy == "" {
		sortBy = "id"
		if order == "" {
			order = SortDesc // the seed's example lists ids 3, 2, 1
		}
	}
	key, ok := simSortKeys[sortBy]
	if !ok {
		details["sort_by"] = []string{"invalid"}
	}
	switch order {
	case "":
		order = SortAsc
	case SortAsc, SortDesc:
	default:
		details["sort_order"] = []string{"invalid"}
	}
	if len(details) > 0 {
		writeErrorDetails(w, http.StatusBadRequest, CodeValidationFailed, "Request parameters are not valid. Check details for more info.", details)
		return
	}
	org := r.PathValue("organization_id")
	mpks, known := s.orgs[org]
	if !known {
		writeError(w, http.StatusNotFound, CodeResourceNotFound, "Resource you are looking for are not found")
		return
	}
	s.count(org)

	now := s.now()
	type entry struct {
		m *simMPK
		v *simVersion
	}
	var all []entry
	for _, m := range mpks {
		if v := m.at(now); v != nil {
			all = append(all, entry{m, v})
		}
	}
	slices.SortFunc(all, func(a, b entry) int {
		c := cmp.Or(key(a.v, b.v, a.m, b.m), cmp.Compare(a.m.id, b.m.id))
		if order == SortDesc {
			return -c
		}
		return c
	})
	perPage = min(perPage, simMaxPerPage)
	if last := max(1, (len(all)+perPage-1)/perPage); s.readings.InPostRepeatLastPage && page > last {
		page = last
		s.count("repeated " + org)
	}
	lo := min((page-1)*perPage, len(all))
	hi := min(lo+perPage, len(all))
	items := make([]json.RawMessage, 0, hi-lo)
	for _, e := range all[lo:hi] {
		items = append(items, e.v.data)
	}
	count := len(all)
	if s.readings.InPostCountIsPageSize {
		count = len(items)
	}
	writeJSON(w, http.StatusOK, simCollection{
		Href:    fmt.Sprintf("%s/v1/organizations/%s/mpks", simHref, org),
		Count:   s.number(int64(count)),
		Page:    s.number(int64(page)),
		PerPage: s.number(int64(perPage)),
		Items:   items,
	})
}

// simCollection is Collection as the simulator writes it: its numbers may be strings
// (Readings.InPostStringIDs), which Collection's *int cannot hold.
type simCollection struct {
	Href    string            `json:"href"`
	Count   any               `json:"count"`
	Page    any               `json:"page"`
	PerPage any               `json:"per_page"`
	Items   []json.RawMessage `json:"items"`
}

// number is n as the simulator writes integers: a JSON number, or under
// Readings.InPostStringIDs a string holding it.
func (s *simulator) number(n int64) any { return simNumber(n, s.readings) }

func simNumber(n int64, r sim.Readings) any {
	if r.InPostStringIDs {
		return strconv.FormatInt(n, 10)
	}
	return n
}

// SimCostCenter is an MPK as a simulator serves it now, at its current version: what its
// cost_centers row must hold.
type SimCostCenter struct {
	ID           string // as Truth().IDs lists it
	Organization string
	Name         string
	Description  string
	// CreatedAt and UpdatedAt are the instants served, in UTC (with their microseconds under
	// Readings.InPostUTCTimes).
	CreatedAt, UpdatedAt time.Time
}

// SimCostCenters returns the MPKs an InPost simulator serves now, in the order of its
// Truth().IDs; s must come from Provider.NewSimulator. Tests compare ClickHouse's rows with it.
func SimCostCenters(s sim.Simulator) []SimCostCenter {
	ss := s.(*simulator)
	now := ss.now()
	var out []SimCostCenter
	for _, list := range ss.orgs {
		for _, m := range list {
			if v := m.at(now); v != nil {
				out = append(out, SimCostCenter{
					ID: strconv.FormatInt(m.id, 10), Organization: m.org, Name: v.name, Description: v.description,
					CreatedAt: m.created.UTC(), UpdatedAt: v.updated.UTC(),
				})
			}
		}
	}
	slices.SortFunc(out, func(a, b SimCostCenter) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (s *simulator) get(w http.ResponseWriter, r *http.Request) {
	if !readOnly(w, r) || !s.authorized(w, r) {
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	m := s.byID[id]
	if err != nil || m == nil {
		writeError(w, http.StatusNotFound, CodeResourceNotFound, "Resource you are looking for are not found")
		return
	}
	s.count("mpk " + strconv.FormatInt(id, 10))
	v := m.at(s.now())
	if v == nil {
		writeError(w, http.StatusNotFound, CodeResourceNotFound, "Resource you are looking for are not found")
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(v.data)
}

func simInt(s string, def int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 1 && n <= 1<<30
}

func writeError(w http.ResponseWriter, status int, key, message string) {
	writeErrorDetails(w, status, key, message, map[string][]string{})
}

func writeErrorDetails(w http.ResponseWriter, status int, key, message string, details map[string][]string) {
	d, _ := json.Marshal(details)
	writeJSON(w, status, ErrorBody{Status: status, Error: key, Message: message, Details: d})
}

// writeFault writes the bodies of the injected faults in ShipX's error shape.
func writeFault(w http.ResponseWriter, status int) {
	if status == http.StatusTooManyRequests {
		writeError(w, status, "too_many_requests", "Too many requests. Try again in "+w.Header().Get("Retry-After")+" seconds.")
		return
	}
	writeError(w, status, "internal_server_error", "The server failed to fulfil a request.")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

var (
	simDepartments = []string{
		"Dział Marketingu", "Dział Logistyki", "Dział Sprzedaży", "Dział Obsługi Klienta", "Dział Zakupów",
		"Dział IT", "Magazyn Łódź", "Magazyn Poznań", "Oddział Kraków", "Oddział Gdańsk", "Księgowość", "Zarząd",
	}
	simLongBase = "Centrum Kosztów Łańcucha Dostaw i Zwrotów Reklamacyjnych — Ząbki, ul. Żółkiewskiego; "
	cet         = time.FixedZone("CET", 3600)
	cest        = time.FixedZone("CEST", 7200)
)

// generate makes n MPKs with their histories around today (UTC midnight), written as r says.
// The readings do not change what is drawn: the same seed gives the same MPKs in each.
func generate(seed int64, n int, today time.Time, r sim.Readings) []*simMPK {
	rng := rand.New(rand.NewPCG(uint64(seed), simSeedStream))
	first := today.AddDate(0, 0, -simHistoryDays)
	span := int64((simHistoryDays + simFutureDays) * 24 * time.Hour / time.Millisecond)
	randTime := func(from time.Time, ms int64) time.Time {
		return from.Add(time.Duration(rng.Int64N(ms)) * time.Millisecond)
	}
	orgs := SimOrganizations()
	bulk := map[string][]time.Time{}
	for _, org := range orgs {
		for range simBulkEdits {
			bulk[org] = append(bulk[org], randTime(first, span+int64(24*time.Hour/time.Millisecond)))
		}
		slices.SortFunc(bulk[org], time.Time.Compare)
	}

	// Creation times first, so ids follow creation order like a database sequence.
	out := make([]*simMPK, n)
	for i := range n {
		m := &simMPK{}
		if i > 0 && rng.IntN(simTieOneIn) == 0 {
			m.org, m.created = out[i-1].org, out[i-1].created
		} else {
			m.org, m.created = orgs[rng.IntN(len(orgs))], randTime(first, span)
		}
		out[i] = m
	}
	slices.SortStableFunc(out, func(a, b *simMPK) int { return a.created.Compare(b.created) })

	seq := map[string]int{}
	for i, m := range out {
		m.id = int64(i + 1)
		seq[m.org]++
		n := seq[m.org]
		long := rng.IntN(simLongNameOneIn) == 0
		dept := simDepartments[rng.IntN(len(simDepartments))]
		name := simName(dept, n, long)
		desc := fmt.Sprintf("%s: przesyłki kurierskie, budżet %d zł miesięcznie", dept, 500*(1+rng.IntN(40)))
		m.versions = append(m.versions, simVersion{updated: m.created, name: name, description: desc})

		updates := 0
		switch r := rng.IntN(20); {
		case r < 7:
			updates = 1
		case r < 10:
			updates = 2
		}
		at := m.created
		for range updates {
			next := at.Add(time.Minute + time.Duration(rng.Int64N(int64(simMaxUpdateDelay/time.Millisecond)))*time.Millisecond)
			if rng.IntN(2) == 0 {
				// A bulk edit: the first one after the previous version, when there is one.
				if i := slices.IndexFunc(bulk[m.org], func(t time.Time) bool { return t.After(at) }); i >= 0 {
					next = bulk[m.org][i]
				}
			}
			at = next
			v := m.versions[len(m.versions)-1]
			v.updated = at
			if !long && rng.IntN(2) == 0 {
				dept = simDepartments[rng.IntN(len(simDepartments))]
				v.name = simName(dept, n, false) // still unique: the number is the organization's
			}
			v.description = fmt.Sprintf("%s: przesyłki kurierskie, budżet %d zł miesięcznie (zmiana %d)", dept, 500*(1+rng.IntN(40)), len(m.versions))
			m.versions = append(m.versions, v)
		}
	}
	for _, m := range out {
		if r.InPostUTCTimes {
			m.created = simMicros(m.created)
			for j := range m.versions {
				m.versions[j].updated = simMicros(m.versions[j].updated)
			}
		}
		m.encode(r)
	}
	slices.SortFunc(out, func(a, b *simMPK) int { return cmp.Compare(a.id, b.id) })
	return out
}

// encode writes every version's JSON as r says.
func (m *simMPK) encode(r sim.Readings) {
	format := func(t time.Time) string { return warsaw(t).Format(simTimeLayout) }
	if r.InPostUTCTimes {
		format = func(t time.Time) string { return t.UTC().Format(simUTCTimeLayout) }
	}
	for j := range m.versions {
		v := &m.versions[j]
		v.data, _ = json.Marshal(struct {
			Href        string `json:"href"`
			ID          any    `json:"id"`
			Name        string `json:"name"`
			Description string `json:"description"`
			CreatedAt   string `json:"created_at"`
			UpdatedAt   string `json:"updated_at"`
		}{
			Href:        fmt.Sprintf("%s/v1/mpks/%d", simHref, m.id),
			ID:          simNumber(m.id, r),
			Name:        v.name,
			Description: v.description,
			CreatedAt:   format(m.created),
			UpdatedAt:   format(v.updated),
		})
	}
}

// simMicros adds the sub-millisecond part Readings.InPostUTCTimes serves to a generated
// instant (whole milliseconds): 1–999 µs, never 0 so every time shows it, and a function of the
// instant so MPKs sharing a time keep sharing it; as different instants are at least 1 ms apart
// their order is kept too.
func simMicros(t time.Time) time.Time {
	us := 1 + uint64(t.UnixMilli())*2654435761%999 // Knuth's multiplicative hash spreads neighbours
	return t.Add(time.Duration(us) * time.Microsecond)
}

// simName is "<department> <n>" (n is unique within the organization), or, when long, a name of
// exactly maxNameLength characters ending in " <n>".
func simName(dept string, n int, long bool) string {
	suffix := fmt.Sprintf(" %d", n)
	if !long {
		return dept + suffix
	}
	var b strings.Builder
	for utf8.RuneCountInString(b.String()) < maxNameLength {
		b.WriteString(simLongBase)
	}
	return string([]rune(b.String())[:maxNameLength-utf8.RuneCountInString(suffix)]) + suffix
}

// warsaw returns t in Polish local time (CET, or CEST from the last Sunday of March to the last
// Sunday of October, switching at 01:00 UTC), without depending on the host's zone database.
func warsaw(t time.Time) time.Time {
	y := t.UTC().Year()
	start := lastSunday(y, time.March).Add(time.Hour)
	end := lastSunday(y, time.October).Add(time.Hour)
	if !t.Before(start) && t.Before(end) {
		return t.In(cest)
	}
	return t.In(cet)
}

func lastSunday(year int, month time.Month) time.Time {
	d := time.Date(year, month+1, 0, 0, 0, 0, 0, time.UTC) // the month's last day
	return d.AddDate(0, 0, -int(d.Weekday()))
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}
