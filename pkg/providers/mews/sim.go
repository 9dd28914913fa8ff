package mews

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Credentials the simulator accepts; anything else is refused like the real API refuses it.
const (
	SimClientToken = "sim-client-token"
	SimAccessToken = "sim-access-token"
)

// Simulator behaviour.
const (
	simDefaultRecords = 100
	simOtherShare     = 5                   // each other entity type has Records/5 entities (at least 1)
	simSpan           = 20 * 24 * time.Hour // entities were updated in the 20 days before the anchor
	simLinesPerFile   = 50                  // lines per export file
	simExportTTL      = 24 * time.Hour      // a Success export expires this long after it succeeded
	simURLTTL         = 10 * time.Minute    // the seed's URL lifetime
	simSeedStream     = 0x6d6577732d73696d  // "mews-sim": the PCG stream of the generators
)

// simEnterprise is a property the simulator serves: its currency and VAT rate (permille).
type simEnterprise struct {
	id, name, currency, taxCode string
	rate                        int64
	priceScale                  int64
}

var simEnterprises = []simEnterprise{
	{"4d0201db-36f5-428b-8d11-4f0a65e960cc", "Hotel Berlin Mitte", "EUR", "DE-2020-7%", 70, 1},
	{"3fa85f64-5717-4562-b3fc-2c963f66afa6", "Hotel Praha Karlin", "CZK", "CZ-2024-12%", 120, 25},
	{"9b2e7c1a-0f4d-4e8b-a6c2-5d3f8e1b7a90", "Hotel London Soho", "GBP", "UK-2011-20%", 200, 1},
}

// simChain is the chain the enterprises belong to: Customers and Companies are chain-wide.
const simChain = "1df21f06-0cfc-4960-9c58-a3bf1261663e"

// SimEnterprises returns the enterprise ids the simulator serves, in order.
func SimEnterprises() []string {
	ids := make([]string, len(simEnterprises))
	for i, e := range simEnterprises {
		ids[i] = e.id
	}
	return ids
}

// SimChains returns the chain ids the simulator serves.
func SimChains() []string { return []string{simChain} }

// chainLevel entity types belong to a chain (Scope.ChainIds selects them); the others to an
// enterprise (Scope.EnterpriseIds). The seed's own example exports a Company by ChainIds.
func chainLevel(entityType string) bool {
	return entityType == EntityCustomer || entityType == EntityCompany
}

// SimEnv returns the MEWS_* environment that points a source at a simulator served at baseURL
// (providersim, httptest): devstack and tests pass it to config.Load as getenv.
func SimEnv(baseURL string) map[string]string { return Provider{}.SimEnv(baseURL) }

// SimEnv returns the MEWS_* environment that points a source at a simulator served at baseURL:
// its credentials, every entity type (the default), its enterprises and chain as the scope, and
// its host as one whose file URLs may be plain http.
func (Provider) SimEnv(baseURL string) map[string]string {
	host := ""
	if u, err := url.Parse(baseURL); err == nil {
		host = u.Host // the simulator serves its files over plain http from its own host
	}
	return map[string]string{
		"MEWS_BASE_URL":        baseURL,
		"MEWS_HTTP_FILE_HOSTS": host,
		"MEWS_CLIENT_TOKEN":    SimClientToken,
		"MEWS_ACCESS_TOKEN":    SimAccessToken,
		"MEWS_ENTERPRISE_IDS":  strings.Join(SimEnterprises(), ","),
		"MEWS_CHAIN_IDS":       simChain,
	}
}

// NewSimulator serves exports/add, exports/getAll and the export files (see Simulator).
func (Provider) NewSimulator(opts sim.Options) sim.Simulator { return NewSimulator(opts) }

