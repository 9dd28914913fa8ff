package bench

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// The Be-Mo data of every scenario comes from the bemo simulator: it generates its sessions at
// simT0, and the poller's clock (sourceNow) is two days later, so every simulated day is closed
// and every session has been "created" (the simulator's own tests do the same).
var (
	simT0     = time.Date(2026, 11, 20, 15, 4, 5, 0, time.UTC)
	sourceNow = simT0.Add(48 * time.Hour)
)

// templates is how many sessions the simulator generates; records beyond that repeat them with
// fresh session ids. The simulator scans every session of an account per page and needs about
// 2 KiB of heap per session, so serving a million straight from it would measure the simulator.
const templates = 4096

// record is one Be-Mo session as the API serves it.
type record struct {
	account string
	day     string // UTC day of sessionStartDate, YYYY-MM-DD: the API's from/to window
	id      string // sessionId
	data    []byte
}

// raw returns the record as the poller publishes it.
func (r record) raw() events.Raw {
	return events.Raw{
		ID: events.RawID(bemo.Name, bemo.Resource, r.id, r.data), Provider: bemo.Name, Resource: bemo.Resource,
		Scope: r.account, RecordID: r.id, FetchedAt: sourceNow, Data: r.data,
	}
}

// genRecords returns n deterministic Be-Mo sessions: the simulator's sessions (seeded by seed),
// cycled, each copy with a session id of its own, so every record maps to its own canonical row.
func genRecords(seed int64, n int) ([]record, error) {
	tpl, err := simSessions(seed, min(n, templates))
	if err != nil {
		return nil, err
	}
	out := make([]record, n)
	for i := range out {
		t := tpl[i%len(tpl)]
		id := t.id
		data := t.data
		if i >= len(tpl) {
			id = sessionID(seed, i)
			data = bytes.Replace(t.data, []byte(`"sessionId":"`+t.id+`"`), []byte(`"sessionId":"`+id+`"`), 1)
		}
		out[i] = record{account: t.account, day: t.day, id: id, data: data}
	}
	return out, nil
}

// simSessions reads n sessions from the bemo simulator through its HTTP handler.
func simSessions(seed int64, n int) ([]record, error) {
	now := simT0
	s := bemo.Provider{}.NewSimulator(sim.Options{Seed: seed, Records: n, Now: func() time.Time { return now }})
	now = sourceNow
	var out []record
	for _, acc := range bemo.SimAccounts() {
		for page := 0; ; page++ {
			req := httptest.NewRequest(http.MethodGet, "/reporting/v1/api/accounts/"+acc+"/sessions?limit=1000&offset="+strconv.Itoa(page), nil)
			req.Header.Set("Api-Subscription-Key", bemo.SimSubscriptionKey)
			req.Header.Set("Authorization", "Bearer "+bemo.SimAccessToken)
			rec := httptest.NewRecorder()
			s.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				return nil, fmt.Errorf("bench: bemo simulator answered %d: %s", rec.Code, rec.Body.String())
			}
			var env bemo.Envelope
			if err := json.Unmarshal(rec.Body.Bytes(), &env); err != nil {
				return nil, fmt.Errorf("bench: bemo simulator page: %w", err)
			}
			for _, item := range env.Data {
				var sess bemo.Session
				if err := json.Unmarshal(item, &sess); err != nil {
					return nil, fmt.Errorf("bench: bemo simulator session: %w", err)
				}
				start, err := time.Parse(time.RFC3339, sess.SessionStartDate)
				if err != nil {
					return nil, fmt.Errorf("bench: bemo simulator session %s: %w", sess.SessionID, err)
				}
				out = append(out, record{account: acc, day: start.UTC().Format(time.DateOnly), id: sess.SessionID, data: item})
			}
			if len(env.Data) < 1000 {
				break
			}
		}
	}
	if len(out) != n {
		return nil, fmt.Errorf("bench: bemo simulator served %d sessions, want %d", len(out), n)
	}
	return out, nil
}

// sessionID is a UUID-shaped id derived from seed and i.
func sessionID(seed int64, i int) string {
	h := sha256.Sum256([]byte(strconv.FormatInt(seed, 10) + "/" + strconv.Itoa(i)))
	h[6] = h[6]&0x0f | 0x40
	h[8] = h[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", h[0:4], h[4:6], h[6:8], h[8:10], h[10:16])
}
