// Package sim holds what every provider simulator shares: options, ground truth, and the
// generic fault injection (429 storms, 5xx, slow responses, truncated bodies) wrapped around a
// provider's handler.
package sim

import (
	"bytes"
	"net/http"
	"strconv"
	"sync"
	"time"
)

// Simulator is a provider API stand-in that knows the ground truth of what it serves.
type Simulator interface {
	http.Handler
	// Truth reports what the simulator holds and how often it was asked.
	Truth() Truth
}

// Truth is a simulator's ground truth.
type Truth struct {
	Records int               // records that must arrive downstream exactly once
	Totals  map[string]string // exact decimal money total per currency
	// Requests counts requests served per key the simulator chooses (e.g. "acc-1 2026-11-20"),
	// so tests can check that completed windows were not fetched again.
	Requests map[string]int
	// Unreadable counts records the simulator holds that no client can read through the API
	// (e.g. PIP's Readings.TieBeyondPage); they are not in Records.
	Unreadable int `json:",omitempty"`
	// Gaps describes each gap a correct client must report, one string each (PIP: the tie's
	// completion instant, RFC 3339 UTC).
	Gaps []string `json:",omitempty"`
	// IDs, when the simulator lists them, are the ids of the Records records, sorted, so tests
	// can compare exact ids and not only a count.
	IDs []string `json:",omitempty"`
	// Oversized lists the ids of records made at least Readings.OversizedBytes large: counted in
	// Records and Totals (the provider has them), though too large for the bus.
	Oversized []string `json:",omitempty"`
}

// Options configures a simulator.
type Options struct {
	Seed    int64
	Records int
	// Now is the simulator's clock: only records that exist at Now() are served, so a test can
	// advance it to make records arrive late. Nil means time.Now.
	Now    func() time.Time
	Faults Faults
	// Readings makes the simulator serve another plausible reading of its provider's document
	// than the one chargeline's client was written for, so the tests can see a client that is
	// wrong about a document-conforming API. The zero value is the reading the client expects.
	Readings Readings
}

// Readings are the other readings of the seed documents a simulator can serve. Each field
// concerns one provider; the others ignore it.
type Readings struct {
	// LateCreated (Be-Mo): some sessions are created, and some corrected, days after they
	// started; lastCreated is the only way to find them.
	LateCreated bool
	// RecordsKey (PIP): the key of the response's record list; "" is "data".
	RecordsKey string
	// TieBeyondPage (PIP): one completion instant is shared by more sessions than a page holds,
	// so a strictly-after cursor can never read all of them.
	TieBeyondPage bool
	// BillMoney (Mews): where a bill's money is. "" or "revenue": embedded Revenue items;
	// "amount": the bill's own Amount {Currency, NetValue, GrossValue} and no Revenue;
	// "order-items": nowhere on the bill, only in the OrderItem export (items with its BillId).
	BillMoney string
	// OversizedBytes, when > 0, makes one record in the middle of a page at least this large
	// (above NATS's max payload, to test that it is reported as a gap and the scope moves on).
	OversizedBytes int
	// PlugsurfingBillsTopLevel (Plugsurfing): the bills list at the top of the answer, as the
	// seed's field list has it ({"bills": […], "result": …}), not under "user" as its example.
	PlugsurfingBillsTopLevel bool
	// PlugsurfingNumericSessionIDs (Plugsurfing): external-session-ids are JSON integers.
	PlugsurfingNumericSessionIDs bool
	// PlugsurfingStringResultCode (Plugsurfing): result.code is a string ("0", "145").
	PlugsurfingStringResultCode bool
	// PlugsurfingInclusiveEnd (Plugsurfing): a date-interval includes its end.
	PlugsurfingInclusiveEnd bool
	// PlugsurfingBillsWithoutSessions (Plugsurfing): some bills cover no session: their
	// external-session-ids are [], null or left out.
	PlugsurfingBillsWithoutSessions bool
	// InPostCountIsPageSize (InPost): the list's count is the number of items on the page, not
	// in the whole list.
	InPostCountIsPageSize bool
	// InPostStringIDs (InPost): MPK ids are JSON strings ("3"), and so are the list's count,
	// page and per_page: an API that writes its integers as strings.
	InPostStringIDs bool
	// InPostUTCTimes (InPost): times are written in UTC with "Z" and microseconds.
	InPostUTCTimes bool
	// InPostRepeatLastPage (InPost): a page past the last one serves the last page again.
	InPostRepeatLastPage bool
}

