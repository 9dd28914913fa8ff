package bemo

import (
	"cmp"
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
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Credentials the simulator accepts; anything else is refused like the real API refuses it.
const (
	SimAccessToken     = "sim-token"
	SimSubscriptionKey = "sim-key"
)

// Simulator limits and defaults.
const (
	simMaxLimit       = 1000 // sent as Accept-Range; a larger limit is an ArgumentException
	simDefaultLimit   = 50
	simDefaultRecords = 100
	simDays           = 8                  // sessions start in the 7 days before today, or today
	simMaxDelay       = 18 * time.Hour     // a session appears at most this long after it ended
	simMaxDuration    = 2 * time.Hour      // the longest session
	simTieOneIn       = 4                  // one session in N shares the previous one's start
	simSeedStream     = 0x62656d6f2d73696d // "bemo-sim": the PCG stream of the generator
	// Readings.LateCreated: one session in simLateOneIn is created 2–6 days after it ended, and
	// one in simLateOneIn is corrected (one transaction's amount changes) 2–5 days after it was
	// created. They come from their own PCG stream, so the other sessions stay as they are.
	simLateOneIn   = 100
	simLateStream  = 0x62656d6f2d6c6174 // "bemo-lat"
	simLateMin     = 48 * time.Hour
	simLateSpread  = 96 * time.Hour
	simFixMin      = 48 * time.Hour
	simFixSpread   = 72 * time.Hour
	simFixMaxCents = 500 // a correction moves an amount by 0.01 … 5.00
)

// SimAccounts returns the accounts the simulator serves, in order; any other account is a 404.
func SimAccounts() []string { return []string{"acc-1", "acc-2", "acc-3"} }

// SimEnv returns the BEMO_* environment that points a source at a simulator served at baseURL
// (providersim, httptest): devstack and tests pass it to config.Load as getenv.
func SimEnv(baseURL string) map[string]string { return Provider{}.SimEnv(baseURL) }

// SimEnv returns the BEMO_* environment that points a source at a simulator served at baseURL.
func (Provider) SimEnv(baseURL string) map[string]string {
	return map[string]string{
		"BEMO_BASE_URL":         baseURL,
		"BEMO_ACCESS_TOKEN":     SimAccessToken,
		"BEMO_SUBSCRIPTION_KEY": SimSubscriptionKey,
		"BEMO_ACCOUNTS":         strings.Join(SimAccounts(), ","),
	}
}

// NewSimulator serves GetSessionsByAccount from opts.Records synthetic sessions (≤ 0: 100),
// generated from opts.Seed: the same seed, count and day of opts.Now() give the same sessions.
// Sessions start over the seven days before today and today (UTC), on SimAccounts(), at fuel
// stations (litres of B7 Diesel, SP95) and charge points (kWh, AC and DC) in several currencies
// and UTC offsets, with 1–3 transactions; one in four shares its start time with the previous
// one. A session is served only once it has been "created", up to 18 hours after it ended,
// according to opts.Now(): advancing the clock makes sessions arrive late. lastCreated=D keeps
// the sessions whose current version was created on D (UTC) or later; from, to, lastCreated
// and countryCode combine.
//
// Readings: under opts.Readings.LateCreated, about one session in 100 is created 2–6 days
// after it ended, and about one in 100 is corrected 2–5 days after it was created: one
// transaction's totalAmount changes, and the correction counts as the session's creation for
// lastCreated (only lastCreated finds either once its start day is past). opts.Readings.
// OversizedBytes > 0 pads one session of acc-1 with transactions until it is at least that
// many bytes: the second session of the first day holding three or more, so it sits inside a
// page between two ordinary ones. Truth() is the state at opts.Now(): Records, IDs and Totals
// count each session's current version (the oversized one included, listed in Oversized).
//
// It checks what the real API checks: the subscription key (a gateway 401 otherwise), the
// access token (401 TokenNotPresent, InvalidJWT; TokenExpired under Faults.ExpiredToken,
// TokenNotPresent under Faults.MissingToken), the query (400 ArgumentException) and the
// account (404 ResourceNotFound). Generic faults (429 with Retry-After, 500, slow responses)
// come from sim.Injector. Truth().Requests counts the pages served per "<account> <from>..<to>"
// (the query's from and to as sent), or "<account> lastCreated=<date> <from>..<to>" when the
// query has lastCreated.
func (Provider) NewSimulator(opts sim.Options) sim.Simulator {
	s := &simulator{
		now:      opts.Clock(),
		faults:   opts.Faults,
		accounts: map[string][]simSession{},
		requests: map[string]int{},
	}
	n := opts.Records
	if n <= 0 {
		n = simDefaultRecords
	}
	all := generate(opts.Seed, n, utcDay(s.now()))
	if opts.Readings.LateCreated {
		createLate(opts.Seed, all)
	}
	for _, ss := range all {
		s.accounts[ss.account] = append(s.accounts[ss.account], ss)
	}
	for _, a := range SimAccounts() {
		list := s.accounts[a]
		slices.SortStableFunc(list, func(x, y simSession) int {
			return cmp.Or(x.start.Compare(y.start), cmp.Compare(x.id, y.id))
		})
		s.accounts[a] = list
	}
	if opts.Readings.OversizedBytes > 0 {
		s.oversized = oversize(s.accounts[SimAccounts()[0]], opts.Readings.OversizedBytes)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/reporting/v1/api/accounts/{accountId}/sessions", s.sessions)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeEnvelopeError(w, http.StatusNotFound, CodeResourceNotFound, "The specified resource was not found")
	})
	s.handler = sim.NewInjector(opts.Faults).Wrap(mux, writeFault)
	return s
}

