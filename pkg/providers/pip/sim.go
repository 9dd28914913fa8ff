package pip

import (
	"bytes"
	"cmp"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Credentials the simulator accepts; anything else is refused like the real API refuses it.
const (
	// SimAccessToken is a static bearer token the simulator accepts (PIP_ACCESS_TOKEN).
	SimAccessToken = "sim-token"
	// SimClientID and SimClientSecret are the client credentials its token endpoint accepts.
	SimClientID     = "sim-client"
	SimClientSecret = "sim-secret"
	// SimClientIDNoExport (with SimClientSecret) gets tokens that may not read the export: the
	// API answers them 403.
	SimClientIDNoExport = "sim-client-no-export"
	// SimTokenPath is the simulator's token endpoint below its base URL.
	SimTokenPath = "/oauth/token"
)

// Simulator limits and defaults.
const (
	simPageSize       = DefaultPageSize // the seed's maximum
	simTokenTTL       = 5 * time.Minute // short-lived, so long polls see a refresh
	simDefaultRecords = 100
	simDays           = 9                  // sessions complete over the 7 days before today, today and tomorrow
	simTieOneIn       = 5                  // one group in N holds 2–3 sessions sharing a completion time
	simPIPs           = 12                 // PIP units, in fewer stores
	simSeedStream     = 0x7069702d73696d00 // "pip-sim": the PCG stream of the generator
)

// SimEnv returns the PIP_* environment that points a source at a simulator served at baseURL
// (providersim, httptest) with client credentials: devstack and tests pass it to config.Load as
// getenv.
func SimEnv(baseURL string) map[string]string { return Provider{}.SimEnv(baseURL) }

// SimEnv returns the PIP_* environment that points a source at a simulator served at baseURL:
// client credentials against its token endpoint, the export it serves, and p.SimPageSize as
// PIP_PAGE_SIZE when set.
func (p Provider) SimEnv(baseURL string) map[string]string {
	env := map[string]string{
		"PIP_BASE_URL":      baseURL,
		"PIP_TOKEN_URL":     strings.TrimRight(baseURL, "/") + SimTokenPath,
		"PIP_CLIENT_ID":     SimClientID,
		"PIP_CLIENT_SECRET": SimClientSecret,
		"PIP_EXPORT":        DefaultExport,
	}
	if p.SimPageSize > 0 {
		env["PIP_PAGE_SIZE"] = strconv.Itoa(p.SimPageSize)
	}
	return env
}

// NewSimulator serves getPostenInvoicingData for the export "posten" from opts.Records
// synthetic completed sessions (≤ 0: 100) generated from opts.Seed: the same seed, count, page
// size and day of opts.Now() give the same sessions. They complete over the seven days before
// today, today and tomorrow (UTC) at whole seconds, on twelve PIPs; one group in five holds 2–3
// sessions sharing a completion time. Two groups are placed on purpose, when Records allows:
// five sessions straddling the first page boundary (indexes PageSize-2 … PageSize+2 of the
// export), and PageSize+3 sessions sharing one completion time further on. Only sessions
// completed at or before opts.Now() are served: advancing the clock makes more appear.
//
// Paging (the reading the package doc explains): completedAfter is exclusive; a page holds at
// most p.SimPageSize (default 1000) sessions ordered by (completedAt, sessionId); exportedThrough
// is the completion time through which every session has been delivered. A page that the limit
// cuts inside a group still carries the group's first sessions, but exportedThrough stays at
// the group before, so the next page repeats them; a group larger than a page that starts a
// page is returned whole, above the limit, with exportedThrough at its time.
//
// Other readings (opts.Readings): RecordsKey serves the list under that key instead of "data".
// TieBeyondPage makes the planned large group PageSize + PageSize/5 sessions (1,200 at the
// seed's 1,000) and the page limit strict for it too: a page starting with it holds its first
// PageSize sessions with exportedThrough at its time, and the rest can never be read. Truth
// then counts those as Unreadable (not in Records) and lists the tie's instant in Gaps;
// SimReadableIDs lists the sessions that can be read.
//
// Auth: a bearer token, either SimAccessToken or one from the token endpoint (POST
// SimTokenPath, grant_type=client_credentials, client id and secret by HTTP Basic or form),
// valid for five minutes of opts.Now() (for Faults.TokenLifetime only, though still announced
// as five minutes). Refusals: 401 for a missing, unknown or expired token
// (every request under Faults.ExpiredToken or Faults.MissingToken), 403 for SimClientIDNoExport's
// tokens, 400 for a completedAfter that is not a date-time, 404 for another export. Generic
// faults (429 with Retry-After, 500, slow responses) come from sim.Injector, on the token
// endpoint too. Truth().Requests counts the export requests per "completedAfter=<value as sent>".
func (p Provider) NewSimulator(opts sim.Options) sim.Simulator {
	pageSize := p.SimPageSize
	if pageSize <= 0 {
		pageSize = simPageSize
	}
	n := opts.Records
	if n <= 0 {
		n = simDefaultRecords
	}
	s := &simulator{
		now:        opts.Clock(),
		faults:     opts.Faults,
		pageSize:   pageSize,
		recordsKey: cmp.Or(opts.Readings.RecordsKey, "data"),
		strict:     opts.Readings.TieBeyondPage,
		requests:   map[string]int{},
		tokens:     map[string]simToken{},
	}
	bigTie := pageSize + 3
	if s.strict {
		bigTie = pageSize + max(pageSize/5, 1) // 1,000 + 200 at the seed's page size
	}
	s.sessions = generate(opts.Seed, n, pageSize, bigTie, utcDay(s.now()))
	mux := http.NewServeMux()
	mux.HandleFunc(SimTokenPath, s.token)
	mux.HandleFunc("/v1/data-export/{export}/invoicing", s.export)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, "not_found", "No such resource")
	})
	s.handler = sim.NewInjector(opts.Faults).Wrap(mux, writeFault)
	return s
}

