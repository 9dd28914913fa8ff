package plugsurfing

import (
	"cmp"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Simulator limits and defaults.
const (
	simDefaultRecords = 100
	simDays           = 14               // bills are dated over the 14 days up to now
	simMinDelay       = 10 * time.Minute // a bill appears at least this long after its date …
	simMaxDelay       = 12 * time.Hour   // … and at most this long
	simTieOneIn       = 5                // one bill in N shares the previous bill's user and date
	simMaxRequest     = 1 << 20
	simSeedStream     = 0x706c7567737572 // "plugsur": the PCG stream of the generator
	simBillURL        = "https://api.plugsurfing.com/uploads/bills/Invoice-%s%03d-%05d.pdf"
)

// SimUsers returns the users the simulator serves, with the tokens it accepts, in order: one of
// each identifier type (the first is the seed's example user). Any other user is refused.
func SimUsers() []User {
	return []User{
		{IdentifierType: IdentifierUsername, Identifier: "some_user", Token: "b369f99e82fa097ba9cff8658c74e47c"},
		{IdentifierType: IdentifierRFID, Identifier: "04AB12CD34EF56", Token: "5f0c2e7d9a8b4c61a3e2f1d0c9b8a7e6"},
		{IdentifierType: IdentifierEVCOID, Identifier: "DE-PLS-C12345678-4", Token: "e1d2c3b4a5968778695a4b3c2d1e0f9a"},
		{IdentifierType: IdentifierToken, Identifier: "a7c3e9f1b5d24680ace13579bdf02468", Token: "0f1e2d3c4b5a69788796a5b4c3d2e1f0"},
	}
}

// SimEnv returns the PLUGSURFING_* environment that points a source at a simulator served at
// baseURL (providersim, httptest): devstack and tests pass it to config.Load as getenv.
func SimEnv(baseURL string) map[string]string { return Provider{}.SimEnv(baseURL) }

// SimEnv returns the PLUGSURFING_* environment that points a source at a simulator served at
// baseURL, with every SimUsers user and its token.
func (Provider) SimEnv(baseURL string) map[string]string {
	var users, tokens []string
	for _, u := range SimUsers() {
		users = append(users, u.key())
		tokens = append(tokens, u.key()+"="+u.Token.Reveal())
	}
	return map[string]string{
		"PLUGSURFING_BASE_URL": strings.TrimRight(baseURL, "/") + "/",
		"PLUGSURFING_USERS":    strings.Join(users, ","),
		"PLUGSURFING_TOKENS":   strings.Join(tokens, ","),
	}
}

// NewSimulator serves user-get-bills (POST, at any path) from opts.Records synthetic bills (≤ 0:
// 100), generated from opts.Seed: the same seed, count and opts.Now() give the same bills. Each
// bill belongs to one of SimUsers(), has a unique URL and covers one to three sessions (random
// UUIDs, like Be-Mo's session ids); one in five shares its user and date with the previous one.
//
// The seed's bills carry no date, so the simulator keeps one per bill, hidden: bills are dated
// over the 14 days up to opts.Now(), and a call returns the user's bills whose date d satisfies
// start ≤ d < end (a half-open interval), ordered by date, then URL. A bill appears 10 minutes
// to 12 hours after its date, according to opts.Now(): advancing the clock makes bills arrive
// late.
//
// It checks what the real API checks, answering HTTP 200 with the result code: a user it does
// not know (144 for a username, 140 otherwise), no token (140), a wrong token (145); under
// Faults.ExpiredToken every call gets 145, under Faults.MissingToken 140. A request that is not
// a user-get-bills call, or whose date-interval is not in the seed's format (+hh:mm offsets) or
// ends before it starts, gets HTTP 400 (the seed documents none: the simulator's choice).
// Generic faults (429 with Retry-After, 500, slow responses) come from sim.Injector.
// Truth().Requests counts the calls answered with bills per "<scope> <start>..<end>" (the
// interval as sent); Totals is empty: bills carry no amounts; IDs lists the BillID of every
// bill published (SimSessions their sessions).
//
// Other readings of the seed (opts.Readings): PlugsurfingBillsTopLevel answers {"bills": […],
// "result": …} (the seed's field list) instead of {"user": {"bills": […]}, …} (its example);
// PlugsurfingNumericSessionIDs writes external-session-ids as JSON integers (up to 2^63 − 1,
// beyond what a float64 holds exactly); PlugsurfingStringResultCode writes result.code as a
// string ("0", "145"); PlugsurfingInclusiveEnd returns the bills dated start ≤ d ≤ end and
// dates one bill in five at UTC midnight, where a source's intervals meet;
// PlugsurfingBillsWithoutSessions makes one bill in six cover no session, its
// external-session-ids in turn [], null and left out.
func (Provider) NewSimulator(opts sim.Options) sim.Simulator {
	s := &simulator{
		now:      opts.Clock(),
		faults:   opts.Faults,
		readings: opts.Readings,
		bills:    map[string][]simBill{},
		requests: map[string]int{},
	}
	n := opts.Records
	if n <= 0 {
		n = simDefaultRecords
	}
	for _, b := range generate(opts.Seed, n, s.now(), opts.Readings) {
		s.bills[b.scope] = append(s.bills[b.scope], b)
	}
	for scope, list := range s.bills {
		slices.SortStableFunc(list, func(x, y simBill) int {
			return cmp.Or(x.date.Compare(y.date), cmp.Compare(x.url, y.url))
		})
		s.bills[scope] = list
	}
	s.handler = sim.NewInjector(opts.Faults).Wrap(http.HandlerFunc(s.serve), writeFault)
	return s
}

type simulator struct {
	now      func() time.Time
	faults   sim.Faults
	readings sim.Readings
	bills    map[string][]simBill // by user scope, sorted by (date, url)
	handler  http.Handler

	mu       sync.Mutex
	requests map[string]int
}

type simBill struct {
	scope     string
	date      time.Time // the bill's date: what date-interval filters on
	published time.Time // when the API starts returning it
	url       string
	sessions  []string // the external-session-ids as written (digits when numeric)
	data      json.RawMessage
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Truth counts the bills published by now. Bills carry no money: Totals is empty.
func (s *simulator) Truth() sim.Truth {
	now := s.now()
	t := sim.Truth{Totals: map[string]string{}, Requests: map[string]int{}}
	for _, list := range s.bills {
		for _, b := range list {
			if !b.published.After(now) {
				t.Records++
				t.IDs = append(t.IDs, BillID(b.url))
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

// simRequest is Request with the call optional, so a body that is not a user-get-bills call is
// told apart.
type simRequest struct {
	UserGetBills *UserGetBills `json:"user-get-bills"`
}

func (s *simulator) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeMessage(w, http.StatusMethodNotAllowed, "Every call is a POST with a JSON body.")
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, simMaxRequest))
	var req simRequest
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil || req.UserGetBills == nil {
		writeMessage(w, http.StatusBadRequest, `The body must be a JSON object {"user-get-bills": {...}}.`)
		return
	}
	call := req.UserGetBills

	// Authentication comes first, as the result codes say.
	switch {
	case s.faults.ExpiredToken:
		s.writeResult(w, CodeUserTokenInvalid, nil)
		return
	case s.faults.MissingToken:
		s.writeResult(w, CodeNoPositiveAuth, nil)
		return
	}
	user, known := simUser(call.User)
	switch {
	case !known && call.User.IdentifierType == IdentifierUsername:
		s.writeResult(w, CodeEmailNotFound, nil)
		return
	case !known, call.User.Token == "":
		s.writeResult(w, CodeNoPositiveAuth, nil)
		return
	case call.User.Token != user.Token.Reveal():
		s.writeResult(w, CodeUserTokenInvalid, nil)
		return
	}

	start, err1 := time.Parse(DateLayout, call.DateInterval.Start)
	end, err2 := time.Parse(DateLayout, call.DateInterval.End)
	switch {
	case err1 != nil || err2 != nil:
		writeMessage(w, http.StatusBadRequest, "date-interval start and end must be Y-m-d\\TH:i:sP, like 2015-03-04T13:32:12+01:00.")
		return
	case end.Before(start):
		writeMessage(w, http.StatusBadRequest, "date-interval end must not be before start.")
		return
	}

	scope := user.Scope()
	s.mu.Lock()
	s.requests[scope+" "+call.DateInterval.Start+".."+call.DateInterval.End]++
	s.mu.Unlock()

	now := s.now()
	bills := []json.RawMessage{}
	for _, b := range s.bills[scope] {
		inEnd := b.date.Before(end) || (s.readings.PlugsurfingInclusiveEnd && b.date.Equal(end))
		if !b.published.After(now) && !b.date.Before(start) && inEnd {
			bills = append(bills, b.data)
		}
	}
	s.writeResult(w, CodeSuccess, bills)
}

// simUser finds the SimUsers entry the request identifies.
func simUser(u RequestUser) (User, bool) {
	for _, su := range SimUsers() {
		if su.IdentifierType == u.IdentifierType && su.Identifier == u.Identifier {
			return su, true
		}
	}
	return User{}, false
}

// simResult is the response's result, code always present.
type simResult struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

// writeResult answers HTTP 200 in the seed's shape: {"user": {"bills": […]}, "result": {…}} on
// success, only the result otherwise; or in the shape of the readings.
func (s *simulator) writeResult(w http.ResponseWriter, code int, bills []json.RawMessage) {
	msg := codeText[code]
	if s.readings.PlugsurfingStringResultCode || s.readings.PlugsurfingBillsTopLevel {
		if code == CodeSuccess {
			msg += "."
		}
		result := map[string]any{"code": code, "message": msg}
		if s.readings.PlugsurfingStringResultCode {
			result["code"] = strconv.Itoa(code)
		}
		body := map[string]any{"result": result}
		switch {
		case code != CodeSuccess:
		case s.readings.PlugsurfingBillsTopLevel:
			body["bills"] = bills
		default:
			body["user"] = ResponseUser{Bills: bills}
		}
		writeJSON(w, http.StatusOK, body)
		return
	}
	if code == CodeSuccess {
		msg += "."
		writeJSON(w, http.StatusOK, struct {
			User   ResponseUser `json:"user"`
			Result simResult    `json:"result"`
		}{ResponseUser{Bills: bills}, simResult{code, msg}})
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Result simResult `json:"result"`
	}{simResult{code, msg}})
}

// writeMessage answers a non-200 status with a result that has a message and no code (the seed
// documents no code for it).
func writeMessage(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, struct {
		Result struct {
			Message string `json:"message"`
		} `json:"result"`
	}{Result: struct {
		Message string `json:"message"`
	}{message}})
}

// writeFault writes the bodies of the injected faults.
func writeFault(w http.ResponseWriter, status int) {
	writeMessage(w, status, http.StatusText(status)+".")
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

// simNoSessionsOneIn: under Readings.PlugsurfingBillsWithoutSessions, one bill in N covers no
// session.
const simNoSessionsOneIn = 6

// simMidnightOneIn: under Readings.PlugsurfingInclusiveEnd, one bill in N is dated at UTC
// midnight, so intervals that meet at midnight both include it.
const simMidnightOneIn = 5

// generate makes n bills dated over the simDays days up to now, written as r reads the seed.
// The random draws are the same under every reading, so the bills are too (dates, users,
// URLs), only written differently.
func generate(seed int64, n int, now time.Time, r sim.Readings) []simBill {
	rng := rand.New(rand.NewPCG(uint64(seed), simSeedStream))
	now = now.Truncate(time.Second)
	first := now.Add(-simDays * 24 * time.Hour)
	users := SimUsers()
	out := make([]simBill, 0, n)
	for i := range n {
		b := simBill{}
		if i > 0 && rng.IntN(simTieOneIn) == 0 {
			b.scope, b.date = out[i-1].scope, out[i-1].date
		} else {
			b.scope = users[rng.IntN(len(users))].Scope()
			b.date = first.Add(time.Duration(rng.Int64N(int64(simDays*24*time.Hour))) / time.Second * time.Second)
		}
		if r.PlugsurfingInclusiveEnd && i%simMidnightOneIn == 0 {
			// On a day boundary, where a source's date-intervals meet.
			b.date = b.date.UTC().Truncate(24 * time.Hour)
		}
		b.published = b.date.Add(simMinDelay + time.Duration(rng.Int64N(int64(simMaxDelay-simMinDelay))))
		b.url = fmt.Sprintf(simBillURL, b.date.UTC().Format("20060102"), i%1000, 10000+i)
		sessions := make([]string, 1+rng.IntN(3))
		for j := range sessions {
			sessions[j] = simUUID(rng)
		}
		b.sessions = sessions
		b.data, _ = json.Marshal(Bill{ExternalSessionIDs: sessions, Bill: b.url})
		if r.PlugsurfingNumericSessionIDs || r.PlugsurfingBillsWithoutSessions {
			b.sessions, b.data = simOtherBill(b.url, sessions, i, r)
		}
		out = append(out, b)
	}
	return out
}

// simOtherBill writes bill i under the readings that change a bill: its session ids as
// integers (derived from the UUIDs, so they stay unique), or, for one bill in
// simNoSessionsOneIn, no session with the list [], null or left out in turn.
func simOtherBill(url string, uuids []string, i int, r sim.Readings) ([]string, json.RawMessage) {
	fields := map[string]any{"bill": url}
	if r.PlugsurfingBillsWithoutSessions && i%simNoSessionsOneIn == simNoSessionsOneIn-1 {
		switch (i / simNoSessionsOneIn) % 3 {
		case 0:
			fields["external-session-ids"] = []string{}
		case 1:
			fields["external-session-ids"] = nil
		}
		data, _ := json.Marshal(fields)
		return nil, data
	}
	ids := make([]string, len(uuids))
	list := make([]any, len(uuids))
	for j, u := range uuids {
		ids[j], list[j] = u, u
		if r.PlugsurfingNumericSessionIDs {
			// The UUID's first 63 bits: often above 2^53, where a float64 loses digits.
			h, _ := strconv.ParseUint(strings.ReplaceAll(u, "-", "")[:16], 16, 64)
			ids[j] = strconv.FormatUint(h>>1, 10)
			list[j] = json.Number(ids[j])
		}
	}
	fields["external-session-ids"] = list
	data, _ := json.Marshal(fields)
	return ids, data
}

// SimSessions returns, for every bill a Plugsurfing simulator has published by now, the
// canonical ids of the sessions it covers ("plugsurfing:<external id>", in the bill's order;
// empty for a bill that covers none), by BillID: what invoices.session_ids must hold. Other
// simulators give nil.
func SimSessions(s sim.Simulator) map[string][]string {
	ps, ok := s.(*simulator)
	if !ok {
		return nil
	}
	now := ps.now()
	out := map[string][]string{}
	for _, list := range ps.bills {
		for _, b := range list {
			if b.published.After(now) {
				continue
			}
			ids := []string{}
			for _, id := range b.sessions {
				ids = append(ids, Name+":"+id)
			}
			out[BillID(b.url)] = ids
		}
	}
	return out
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