type simulator struct {
	now      func() time.Time
	faults   sim.Faults
	accounts map[string][]simSession // sorted by (start, id)
	handler  http.Handler
	// oversized is the id of the session padded past Readings.OversizedBytes ("" = none).
	oversized string

	mu       sync.Mutex
	requests map[string]int
}

type simSession struct {
	account  string
	id       string
	start    time.Time
	end      time.Time
	vehicle  string
	country  string
	currency string
	// versions are what the API serves over time, oldest first: the session as created, then
	// its corrections (Readings.LateCreated).
	versions []simVersion
}

// simVersion is one version of a session: served from created on, until the next one.
type simVersion struct {
	created time.Time
	amounts []string // each transaction's totalAmount
	data    json.RawMessage
}

// at returns the version served at now, nil before the session is created.
func (ss *simSession) at(now time.Time) *simVersion {
	for i := len(ss.versions) - 1; i >= 0; i-- {
		if !ss.versions[i].created.After(now) {
			return &ss.versions[i]
		}
	}
	return nil
}

func (s *simulator) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// Truth counts the sessions created by now, their ids and the exact money per currency of
// their current versions.
func (s *simulator) Truth() sim.Truth {
	now := s.now()
	t := sim.Truth{Totals: map[string]string{}, Requests: map[string]int{}}
	amounts := map[string][]string{}
	for _, list := range s.accounts {
		for i := range list {
			v := list[i].at(now)
			if v == nil {
				continue
			}
			t.Records++
			t.IDs = append(t.IDs, list[i].id)
			if list[i].id == s.oversized {
				t.Oversized = append(t.Oversized, s.oversized)
			}
			amounts[list[i].currency] = append(amounts[list[i].currency], v.amounts...)
		}
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

func (s *simulator) sessions(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet {
		writeEnvelopeError(w, http.StatusNotFound, CodeResourceNotFound, "The specified resource was not found")
		return
	}
	// The gateway checks the subscription key before the API sees the request.
	switch key := r.Header.Get(headerSubscriptionKey); {
	case key == "":
		writeGatewayError(w, http.StatusUnauthorized, "Access denied due to missing subscription key. Make sure to include subscription key when making requests to an API.")
		return
	case key != SimSubscriptionKey:
		writeGatewayError(w, http.StatusUnauthorized, "Access denied due to invalid subscription key. Make sure to provide a valid key for an active subscription.")
		return
	}
	token := strings.TrimPrefix(r.Header.Get(headerAuthorization), "Bearer ")
	switch {
	case s.faults.MissingToken || token == "":
		writeEnvelopeError(w, http.StatusUnauthorized, CodeTokenNotPresent, "JWT not present.")
		return
	case s.faults.ExpiredToken:
		writeEnvelopeError(w, http.StatusUnauthorized, CodeTokenExpired, "Lifetime validation failed, the JWT is expired.")
		return
	case token != SimAccessToken:
		writeEnvelopeError(w, http.StatusUnauthorized, CodeInvalidJWT, "Unable to decode the JWT.")
		return
	}

	q := r.URL.Query()
	from, okFrom := simDate(q.Get("from"))
	if !okFrom {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "from must be a valid date (YYYY-MM-DD)")
		return
	}
	to, okTo := simDate(q.Get("to"))
	if !okTo {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "to must be a valid date (YYYY-MM-DD)")
		return
	}
	if !from.IsZero() && !to.IsZero() && from.After(to) {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "from must not be after to")
		return
	}
	lastCreated, ok := simDate(q.Get("lastCreated"))
	if !ok {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "lastCreated must be a valid date (YYYY-MM-DD)")
		return
	}
	offset, ok := simInt(q.Get("offset"), 0, 0, 1<<30)
	if !ok {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "offset must be a non-negative integer")
		return
	}
	limit, ok := simInt(q.Get("limit"), simDefaultLimit, 1, simMaxLimit)
	if !ok {
		writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, fmt.Sprintf("limit must be an integer between 1 and %d", simMaxLimit))
		return
	}
	var countries []string
	if c := q.Get("countryCode"); c != "" {
		for _, code := range strings.Split(c, ",") {
			if len(code) != 2 {
				writeEnvelopeError(w, http.StatusBadRequest, CodeArgumentException, "countryCode must be ISO 3166 alpha-2 codes")
				return
			}
			countries = append(countries, strings.ToUpper(code))
		}
	}
	account := r.PathValue("accountId")
	list, known := s.accounts[account]
	if !known {
		writeEnvelopeError(w, http.StatusNotFound, CodeResourceNotFound, "The specified resource was not found")
		return
	}

	key := account + " " + q.Get("from") + ".." + q.Get("to")
	if lc := q.Get("lastCreated"); lc != "" {
		key = account + " lastCreated=" + lc + " " + q.Get("from") + ".." + q.Get("to")
	}
	s.mu.Lock()
	s.requests[key]++
	s.mu.Unlock()

	now := s.now()
	vehicle := q.Get("vehicleId")
	var match []json.RawMessage
	for i := range list {
		ss := &list[i]
		v := ss.at(now)
		if v == nil {
			continue
		}
		day := utcDay(ss.start)
		switch {
		case !from.IsZero() && day.Before(from),
			!to.IsZero() && day.After(to),
			!lastCreated.IsZero() && utcDay(v.created).Before(lastCreated),
			vehicle != "" && ss.vehicle != vehicle,
			countries != nil && !slices.Contains(countries, ss.country):
			continue
		}
		match = append(match, v.data)
	}
	lo := min(offset*limit, len(match))
	hi := min(lo+limit, len(match))
	page := match[lo:hi]

	h := w.Header()
	h.Set(headerAcceptRange, strconv.Itoa(simMaxLimit))
	if offset > 0 {
		h.Set(headerPrevRange, rangeURL(r, offset-1))
	}
	if hi < len(match) {
		h.Set(headerNextRange, rangeURL(r, offset+1))
	}
	if page == nil {
		page = []json.RawMessage{}
	}
	writeEnvelope(w, http.StatusOK, Envelope{Status: StatusSuccess, Data: page, Version: "1.0"})
}