// Simulator serves the Mews export operations from deterministic synthetic entities.
//
// Data: opts.Records Bills (≤ 0: 100) and Records/5 (at least one) entities of each other entity
// type, generated from opts.Seed, on SimEnterprises() (EUR, CZK, GBP) and the chain SimChains().
// Every entity was last updated during the 20 days before the anchor, the start of the hour of
// opts.Now() at construction minus one hour: the same seed, count and hour give the same data,
// and all of it can be exported (it is older than the 5-minute rule). Bills carry Id, Number,
// State (Open, or Closed with IssuedUtc), Type, AccountId (a Customer with CustomerId, or a
// Company), CreatedUtc, UpdatedUtc and one to three items whose Amount holds NetValue,
// GrossValue and TaxValues in the enterprise's currency. Where those items are is
// opts.Readings.BillMoney: "" or "revenue", embedded as Revenue items; "amount", summed into
// the bill's own Amount, Revenue null; "order-items", nowhere on the bill (Revenue null): they
// are OrderItems (same Ids, BillId = the bill's Id, updated when the bill was) added to the
// OrderItem export. Any other value reads as "revenue". The bills, their items and the truth
// are the same in every reading, and the default's output is byte for byte what it was before
// the readings existed. The other OrderItems name bills that do not exist.
//
// Exports: exports/add validates the body (credentials, EntityType, Scope ≤ 1000 GUIDs, an
// UpdatedUtc interval that ends at least 5 minutes before opts.Now() and spans at most 180 days;
// 400 otherwise) and refuses with 403 while an export of the same entity type is Pending or
// Processing. Status advances by poll count: each exports/getAll answer that includes an export
// moves it one step, Pending → Processing → Success (or Failed after FailNext), so an export
// succeeds on the second getAll after its add. On success the export snapshots the entities of
// its type, scope and interval [StartUtc, EndUtc) that exist at opts.Now(), ordered by
// UpdatedUtc then Id, into JSON Lines files of 50 lines; it expires 24 hours later (Status
// Expired, no files). getAll without ExportIds lists every export.
//
// Files are served by the simulator itself at <base>/exports/<id>-<n>.jsonl with a signature
// and the time getAll issued the URL; the URL works for 10 minutes of opts.Now() (403 after, and
// for a bad signature, and one download in Faults.ExpireURLEvery however fresh), honours Range
// (206) and counts in Truth().Requests.
//
// Refusals use Mews's body {Message, RequestId, Details}: 401 for a wrong ClientToken or
// AccessToken, under Faults.ExpiredToken ("expired") and under Faults.MissingToken. Generic
// faults (429 with Retry-After, 500, slow responses) come from sim.Injector and hit files too.
// Truth().Records is the number of Bills that exist at opts.Now() (one invoice.v1 event each),
// IDs their Ids, Totals the GrossValue of their items per currency (BillTotals per bill); Requests counts "add <EntityType> <StartUtc>..<EndUtc>",
// "add-refused <EntityType>", "getAll", "file <id> <n>" (downloads served), "range <id> <n>"
// (of which resumed with Range) and "url-expired" (403 for an expired URL).
type Simulator struct {
	now     func() time.Time
	faults  sim.Faults
	seed    int64
	data    map[string][]simEntity // by entity type, sorted by (updated, id)
	handler http.Handler

	mu        sync.Mutex
	exports   []*simExport
	byID      map[string]*simExport
	exportRNG *rand.Rand
	requestN  int
	downloads int // file requests with a valid signature, for Faults.ExpireURLEvery
	requests  map[string]int
	failNext  map[string]int
}

type simEntity struct {
	id       string
	scope    string // enterprise id, or chain id for chain-level types
	updated  time.Time
	currency string // bills: the currency of gross and net
	gross    string // bills: the sum of their items' GrossValues
	net      string // bills: the sum of their items' NetValues
	data     []byte
}

type simExport struct {
	Export
	start, end time.Time // UpdatedUtc filter; zero: none
	expires    time.Time
	files      [][]byte
}

// NewSimulator returns a simulator for opts (see Simulator).
func NewSimulator(opts sim.Options) *Simulator {
	s := &Simulator{
		now:       opts.Clock(),
		faults:    opts.Faults,
		seed:      opts.Seed,
		byID:      map[string]*simExport{},
		exportRNG: rand.New(rand.NewPCG(uint64(opts.Seed), simSeedStream^0xe)),
		requests:  map[string]int{},
		failNext:  map[string]int{},
	}
	n := opts.Records
	if n <= 0 {
		n = simDefaultRecords
	}
	anchor := s.now().UTC().Truncate(time.Hour).Add(-time.Hour)
	s.data = generate(opts.Seed, n, anchor, opts.Readings.BillMoney)

	mux := http.NewServeMux()
	mux.HandleFunc(pathAddExport, s.add)
	mux.HandleFunc(pathGetExports, s.getAll)
	mux.HandleFunc("/exports/{name}", s.file)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.writeError(w, http.StatusNotFound, "The requested operation does not exist.")
	})
	s.handler = sim.NewInjector(opts.Faults).Wrap(mux, func(w http.ResponseWriter, status int) {
		msg := "Unexpected error."
		if status == http.StatusTooManyRequests {
			msg = "Too many requests. Retry after " + w.Header().Get("Retry-After") + " seconds."
		}
		s.writeError(w, status, msg)
	})
	return s
}