type simulator struct {
	now        func() time.Time
	faults     sim.Faults
	pageSize   int
	recordsKey string // the key of the record list (Readings.RecordsKey)
	// strict (Readings.TieBeyondPage): never more than a page, whole ties included.
	strict   bool
	sessions []simSession // sorted by (at, id)
	handler  http.Handler

	mu       sync.Mutex
	requests map[string]int
	tokens   map[string]simToken
	issued   int
}

type simSession struct {
	id   string
	at   time.Time
	data json.RawMessage
}

type simToken struct {
	expires time.Time
	export  bool // may read the export
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Truth counts the sessions completed by now that a client can read: under
// Readings.TieBeyondPage, the sessions of a tie beyond its first page are Unreadable, and the
// tie's instant is a gap. They carry no money, so Totals is empty.
func (s *simulator) Truth() sim.Truth {
	t := sim.Truth{Totals: map[string]string{}, Requests: map[string]int{}}
	visible := s.sessions[:s.visible(s.now())]
	for _, tie := range s.overPage(visible) {
		t.Unreadable += tie.n - s.pageSize
		t.Gaps = append(t.Gaps, tie.at.UTC().Format(time.RFC3339))
	}
	t.Records = len(visible) - t.Unreadable
	t.IDs = slices.Sorted(slices.Values(SimReadableIDs(s)))
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, v := range s.requests {
		t.Requests[k] = v
	}
	return t
}

// simTie is a group of sessions sharing one completion time: where it starts and its size.
type simTie struct {
	start, n int
	at       time.Time
}

// overPage returns the ties of sessions that a strict simulator cannot serve whole: larger
// than a page (none unless strict). Only the first page of each can be read, the sessions
// first in (completedAt, sessionId) order.
func (s *simulator) overPage(sessions []simSession) []simTie {
	if !s.strict {
		return nil
	}
	var out []simTie
	for i := 0; i < len(sessions); {
		j := i + 1
		for j < len(sessions) && sessions[j].at.Equal(sessions[i].at) {
			j++
		}
		if j-i > s.pageSize {
			out = append(out, simTie{start: i, n: j - i, at: sessions[i].at})
		}
		i = j
	}
	return out
}

// SimReadableIDs returns the ids of the sessions a PIP simulator serves now that a client can
// read, in export order: under Readings.TieBeyondPage the sessions of a tie beyond its first
// page are left out. It is what a poll must deliver; s must come from Provider.NewSimulator.
func SimReadableIDs(s sim.Simulator) []string {
	ss := s.(*simulator)
	visible := ss.sessions[:ss.visible(ss.now())]
	skip := map[int]bool{}
	for _, tie := range ss.overPage(visible) {
		for i := tie.start + ss.pageSize; i < tie.start+tie.n; i++ {
			skip[i] = true
		}
	}
	ids := make([]string, 0, len(visible)-len(skip))
	for i, x := range visible {
		if !skip[i] {
			ids = append(ids, x.id)
		}
	}
	return ids
}

// visible is how many sessions completed at or before now (a prefix of s.sessions).
func (s *simulator) visible(now time.Time) int {
	return sort.Search(len(s.sessions), func(i int) bool { return s.sessions[i].at.After(now) })
}

func (s *simulator) token(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeTokenError(w, http.StatusMethodNotAllowed, "invalid_request", "use POST")
		return
	}
	if err := r.ParseForm(); err != nil {
		writeTokenError(w, http.StatusBadRequest, "invalid_request", "the body is not a form")
		return
	}
	if gt := r.PostForm.Get("grant_type"); gt != "client_credentials" {
		writeTokenError(w, http.StatusBadRequest, "unsupported_grant_type", fmt.Sprintf("grant_type %q is not client_credentials", gt))
		return
	}
	id, secret, basic := r.BasicAuth()
	if basic {
		// RFC 6749 §2.3.1: both are form-urlencoded before the Basic encoding.
		id, _ = url.QueryUnescape(id)
		secret, _ = url.QueryUnescape(secret)
	} else {
		id, secret = r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
	}
	if (id != SimClientID && id != SimClientIDNoExport) || secret != SimClientSecret {
		w.Header().Set("WWW-Authenticate", `Basic realm="pip"`)
		writeTokenError(w, http.StatusUnauthorized, "invalid_client", "Client authentication failed")
		return
	}
	s.mu.Lock()
	s.issued++
	tok := fmt.Sprintf("sim-cc-%d", s.issued)
	lifetime := simTokenTTL
	if s.faults.TokenLifetime > 0 {
		lifetime = s.faults.TokenLifetime // expires_in below still says simTokenTTL
	}
	s.tokens[tok] = simToken{expires: s.now().Add(lifetime), export: id == SimClientID}
	s.mu.Unlock()
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusOK, tokenResponse{
		AccessToken: tok, TokenType: "Bearer", ExpiresIn: int64(simTokenTTL / time.Second), Scope: "data-export",
	})
}