// rangeURL is the request's URL with another offset.
func rangeURL(r *http.Request, offset int) string {
	u := url.URL{Scheme: "http", Host: r.Host, Path: r.URL.Path}
	if r.TLS != nil {
		u.Scheme = "https"
	}
	q := r.URL.Query()
	q.Set("offset", strconv.Itoa(offset))
	u.RawQuery = q.Encode()
	return u.String()
}

func simDate(s string) (time.Time, bool) {
	if s == "" {
		return time.Time{}, true
	}
	t, err := time.Parse(dateLayout, s)
	return t, err == nil
}

func simInt(s string, def, lo, hi int) (int, bool) {
	if s == "" {
		return def, true
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= lo && n <= hi
}

// envelopeBody is the seed's error envelope ("data": null, "trace": null).
type envelopeBody struct {
	Status  string            `json:"status"`
	Errors  []ErrorItem       `json:"errors"`
	Data    []json.RawMessage `json:"data"`
	Trace   *string           `json:"trace"`
	Version string            `json:"version"`
}

func writeEnvelope(w http.ResponseWriter, status int, env Envelope) {
	writeJSON(w, status, envelopeBody{Status: env.Status, Errors: env.Errors, Data: env.Data, Version: env.Version})
}

// writeEnvelopeError writes an error envelope shaped like the seed's examples: 400 and 404
// carry "data": null and "trace": null, 401, 403 and 500 only status, errors and version.
func writeEnvelopeError(w http.ResponseWriter, status int, code, message string) {
	errs := []ErrorItem{{Code: code, Message: message}}
	if status == http.StatusBadRequest || status == http.StatusNotFound {
		writeEnvelope(w, status, Envelope{Status: StatusError, Errors: errs, Version: "1.0"})
		return
	}
	writeJSON(w, status, struct {
		Status  string      `json:"status"`
		Errors  []ErrorItem `json:"errors"`
		Version string      `json:"version"`
	}{StatusError, errs, "1.0"})
}

func writeGatewayError(w http.ResponseWriter, status int, message string) {
	writeJSON(w, status, gatewayError{StatusCode: status, Message: message})
}

// writeFault writes the bodies of the injected faults: the gateway's rate-limit body for 429,
// the API's envelope otherwise.
func writeFault(w http.ResponseWriter, status int) {
	if status == http.StatusTooManyRequests {
		writeGatewayError(w, status, "Rate limit is exceeded. Try again in "+w.Header().Get("Retry-After")+" seconds.")
		return
	}
	writeEnvelopeError(w, status, strings.ReplaceAll(http.StatusText(status), " ", ""), "The service failed to process the request.")
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

// simSite is a station the simulator places sessions at.
type simSite struct {
	id, name, address, zip, city, country string
	lat, lon                              string
	network, timeZone, currency           string
	ev                                    bool
}

var simSites = []simSite{
	{"ND020438", "BERLIN HOLZMARKTSTR. 36-42", "HOLZMARKTSTR. 36-42   HOLZMARKTSTR. 36-42  ", "10243", "BERLIN", "DE", "52.511399", "13.428477", "Total", "+01:00", "EUR", false},
	{"FR075112", "PARIS QUAI DE BERCY", "QUAI DE BERCY 12", "75012", "PARIS", "FR", "48.833021", "2.382154", "TotalEnergies", "+01:00", "EUR", false},
	{"PL000731", "WARSZAWA PULAWSKA", "UL. PULAWSKA 145", "02-715", "WARSZAWA", "PL", "52.189321", "21.003254", "Orlen", "+01:00", "PLN", false},
	{"FI004410", "HELSINKI RUOHOLAHTI", "PORKKALANKATU 7", "00180", "HELSINKI", "FI", "60.163110", "24.915842", "Neste", "+02:00", "EUR", true},
	{"US100231", "NEW YORK W 42ND ST", "515 W 42ND ST", "10036", "NEW YORK", "US", "40.760262", "-73.997159", "EVgo", "-05:00", "USD", true},
	{"DE080331", "MUENCHEN LEOPOLDSTR.", "LEOPOLDSTR. 180", "80804", "MUENCHEN", "DE", "48.178452", "11.586322", "Ionity", "+01:00", "EUR", true},
}

// simProduct is what a transaction delivers; prices are in thousandths.
type simProduct struct {
	category, family, code, unit string
	priceLo, priceHi             int64
}

var (
	simFuel = []simProduct{
		{"Fueling", "Diesel", "B7", "L", 1459, 1899},
		{"Fueling", "Gasoline", "SP95", "L", 1599, 1999},
	}
	simCharge = []simProduct{
		{"Charging", "AC", "AC22", "kWh", 390, 590},
		{"Charging", "DC", "DC150", "kWh", 490, 790},
	}
)

// generate makes n sessions starting in the simDays days up to and including today.
func generate(seed int64, n int, today time.Time) []simSession {
	rng := rand.New(rand.NewPCG(uint64(seed), simSeedStream))
	first := today.AddDate(0, 0, -(simDays - 1))
	accounts := SimAccounts()
	vehicles := map[string][]string{}
	for _, a := range accounts {
		for range 3 {
			vehicles[a] = append(vehicles[a], simUUID(rng))
		}
	}
	out := make([]simSession, 0, n)
	for i := range n {
		ss := simSession{id: simUUID(rng)}
		if i > 0 && rng.IntN(simTieOneIn) == 0 {
			ss.account, ss.start = out[i-1].account, out[i-1].start
		} else {
			ss.account = accounts[rng.IntN(len(accounts))]
			ss.start = first.Add(time.Duration(rng.Int64N(int64(simDays*24*time.Hour))) / time.Second * time.Second)
		}
		site := simSites[rng.IntN(len(simSites))]
		ss.vehicle = vehicles[ss.account][rng.IntN(3)]
		ss.country, ss.currency = site.country, site.currency

		var duration time.Duration
		products := simFuel
		if site.ev {
			products = simCharge
			duration = 15*time.Minute + time.Duration(rng.Int64N(int64(simMaxDuration-15*time.Minute)))
		} else {
			duration = 2*time.Minute + time.Duration(rng.Int64N(int64(8*time.Minute)))
		}
		duration = duration / time.Second * time.Second
		end := ss.start.Add(duration)
		ss.end = end
		v := simVersion{created: end.Add(time.Duration(rng.Int64N(int64(simMaxDelay))))}

		k := 1 + rng.IntN(3)
		txs := make([]Transaction, k)
		for j := range k {
			p := products[rng.IntN(len(products))]
			price := p.priceLo + rng.Int64N(p.priceHi-p.priceLo+1) // thousandths
			var qty, cents int64                                   // hundredths, cents
			if !site.ev && rng.IntN(3) == 0 {
				// A prepaid fill like the seed's: a round amount, the litres it buys.
				cents = (10 + 5*rng.Int64N(10)) * 100
				qty = (cents*1000*100/price + 50) / 100
			} else {
				if site.ev {
					qty = 300 + rng.Int64N(7700)
				} else {
					qty = 500 + rng.Int64N(6500)
				}
				cents = (qty*price + 500) / 1000
			}
			txs[j] = Transaction{
				CurrencyKey:     site.currency,
				ProductCategory: p.category,
				ProductFamily:   p.family,
				ProductCode:     p.code,
				Quantity:        json.Number(decimalText(qty, 2)),
				QuantityUnit:    p.unit,
				TotalAmount:     json.Number(decimalText(cents, 2)),
				TransactionDate: ss.start.Add(duration * time.Duration(j+1) / time.Duration(k)).Format(time.RFC3339),
				UnitPrice:       json.Number(decimalText(price, 3)),
			}
			v.amounts = append(v.amounts, decimalText(cents, 2))
		}
		rfid := fmt.Sprintf("%09d", rng.IntN(1_000_000_000))
		data, _ := json.Marshal(Session{
			Address:          site.address,
			CityKey:          site.city,
			CountryCode:      site.country,
			IsRfid:           rng.IntN(2) == 0,
			Latitude:         json.Number(site.lat),
			Longitude:        json.Number(site.lon),
			PlaceID:          site.id,
			PlaceName:        site.name,
			PlaceNetwork:     site.network,
			Rfid:             rfid,
			SessionEndDate:   end.Format(time.RFC3339),
			SessionID:        ss.id,
			SessionStartDate: ss.start.Format(time.RFC3339),
			TimeZone:         site.timeZone,
			Transactions:     txs,
			VehicleID:        ss.vehicle,
			ZipCode:          site.zip,
		})
		v.data = data
		ss.versions = []simVersion{v}
		out = append(out, ss)
	}
	return out
}

// createLate applies Readings.LateCreated: one session in simLateOneIn is created days after it
// ended, and another one in simLateOneIn gets a corrected version days after its creation.
func createLate(seed int64, sessions []simSession) {
	rng := rand.New(rand.NewPCG(uint64(seed), simLateStream))
	for i := range sessions {
		ss := &sessions[i]
		switch rng.IntN(simLateOneIn) {
		case 0:
			ss.versions[0].created = ss.end.Add(simLateMin + time.Duration(rng.Int64N(int64(simLateSpread))))
		case 1:
			fixed := correct(ss.versions[0], rng)
			fixed.created = ss.versions[0].created.Add(simFixMin + time.Duration(rng.Int64N(int64(simFixSpread))))
			ss.versions = append(ss.versions, fixed)
		}
	}
}

// correct returns v with one transaction's totalAmount moved by up to simFixMaxCents cents,
// never to zero or below (created is left for the caller).
func correct(v simVersion, rng *rand.Rand) simVersion {
	var sess Session
	_ = json.Unmarshal(v.data, &sess) // generated by json.Marshal: always decodes
	j := rng.IntN(len(sess.Transactions))
	cents := centsOf(v.amounts[j])
	delta := 1 + rng.Int64N(simFixMaxCents)
	if rng.IntN(2) == 0 && cents > delta {
		delta = -delta
	}
	text := decimalText(cents+delta, 2)
	sess.Transactions[j].TotalAmount = json.Number(text)
	amounts := slices.Clone(v.amounts)
	amounts[j] = text
	data, _ := json.Marshal(sess)
	return simVersion{amounts: amounts, data: data}
}

// centsOf reads an amount written by decimalText(cents, 2).
func centsOf(amount string) int64 {
	whole, frac, _ := strings.Cut(amount, ".")
	n, _ := strconv.ParseInt(whole+(frac + "00")[:2], 10, 64)
	return n
}

// oversize pads one session of list (sorted by start) with transactions until its JSON is at
// least size bytes, and returns its id: the second session of the first day that has three or
// more, so that on any page of three or more it has a neighbour on each side. A session with a
// correction is passed over (one padded version is enough).
func oversize(list []simSession, size int) string {
	for lo := 0; lo < len(list); {
		hi := lo
		for hi < len(list) && utcDay(list[hi].start).Equal(utcDay(list[lo].start)) {
			hi++
		}
		for i := lo + 1; i < hi-1; i++ {
			if len(list[i].versions) == 1 {
				pad(&list[i].versions[0], size)
				return list[i].id
			}
		}
		lo = hi
	}
	return ""
}

// pad appends copies of v's first transaction, each of a few cents, until v.data has size bytes.
func pad(v *simVersion, size int) {
	var sess Session
	_ = json.Unmarshal(v.data, &sess) // generated by json.Marshal: always decodes
	one, _ := json.Marshal(sess.Transactions[0])
	for len(v.data) < size {
		for k := range (size-len(v.data))/(len(one)+1) + 1 {
			t := sess.Transactions[0]
			t.TotalAmount = json.Number(decimalText(int64(k%100+1), 2))
			sess.Transactions = append(sess.Transactions, t)
			v.amounts = append(v.amounts, string(t.TotalAmount))
		}
		v.data, _ = json.Marshal(sess)
	}
}

// decimalText writes v / 10^scale like the API writes numbers: trailing zeros dropped, but
// at least one decimal ("20.0", "12.4", "1.659").
func decimalText(v int64, scale int) string {
	s := fmt.Sprintf("%0*d", scale+1, v)
	intPart, frac := s[:len(s)-scale], strings.TrimRight(s[len(s)-scale:], "0")
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