func (s *Simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// FailNext makes the next export of entityType that finishes processing end Failed.
func (s *Simulator) FailNext(entityType string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failNext[entityType]++
}

// Entities returns how many entities of entityType exist at opts.Now().
func (s *Simulator) Entities(entityType string) int {
	now := s.now()
	n := 0
	for _, e := range s.data[entityType] {
		if !e.updated.After(now) {
			n++
		}
	}
	return n
}

// Truth counts the Bills that exist at opts.Now() (IDs: their Ids) and the GrossValue of their
// items per currency, whichever Readings.BillMoney says where the money is.
func (s *Simulator) Truth() sim.Truth {
	now := s.now()
	t := sim.Truth{Totals: map[string]string{}, Requests: map[string]int{}}
	amounts := map[string][]string{}
	for _, b := range s.data[EntityBill] {
		if b.updated.After(now) {
			continue
		}
		t.Records++
		t.IDs = append(t.IDs, b.id)
		amounts[b.currency] = append(amounts[b.currency], b.gross)
	}
	slices.Sort(t.IDs)
	for cur, a := range amounts {
		t.Totals[cur], _ = events.AddDecimals(a...) // generated amounts are always decimals
	}
	s.mu.Lock()
	for k, v := range s.requests {
		t.Requests[k] = v
	}
	s.mu.Unlock()
	return t
}

// SimMoney is a bill's money as the simulator made it: exact decimals in one currency.
type SimMoney struct{ Currency, Gross, Net string }

// BillTotals returns, by bill Id, the total of every Bill that exists at opts.Now(): the sums
// of its items' GrossValue and NetValue, which are also its own Amount under BillMoney
// "amount" and the sums of its order items under "order-items".
func (s *Simulator) BillTotals() map[string]SimMoney {
	now := s.now()
	out := map[string]SimMoney{}
	for _, b := range s.data[EntityBill] {
		if !b.updated.After(now) {
			out[b.id] = SimMoney{Currency: b.currency, Gross: b.gross, Net: b.net}
		}
	}
	return out
}

func (s *Simulator) count(key string) {
	s.mu.Lock()
	s.requests[key]++
	s.mu.Unlock()
}

// decode reads a POST body and checks the credentials, writing the refusal itself; ok is false
// when the request was answered.
func (s *Simulator) decode(w http.ResponseWriter, r *http.Request, v any) (ok bool) {
	if r.Method != http.MethodPost {
		s.writeError(w, http.StatusMethodNotAllowed, "Operations are invoked with POST.")
		return false
	}
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil {
		s.writeError(w, http.StatusBadRequest, "Invalid request body: "+poll.SafeText(err.Error()))
		return false
	}
	var c Credentials
	switch x := v.(type) {
	case *AddExportRequest:
		c = x.Credentials
	case *GetExportsRequest:
		c = x.Credentials
	}
	switch {
	case s.faults.MissingToken:
		s.writeError(w, http.StatusUnauthorized, "Missing or invalid ClientToken; the client application must be registered.")
	case !equal(c.ClientToken, SimClientToken):
		s.writeError(w, http.StatusUnauthorized, "Invalid ClientToken.")
	case s.faults.ExpiredToken:
		s.writeError(w, http.StatusUnauthorized, "The AccessToken has expired.")
	case !equal(c.AccessToken, SimAccessToken):
		s.writeError(w, http.StatusUnauthorized, "Invalid AccessToken.")
	case strings.TrimSpace(c.Client) == "":
		s.writeError(w, http.StatusBadRequest, "Client is required.")
	default:
		return true
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

func (s *Simulator) add(w http.ResponseWriter, r *http.Request) {
	var req AddExportRequest
	if !s.decode(w, r, &req) {
		return
	}
	if !isEntityType(req.EntityType) {
		s.writeError(w, http.StatusBadRequest, fmt.Sprintf("Invalid EntityType '%s'.", poll.SafeText(req.EntityType)))
		return
	}
	scope := Scope{}
	if req.Scope != nil {
		scope = Scope{EnterpriseIDs: req.Scope.EnterpriseIDs, ChainIDs: req.Scope.ChainIDs}
	}
	for _, list := range []struct {
		name string
		ids  []string
	}{{"EnterpriseIds", scope.EnterpriseIDs}, {"ChainIds", scope.ChainIDs}} {
		name, ids := list.name, list.ids
		if len(ids) > MaxScopeIDs {
			s.writeError(w, http.StatusBadRequest, fmt.Sprintf("Scope.%s must have at most %d items.", name, MaxScopeIDs))
			return
		}
		for _, id := range ids {
			if !guid.MatchString(id) {
				s.writeError(w, http.StatusBadRequest, fmt.Sprintf("Scope.%s: '%s' is not a valid identifier.", name, poll.SafeText(id)))
				return
			}
		}
	}
	now := s.now()
	exp := &simExport{Export: Export{
		Status: StatusPending, EntityType: req.EntityType, Scope: &scope, Files: []File{}, Filters: req.Filters,
	}}
	window := "all"
	if req.Filters != nil && req.Filters.UpdatedUtc != nil {
		iv := req.Filters.UpdatedUtc
		start, err1 := time.Parse(time.RFC3339Nano, iv.StartUtc)
		end, err2 := time.Parse(time.RFC3339Nano, iv.EndUtc)
		switch {
		case err1 != nil || err2 != nil:
			s.writeError(w, http.StatusBadRequest, "Filters.UpdatedUtc: StartUtc and EndUtc must be ISO 8601 UTC date-times.")
			return
		case !start.Before(end):
			s.writeError(w, http.StatusBadRequest, "Filters.UpdatedUtc: StartUtc must be before EndUtc.")
			return
		case end.After(now.Add(-MinEndLag)):
			s.writeError(w, http.StatusBadRequest, "Filters.UpdatedUtc: the end of the interval must be no later than 5 minutes in the past.")
			return
		case end.Sub(start) > MaxWindow:
			s.writeError(w, http.StatusBadRequest, "Filters.UpdatedUtc: the maximum interval is 180 days.")
			return
		}
		exp.start, exp.end = start.UTC(), end.UTC()
		window = iv.StartUtc + ".." + iv.EndUtc
	}

	s.mu.Lock()
	for _, e := range s.exports {
		if e.EntityType == req.EntityType && (e.Status == StatusPending || e.Status == StatusProcessing) {
			s.requests["add-refused "+req.EntityType]++
			s.mu.Unlock()
			s.writeError(w, http.StatusForbidden, fmt.Sprintf("An export of entity type %s is already %s.", req.EntityType, e.Status))
			return
		}
	}
	exp.ID = simUUID(s.exportRNG)
	s.exports = append(s.exports, exp)
	s.byID[exp.ID] = exp
	s.requests["add "+req.EntityType+" "+window]++
	out := exp.Export
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, AddExportResponse{Export: out})
}

func (s *Simulator) getAll(w http.ResponseWriter, r *http.Request) {
	var req GetExportsRequest
	if !s.decode(w, r, &req) {
		return
	}
	now := s.now()
	s.mu.Lock()
	s.requests["getAll"]++
	var list []*simExport
	if len(req.ExportIDs) == 0 {
		list = slices.Clone(s.exports)
	}
	for _, id := range req.ExportIDs {
		if e, ok := s.byID[id]; ok {
			list = append(list, e)
		}
	}
	out := make([]Export, 0, len(list))
	for _, e := range list {
		s.advance(e, now)
		out = append(out, s.render(r, e, now))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, GetExportsResponse{Exports: out})
}

// advance moves an export one step of its life; s.mu is held.
func (s *Simulator) advance(e *simExport, now time.Time) {
	switch e.Status {
	case StatusPending:
		e.Status = StatusProcessing
	case StatusProcessing:
		if s.failNext[e.EntityType] > 0 {
			s.failNext[e.EntityType]--
			e.Status = StatusFailed
			return
		}
		e.Status, e.expires, e.files = StatusSuccess, now.Add(simExportTTL), s.snapshot(e, now)
	case StatusSuccess:
		if !now.Before(e.expires) {
			e.Status, e.files = StatusExpired, nil
		}
	}
}

// snapshot writes the export's entities as JSON Lines files.
func (s *Simulator) snapshot(e *simExport, now time.Time) [][]byte {
	var ids []string
	if chainLevel(e.EntityType) {
		ids = e.Scope.ChainIDs
	} else {
		ids = e.Scope.EnterpriseIDs
	}
	var files [][]byte
	var buf bytes.Buffer
	lines := 0
	for _, ent := range s.data[e.EntityType] {
		switch {
		case ent.updated.After(now),
			!e.start.IsZero() && (ent.updated.Before(e.start) || !ent.updated.Before(e.end)),
			len(ids) > 0 && !slices.ContainsFunc(ids, func(id string) bool { return strings.EqualFold(id, ent.scope) }):
			continue
		}
		buf.Write(ent.data)
		buf.WriteByte('\n')
		if lines++; lines == simLinesPerFile {
			files = append(files, bytes.Clone(buf.Bytes()))
			buf.Reset()
			lines = 0
		}
	}
	if lines > 0 {
		files = append(files, bytes.Clone(buf.Bytes()))
	}
	return files
}

// render is the export as getAll shows it, with file URLs issued now; s.mu is held.
func (s *Simulator) render(r *http.Request, e *simExport, now time.Time) Export {
	out := e.Export
	out.Files = []File{}
	if e.Status == StatusSuccess || e.Status == StatusExpired {
		exp := e.expires.UTC().Format(timeLayout)
		out.ExpiresUtc = &exp
	}
	if e.Status == StatusSuccess {
		for i, f := range e.files {
			out.Files = append(out.Files, File{URL: s.fileURL(r, e.ID, i+1, now), SizeInBytes: int64(len(f))})
		}
	}
	return out
}

// fileURL is the signed URL of file n (1-based) of export id, issued at now. The simulator
// sits below whatever prefix its server mounts it at (providersim strips /mews), so the prefix
// is what RequestURI has in front of the path the handler sees.
func (s *Simulator) fileURL(r *http.Request, id string, n int, now time.Time) string {
	scheme := "http"
	if r.TLS != nil {
		scheme = "https"
	}
	prefix := ""
	if u, err := url.ParseRequestURI(r.RequestURI); err == nil {
		prefix = strings.TrimSuffix(u.Path, r.URL.Path)
	}
	issued := strconv.FormatInt(now.Unix(), 10)
	q := url.Values{"issued": {issued}, "sig": {s.sign(id, n, issued)}}
	return scheme + "://" + r.Host + prefix + "/exports/" + id + "-" + strconv.Itoa(n) + ".jsonl?" + q.Encode()
}

func (s *Simulator) sign(id string, n int, issued string) string {
	sum := sha256.Sum256(fmt.Appendf(nil, "mews-sim|%d|%s|%d|%s", s.seed, id, n, issued))
	return hex.EncodeToString(sum[:16])
}

func (s *Simulator) file(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	name, ok := strings.CutSuffix(r.PathValue("name"), ".jsonl")
	cut := strings.LastIndexByte(name, '-')
	if !ok || cut < 0 {
		http.Error(w, "BlobNotFound: the specified blob does not exist.", http.StatusNotFound)
		return
	}
	id := name[:cut]
	n, err := strconv.Atoi(name[cut+1:])
	q := r.URL.Query()
	issued, ierr := strconv.ParseInt(q.Get("issued"), 10, 64)
	if err != nil || ierr != nil || !equal(q.Get("sig"), s.sign(id, n, q.Get("issued"))) {
		http.Error(w, "AuthenticationFailed: signature did not match.", http.StatusForbidden)
		return
	}
	now := s.now()
	if now.After(time.Unix(issued, 0).Add(simURLTTL)) || s.expireFault() {
		s.count("url-expired")
		http.Error(w, "AuthenticationFailed: signature not valid in the specified time frame.", http.StatusForbidden)
		return
	}
	s.mu.Lock()
	e, known := s.byID[id]
	var data []byte
	if known && e.Status == StatusSuccess && n >= 1 && n <= len(e.files) {
		data = e.files[n-1]
	}
	key := id + " " + strconv.Itoa(n)
	if data != nil {
		s.requests["file "+key]++
		if r.Header.Get("Range") != "" {
			s.requests["range "+key]++
		}
	}
	s.mu.Unlock()
	if data == nil {
		http.Error(w, "BlobNotFound: the specified blob does not exist.", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/x-ndjson")
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(data))
}

// expireFault reports whether this download is refused as expired under Faults.ExpireURLEvery.
func (s *Simulator) expireFault() bool {
	if s.faults.ExpireURLEvery <= 0 {
		return false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.downloads++
	return s.downloads%s.faults.ExpireURLEvery == 0
}

// writeError writes Mews's error body.
func (s *Simulator) writeError(w http.ResponseWriter, status int, message string) {
	s.mu.Lock()
	s.requestN++
	sum := sha256.Sum256(fmt.Appendf(nil, "mews-sim-request|%d|%d", s.seed, s.requestN))
	s.mu.Unlock()
	rid := hex.EncodeToString(sum[:16])
	writeJSON(w, status, struct {
		Message   string          `json:"Message"`
		RequestID string          `json:"RequestId"`
		Details   json.RawMessage `json:"Details"`
	}{message, rid, json.RawMessage("null")})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(b)
}

// simBill is a Bill as the simulator writes it, in Mews's field order; nil pointers are null.
type simBill struct {
	ID                   string       `json:"Id"`
	Name                 *string      `json:"Name"`
	EnterpriseID         string       `json:"EnterpriseId"`
	AccountID            string       `json:"AccountId"`
	AccountType          string       `json:"AccountType"`
	CustomerID           *string      `json:"CustomerId"`
	CompanyID            *string      `json:"CompanyId"`
	AssociatedAccountIDs []string     `json:"AssociatedAccountIds"`
	CounterID            *string      `json:"CounterId"`
	State                string       `json:"State"`
	Type                 string       `json:"Type"`
	Number               *string      `json:"Number"`
	VariableSymbol       *string      `json:"VariableSymbol"`
	CreatedUtc           string       `json:"CreatedUtc"`
	IssuedUtc            *string      `json:"IssuedUtc"`
	TaxedUtc             *string      `json:"TaxedUtc"`
	PaidUtc              *string      `json:"PaidUtc"`
	DueUtc               *string      `json:"DueUtc"`
	UpdatedUtc           string       `json:"UpdatedUtc"`
	Notes                *string      `json:"Notes"`
	Amount               *simAmount   `json:"Amount,omitempty"` // BillMoney "amount" only
	Revenue              []simRevenue `json:"Revenue"`          // null under "amount" and "order-items"
	CorrectionState      string       `json:"CorrectionState"`
	CorrectionType       *string      `json:"CorrectionType"`
	CorrectedBillID      *string      `json:"CorrectedBillId"`
}

type simRevenue struct {
	ID             string    `json:"Id"`
	AccountID      string    `json:"AccountId"`
	BillID         string    `json:"BillId"`
	Type           string    `json:"Type"`
	SubType        *string   `json:"SubType"`
	Name           string    `json:"Name"`
	ConsumptionUtc string    `json:"ConsumptionUtc"`
	State          string    `json:"State"`
	Amount         simAmount `json:"Amount"`
}

type simAmount struct {
	Currency   string      `json:"Currency"`
	NetValue   json.Number `json:"NetValue"`
	GrossValue json.Number `json:"GrossValue"`
	TaxValues  []TaxValue  `json:"TaxValues"`
}

// simOrderItem is an OrderItem as the simulator writes it under BillMoney "order-items" (one per
// revenue item the bill would otherwise embed, same Id), in Mews's field order; nil pointers
// are null.
type simOrderItem struct {
	ID              string    `json:"Id"`
	EnterpriseID    string    `json:"EnterpriseId"`
	AccountID       string    `json:"AccountId"`
	AccountType     string    `json:"AccountType"`
	ServiceID       string    `json:"ServiceId"`
	ServiceOrderID  string    `json:"ServiceOrderId"`
	Notes           *string   `json:"Notes"`
	BillID          string    `json:"BillId"`
	BillingName     string    `json:"BillingName"`
	UnitCount       int64     `json:"UnitCount"`
	UnitAmount      simAmount `json:"UnitAmount"`
	Amount          simAmount `json:"Amount"`
	RevenueType     string    `json:"RevenueType"`
	CreatedUtc      string    `json:"CreatedUtc"`
	UpdatedUtc      string    `json:"UpdatedUtc"`
	ConsumedUtc     string    `json:"ConsumedUtc"`
	CanceledUtc     *string   `json:"CanceledUtc"`
	ClosedUtc       *string   `json:"ClosedUtc"`
	AccountingState string    `json:"AccountingState"`
	Type            string    `json:"Type"`
}

// simProduct is what a revenue item sells; net prices in cents (of EUR or GBP; CZK scales).
type simProduct struct {
	typ, name        string
	loCents, hiCents int64
	perNight         bool
}

var simProducts = []simProduct{
	{"ServiceRevenue", "Accommodation", 8000, 25000, true},
	{"ProductRevenue", "Breakfast", 1200, 2500, false},
	{"AdditionalRevenue", "Parking", 1000, 3000, false},
	{"ProductRevenue", "EV charging", 800, 4500, false},
}

// generate makes the entities of every type, updated in the simSpan before anchor. billMoney is
// sim.Readings.BillMoney: under "amount" and "order-items" the bills are drawn exactly as under
// "revenue" (the same ids, times and items, so the same truth), then their items move to the
// bill's own Amount, or out of the bill into order items of the OrderItem export.
func generate(seed int64, n int, anchor time.Time, billMoney string) map[string][]simEntity {
	out := map[string][]simEntity{}
	var billed []simEntity // order items of bills, under "order-items"
	for ti, et := range EntityTypes() {
		rng := rand.New(rand.NewPCG(uint64(seed), simSeedStream^uint64(ti+1)))
		count := max(1, n/simOtherShare)
		if et == EntityBill {
			count = n
		}
		list := make([]simEntity, 0, count)
		for i := range count {
			updated := anchor.Add(-time.Duration(1+rng.Int64N(int64(simSpan/time.Second))) * time.Second)
			ent := simEntity{id: simUUID(rng), updated: updated}
			ent.scope = simEnterprises[rng.IntN(len(simEnterprises))].id
			if chainLevel(et) {
				ent.scope = simChain
			}
			if et == EntityBill {
				billed = append(billed, genBill(rng, &ent, i, billMoney)...)
			} else {
				ent.data = genOther(rng, et, ent)
			}
			list = append(list, ent)
		}
		slices.SortFunc(list, func(a, b simEntity) int {
			return cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id))
		})
		out[et] = list
	}
	if len(billed) > 0 {
		list := append(out[EntityOrderItem], billed...)
		slices.SortFunc(list, func(a, b simEntity) int {
			return cmp.Or(a.updated.Compare(b.updated), cmp.Compare(a.id, b.id))
		})
		out[EntityOrderItem] = list
	}
	return out
}

func enterprise(id string) simEnterprise {
	for _, e := range simEnterprises {
		if e.id == id {
			return e
		}
	}
	return simEnterprises[0]
}

func ptr(s string) *string { return &s }

func simTime(t time.Time) string { return t.UTC().Format(timeLayout) }

// genBill fills a Bill: four in five are Closed (issued, numbered), the rest Open; one to three
// items whose money is where billMoney says (see generate). Under "order-items" it returns the
// bill's order items, updated when the bill was (so they exist exactly when it does); it draws
// the same random numbers in every reading.
func genBill(rng *rand.Rand, ent *simEntity, seq int, billMoney string) []simEntity {
	ent2 := enterprise(ent.scope)
	created := ent.updated.Add(-time.Duration(rng.Int64N(int64(7*24*time.Hour/time.Second))) * time.Second)
	b := simBill{
		ID: ent.id, EnterpriseID: ent2.id, AccountID: simUUID(rng), State: "Open", Type: "Receipt",
		AssociatedAccountIDs: []string{}, CreatedUtc: simTime(created), UpdatedUtc: simTime(ent.updated),
		CorrectionState: "Bill", CounterID: ptr(simUUID(rng)),
	}
	if rng.IntN(4) == 0 {
		b.AccountType = "Company"
		b.CompanyID = ptr(b.AccountID)
	} else {
		b.AccountType = "Customer"
		b.CustomerID = ptr(b.AccountID)
	}
	if rng.IntN(5) != 0 {
		issued := ent.updated.Add(-time.Duration(rng.Int64N(int64(2*time.Hour/time.Second))) * time.Second)
		if issued.Before(created) {
			issued = created
		}
		b.State, b.IssuedUtc, b.TaxedUtc = "Closed", ptr(simTime(issued)), ptr(simTime(issued))
		b.Number = ptr(fmt.Sprintf("%d%06d", issued.Year(), seq+1))
		b.VariableSymbol = b.Number
		if rng.IntN(3) == 0 {
			b.Type, b.DueUtc = "Invoice", ptr(simTime(issued.Add(14*24*time.Hour)))
		} else {
			b.PaidUtc = ptr(simTime(issued))
		}
	}
	k := 1 + rng.IntN(3)
	grosses := make([]string, 0, k)
	nets := make([]string, 0, k)
	var (
		items            []simOrderItem
		netSum, grossSum int64
		issued           *string
	)
	if b.State == "Closed" {
		issued = b.IssuedUtc
	}
	for range k {
		p := simProducts[rng.IntN(len(simProducts))]
		unitNet := (p.loCents + rng.Int64N(p.hiCents-p.loCents+1)) * ent2.priceScale
		units := int64(1)
		if p.perNight {
			units = 1 + rng.Int64N(4)
		}
		net := unitNet * units
		gross := (net*(1000+ent2.rate) + 500) / 1000
		item := simRevenue{
			ID: simUUID(rng), AccountID: b.AccountID, BillID: b.ID, Type: p.typ, Name: p.name,
			ConsumptionUtc: simTime(created.Add(time.Duration(rng.Int64N(int64(24*time.Hour/time.Second))) * time.Second)),
			State:          "Closed",
			Amount: simAmount{
				Currency: ent2.currency, NetValue: json.Number(decimalText(net)), GrossValue: json.Number(decimalText(gross)),
				TaxValues: []TaxValue{{Code: ent2.taxCode, Value: json.Number(decimalText(gross - net))}},
			},
		}
		if b.State == "Open" {
			item.State = "Open"
		}
		b.Revenue = append(b.Revenue, item)
		grosses = append(grosses, decimalText(gross))
		nets = append(nets, decimalText(net))
		netSum, grossSum = netSum+net, grossSum+gross
		unitGross := (unitNet*(1000+ent2.rate) + 500) / 1000
		items = append(items, simOrderItem{
			ID: item.ID, EnterpriseID: ent2.id, AccountID: b.AccountID, AccountType: b.AccountType,
			ServiceID:      derivedUUID("service", ent2.id, strconv.FormatBool(p.perNight)),
			ServiceOrderID: derivedUUID("service-order", b.ID), BillID: b.ID, BillingName: p.name,
			UnitCount: units, Amount: item.Amount,
			UnitAmount: simAmount{
				Currency: ent2.currency, NetValue: json.Number(decimalText(unitNet)), GrossValue: json.Number(decimalText(unitGross)),
				TaxValues: []TaxValue{{Code: ent2.taxCode, Value: json.Number(decimalText(unitGross - unitNet))}},
			},
			RevenueType: strings.TrimSuffix(p.typ, "Revenue"), CreatedUtc: b.CreatedUtc, UpdatedUtc: b.UpdatedUtc,
			ConsumedUtc: item.ConsumptionUtc, ClosedUtc: issued, AccountingState: item.State,
			Type: map[bool]string{true: "SpaceOrder", false: "ProductOrder"}[p.perNight],
		})
	}
	ent.currency = ent2.currency
	ent.gross, _ = events.AddDecimals(grosses...)
	ent.net, _ = events.AddDecimals(nets...)
	var orderItems []simEntity
	switch billMoney {
	case "amount":
		b.Amount = &simAmount{
			Currency: ent2.currency, NetValue: json.Number(decimalText(netSum)), GrossValue: json.Number(decimalText(grossSum)),
			TaxValues: []TaxValue{{Code: ent2.taxCode, Value: json.Number(decimalText(grossSum - netSum))}},
		}
		b.Revenue = nil
	case "order-items":
		b.Revenue = nil
		for _, it := range items {
			data, _ := json.Marshal(it)
			orderItems = append(orderItems, simEntity{id: it.ID, scope: ent2.id, updated: ent.updated, data: data})
		}
	}
	ent.data, _ = json.Marshal(b)
	return orderItems
}

// derivedUUID is a version-4-shaped id derived from parts: ids the simulator needs in one
// reading only, so drawing them would change what the generator draws next.
func derivedUUID(parts ...string) string {
	sum := sha256.Sum256([]byte(strings.Join(parts, "|")))
	sum[6] = sum[6]&0x0f | 0x40
	sum[8] = sum[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", sum[0:4], sum[4:6], sum[6:8], sum[8:10], sum[10:16])
}

// genOther writes an entity of another type with a few of Mews's fields for it.
func genOther(rng *rand.Rand, et string, ent simEntity) []byte {
	created := ent.updated.Add(-time.Duration(rng.Int64N(int64(30*24*time.Hour/time.Second))) * time.Second)
	m := map[string]any{"Id": ent.id, "CreatedUtc": simTime(created), "UpdatedUtc": simTime(ent.updated)}
	if chainLevel(et) {
		m["ChainId"] = ent.scope
	} else {
		m["EnterpriseId"] = ent.scope
	}
	e := enterprise(ent.scope)
	money := func() map[string]any {
		net := (500 + rng.Int64N(20000)) * e.priceScale
		gross := (net*(1000+e.rate) + 500) / 1000
		return map[string]any{"Currency": e.currency, "NetValue": json.Number(decimalText(net)), "GrossValue": json.Number(decimalText(gross)),
			"TaxValues": []TaxValue{{Code: e.taxCode, Value: json.Number(decimalText(gross - net))}}}
	}
	start := ent.updated.Add(time.Duration(rng.IntN(60)) * 24 * time.Hour).Truncate(24 * time.Hour)
	end := start.Add(time.Duration(1+rng.IntN(5)) * 24 * time.Hour)
	pick := func(vs ...string) string { return vs[rng.IntN(len(vs))] }
	switch et {
	case EntityOrderItem:
		m["AccountId"], m["BillId"], m["ServiceOrderId"] = simUUID(rng), simUUID(rng), simUUID(rng)
		m["Type"], m["UnitCount"], m["Amount"] = pick("SpaceOrder", "ProductOrder", "CityTax"), 1+rng.IntN(3), money()
		m["ConsumedUtc"], m["AccountingState"] = simTime(created), pick("Open", "Closed")
	case EntityPayment:
		m["AccountId"], m["BillId"], m["Amount"] = simUUID(rng), simUUID(rng), money()
		m["Type"], m["State"] = pick("CreditCardPayment", "CashPayment", "InvoicePayment"), pick("Charged", "Pending")
	case EntityReservation:
		m["ServiceId"], m["AccountId"], m["Number"] = simUUID(rng), simUUID(rng), strconv.Itoa(100000+rng.IntN(900000))
		m["State"], m["ScheduledStartUtc"], m["ScheduledEndUtc"] = pick("Confirmed", "Started", "Processed", "Canceled"), simTime(start), simTime(end)
	case EntityCustomer:
		m["FirstName"], m["LastName"] = pick("Anna", "Jan", "Emily", "Lukas", "Sofia"), pick("Novak", "Schmidt", "Smith", "Dvorak", "Brown")
		m["Email"], m["LanguageCode"] = fmt.Sprintf("guest%d@example.com", rng.IntN(100000)), pick("en-GB", "de-DE", "cs-CZ")
	case EntityCompany:
		m["Name"], m["TaxIdentifier"] = pick("Acme Travel", "Globex GmbH", "Initech s.r.o.", "Umbrella Ltd"), fmt.Sprintf("VAT%08d", rng.IntN(1e8))
	case EntityAvailabilityAdjustment:
		m["AvailabilityBlockId"], m["ResourceCategoryId"] = simUUID(rng), simUUID(rng)
		m["FirstTimeUnitStartUtc"], m["LastTimeUnitStartUtc"], m["UnitCount"] = simTime(start), simTime(end), rng.IntN(10)-5
	case EntityAvailabilityBlock:
		m["ServiceId"], m["Name"], m["State"] = simUUID(rng), pick("Conference", "Wedding", "Tour group"), pick("Confirmed", "Optional", "Inquired")
		m["FirstTimeUnitStartUtc"], m["LastTimeUnitStartUtc"] = simTime(start), simTime(end)
	case EntityResourceBlock:
		m["AssignedResourceId"], m["Name"], m["Type"] = simUUID(rng), pick("Renovation", "Staff room"), pick("OutOfOrder", "InternalUse")
		m["StartUtc"], m["EndUtc"] = simTime(start), simTime(end)
	case EntityLedgerEntry:
		amt := money()
		m["AccountId"], m["BillId"], m["LedgerType"], m["LedgerEntryType"] = simUUID(rng), simUUID(rng), pick("Revenue", "Guest", "Deposit"), pick("Charge", "Payment", "Rebate")
		m["Currency"], m["NetValue"], m["GrossValue"], m["PostingDate"] = amt["Currency"], amt["NetValue"], amt["GrossValue"], start.Format("2006-01-02")
	}
	b, _ := json.Marshal(m)
	return b
}

// decimalText writes cents like Mews writes numbers: trailing zeros dropped, but at least one
// decimal ("121.0", "12.5", "9.95").
func decimalText(cents int64) string {
	s := fmt.Sprintf("%03d", cents)
	intPart, frac := s[:len(s)-2], strings.TrimRight(s[len(s)-2:], "0")
	if frac == "" {
		frac = "0"
	}
	return intPart + "." + frac
}

func simUUID(rng *rand.Rand) string {
	var b [16]byte
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}