// authorize checks the bearer token; false means it has written the refusal (the seed's
// texts, with the reason in WWW-Authenticate).
func (s *simulator) authorize(w http.ResponseWriter, r *http.Request) bool {
	unauthorized := func(reason string) bool {
		w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer realm="pip", error="invalid_token", error_description=%q`, reason))
		writeError(w, http.StatusUnauthorized, "unauthorized", "Missing or invalid authentication")
		return false
	}
	scheme, tok, _ := strings.Cut(r.Header.Get("Authorization"), " ")
	switch {
	case s.faults.MissingToken || !strings.EqualFold(scheme, "Bearer") || tok == "":
		return unauthorized("no bearer token")
	case s.faults.ExpiredToken:
		return unauthorized("the access token expired")
	case tok == SimAccessToken:
		return true
	}
	s.mu.Lock()
	t, ok := s.tokens[tok]
	s.mu.Unlock()
	switch {
	case !ok:
		return unauthorized("unknown access token")
	case !s.now().Before(t.expires):
		return unauthorized("the access token expired")
	case !t.export:
		writeError(w, http.StatusForbidden, "forbidden", "Insufficient permissions for data export")
		return false
	}
	return true
}

func (s *simulator) export(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		w.Header().Set("Allow", http.MethodGet)
		writeError(w, http.StatusMethodNotAllowed, "method_not_allowed", "use GET")
		return
	}
	if !s.authorize(w, r) {
		return
	}
	if r.PathValue("export") != DefaultExport {
		writeError(w, http.StatusNotFound, "not_found", "No such data export")
		return
	}
	raw := r.URL.Query().Get(paramCompletedAfter)
	var after time.Time
	if raw != "" {
		t, err := time.Parse(time.RFC3339Nano, raw)
		if err != nil {
			writeError(w, http.StatusBadRequest, "bad_request", "Invalid completedAfter parameter format")
			return
		}
		after = t
	}
	s.mu.Lock()
	s.requests[paramCompletedAfter+"="+raw]++
	s.mu.Unlock()

	page, through := s.page(raw != "", after)
	var exportedThrough *string
	switch {
	case !through.IsZero():
		text := through.UTC().Format(time.RFC3339)
		exportedThrough = &text
	case raw != "":
		exportedThrough = &raw // nothing new: the cursor stands
	}
	// {"exportedThrough":…,"<records key>":[…]}, written by hand: the key is a reading, and
	// the sessions are already JSON.
	et, _ := json.Marshal(exportedThrough)
	key, _ := json.Marshal(s.recordsKey)
	var b bytes.Buffer
	b.WriteString(`{"exportedThrough":`)
	b.Write(et)
	b.WriteByte(',')
	b.Write(key)
	b.WriteString(":[")
	for i, ss := range page {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(ss.data)
	}
	b.WriteString("]}")
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b.Bytes())
}

// page returns the sessions of one response and its exportedThrough (zero: none to report).
func (s *simulator) page(hasAfter bool, after time.Time) ([]simSession, time.Time) {
	all := s.sessions[:s.visible(s.now())]
	lo := 0
	if hasAfter {
		lo = sort.Search(len(all), func(i int) bool { return all[i].at.After(after) })
	}
	cand, p := all[lo:], s.pageSize
	if len(cand) <= p {
		if len(cand) == 0 {
			return nil, time.Time{}
		}
		return cand, cand[len(cand)-1].at
	}
	last := cand[p-1].at
	if !cand[p].at.Equal(last) {
		return cand[:p], last // the page ends with a whole group
	}
	// The limit cuts the group completed at last.
	first := p - 1
	for first > 0 && cand[first-1].at.Equal(last) {
		first--
	}
	if first > 0 {
		// Deliver what fits, but report only the groups before as exported through.
		return cand[:p], cand[first-1].at
	}
	if s.strict {
		// Readings.TieBeyondPage: the limit holds for a tie larger than a page too, and
		// exportedThrough is the last session's time, as a server computing it from the page
		// would say: the rest of the tie cannot be had with any completedAfter.
		return cand[:p], last
	}
	// The group alone is larger than a page: return it whole, or nobody could page past it.
	end := p
	for end < len(cand) && cand[end].at.Equal(last) {
		end++
	}
	return cand[:end], last
}

func writeError(w http.ResponseWriter, status int, code, message string) {
	writeJSON(w, status, ErrorBody{Code: code, Message: message})
}

func writeTokenError(w http.ResponseWriter, status int, code, description string) {
	writeJSON(w, status, tokenError{Error: code, ErrorDescription: description})
}

// writeFault writes the bodies of the injected faults.
func writeFault(w http.ResponseWriter, status int) {
	code := strings.ToLower(strings.ReplaceAll(http.StatusText(status), " ", "_"))
	msg := "Internal Server Error"
	if status == http.StatusTooManyRequests {
		msg = "Rate limit exceeded; retry after " + w.Header().Get("Retry-After") + " seconds"
	}
	writeError(w, status, code, msg)
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

// simPIP is a PIP unit and the store that hosts it.
type simPIP struct{ id, store string }

// generate makes n sessions completing over simDays days from 7 days before today, sorted by
// (completion time, id), with the two planned groups for pageSize, the second of bigTie
// sessions.
func generate(seed int64, n, pageSize, bigTie int, today time.Time) []simSession {
	rng := rand.New(rand.NewPCG(uint64(seed), simSeedStream))
	pips := make([]simPIP, simPIPs)
	for i := range pips {
		pips[i] = simPIP{id: fmt.Sprintf("PIP-%05d", 10000+rng.IntN(90000)), store: fmt.Sprintf("%04d", 1000+rng.IntN(9000))}
		if i%3 == 2 {
			pips[i].store = pips[i-1].store // a store may host several PIPs
		}
	}
	sizes := groupSizes(rng, n, pageSize, bigTie)
	span := int64(simDays * 24 * 60 * 60)
	avgGap := max(span/int64(len(sizes)+1), 1)
	at := today.AddDate(0, 0, -7)
	out := make([]simSession, 0, n)
	for _, k := range sizes {
		at = at.Add(time.Duration(1+rng.Int64N(2*avgGap)) * time.Second)
		group := make([]simSession, k)
		for j := range group {
			id := simUUID(rng)
			p := pips[rng.IntN(len(pips))]
			data, _ := json.Marshal(struct {
				SessionID   string `json:"sessionId"`
				PipID       string `json:"pipId"`
				StoreNumber string `json:"storeNumber"`
				CompletedAt string `json:"completedAt"`
			}{id, p.id, p.store, at.Format(time.RFC3339)})
			group[j] = simSession{id: id, at: at, data: data}
		}
		slices.SortFunc(group, func(a, b simSession) int { return cmp.Compare(a.id, b.id) })
		out = append(out, group...)
	}
	return out
}

// groupSizes splits n sessions into groups sharing a completion time: mostly single ones, one
// in simTieOneIn of 2–3, plus a group of 5 across the first page boundary (from index
// pageSize-2) and a group of bigTie (larger than a page) starting at index
// max(2·pageSize + pageSize/3, …), each only when n leaves room for it.
func groupSizes(rng *rand.Rand, n, pageSize, bigTie int) []int {
	special := map[int]int{}
	tie := max(pageSize-2, 0)
	if tie+5 <= n {
		special[tie] = 5
	}
	big := max(2*pageSize+pageSize/3, tie+6)
	if big+bigTie <= n {
		special[big] = bigTie
	}
	var sizes []int
	for i := 0; i < n; {
		k, ok := special[i]
		if !ok {
			k = 1
			if rng.IntN(simTieOneIn) == 0 {
				k = 2 + rng.IntN(2)
			}
			for j := i + 1; j < i+k; j++ {
				if _, ok := special[j]; ok {
					k = j - i // stop before a planned group
					break
				}
			}
			k = min(k, n-i)
		}
		sizes = append(sizes, k)
		i += k
	}
	return sizes
}

func utcDay(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
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