// Clock returns o.Now or time.Now.
func (o Options) Clock() func() time.Time {
	if o.Now != nil {
		return o.Now
	}
	return time.Now
}

// Faults injects misbehaviour; each "Every" is one in N requests (0 = never).
type Faults struct {
	TooManyRequestsEvery int           // 429 with Retry-After
	RetryAfter           time.Duration // Retry-After sent with a 429; rounded up to seconds, default 1s
	ServerErrorEvery     int           // 500
	SlowEvery            int           // delay the response by SlowDelay
	SlowDelay            time.Duration
	ExpiredToken         bool // every request is refused as an expired token (provider-specific body)
	MissingToken         bool // the simulator demands a token nobody sends
	// TooManyRequestsBurst makes each 429 a storm: the next TooManyRequestsBurst requests are
	// refused with 429 too.
	TooManyRequestsBurst int
	// TruncateEvery cuts one successful response in N off half-way: the full Content-Length is
	// announced, half the body is sent, and the connection is closed.
	TruncateEvery int
	// ExpireURLEvery refuses one download in N of a provider-issued file URL as expired, however
	// fresh it is (Mews export files).
	ExpireURLEvery int
	// TokenLifetime, when set, is how long an issued access token really works, while the token
	// response still announces the provider's usual lifetime: the token expires mid-use (PIP).
	TokenLifetime time.Duration
}

// Injector decides, request by request, which generic fault to serve. It is safe for
// concurrent use.
type Injector struct {
	f     Faults
	mu    sync.Mutex
	n     int
	storm int // 429s still to serve in the current storm
}

// NewInjector returns an injector for f.
func NewInjector(f Faults) *Injector { return &Injector{f: f} }

// Wrap serves generic faults before next. errorBody writes the provider's error body for a
// status, so clients see their own error envelope.
func (in *Injector) Wrap(next http.Handler, errorBody func(w http.ResponseWriter, status int)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f := in.f
		in.mu.Lock()
		in.n++
		n := in.n
		storming := in.storm > 0
		if storming {
			in.storm--
		} else if f.TooManyRequestsEvery > 0 && n%f.TooManyRequestsEvery == 0 {
			storming, in.storm = true, f.TooManyRequestsBurst
		}
		in.mu.Unlock()
		if f.SlowEvery > 0 && n%f.SlowEvery == 0 {
			select {
			case <-time.After(f.SlowDelay):
			case <-r.Context().Done():
				return
			}
		}
		if storming {
			ra := max(f.RetryAfter, time.Second)
			w.Header().Set("Retry-After", strconv.Itoa(int((ra+time.Second-1)/time.Second)))
			errorBody(w, http.StatusTooManyRequests)
			return
		}
		if f.ServerErrorEvery > 0 && n%f.ServerErrorEvery == 0 {
			errorBody(w, http.StatusInternalServerError)
			return
		}
		if f.TruncateEvery > 0 && n%f.TruncateEvery == 0 && r.Method != http.MethodHead {
			truncate(w, r, next)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// truncate serves next's response, but a successful one only half: it announces the whole
// Content-Length and stops half-way, so the server closes the connection and the client reads
// an unexpected EOF, as when a connection breaks in transit.
func truncate(w http.ResponseWriter, r *http.Request, next http.Handler) {
	rec := &recorder{header: w.Header(), status: http.StatusOK}
	next.ServeHTTP(rec, r)
	body := rec.body.Bytes()
	if rec.status < 200 || rec.status > 299 || len(body) < 2 {
		w.WriteHeader(rec.status)
		_, _ = w.Write(body)
		return
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(rec.status)
	_, _ = w.Write(body[:len(body)/2])
}

// recorder buffers a response; its header is the real response's.
type recorder struct {
	header http.Header
	status int
	wrote  bool
	body   bytes.Buffer
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(status int) {
	if !r.wrote {
		r.status, r.wrote = status, true
	}
}
func (r *recorder) Write(b []byte) (int, error) {
	r.wrote = true
	return r.body.Write(b)
}
