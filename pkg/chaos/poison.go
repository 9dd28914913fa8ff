package chaos

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/pip"
	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
)

// poisonResources is the resource each provider's poison records claim to be.
var poisonResources = map[string]string{
	"bemo":        bemo.Resource,
	"inpost":      inpost.Resource,
	"mews":        strings.ToLower(mews.EntityBill),
	"pip":         pip.Resource,
	"plugsurfing": plugsurfing.Resource,
}

// poisonBodies are the broken bodies every provider gets: a record cut off mid-way and JSON of
// the wrong shape. Neither can be mapped; both must end in dlq.normalize.<provider>.
var poisonBodies = []string{`{"Id": "cut off in the midd`, `["not", "a", "record"]`}

// PoisonRecords returns the raw records the harness publishes to test dead-lettering: for every
// provider, one per poisonBodies, with well-formed envelopes and the record ids
// chaos-poison-<provider>-<n>.
func PoisonRecords(names []string, now time.Time) []events.Raw {
	var out []events.Raw
	for _, p := range names {
		res := poisonResources[p]
		if res == "" {
			res = "records"
		}
		for i, body := range poisonBodies {
			id := fmt.Sprintf("chaos-poison-%s-%d", p, i+1)
			out = append(out, events.Raw{
				ID: events.RawID(p, res, id, []byte(body)), Provider: p, Resource: res, Scope: "chaos",
				RecordID: id, FetchedAt: now.UTC(), Data: []byte(body),
			})
		}
	}
	return out
}

// publishPoison publishes recs, retrying through NATS restarts until ctx ends.
func publishPoison(ctx context.Context, js jetstream.JetStream, recs []events.Raw) error {
	for _, r := range recs {
		for {
			pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
			_, err := js.PublishMsg(pctx, events.RawMsg(r))
			cancel()
			if err == nil {
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("chaos: publish poison %s: %w", r.RecordID, err)
			}
			time.Sleep(250 * time.Millisecond)
		}
	}
	return nil
}

// deadLetter is one message found on the DLQ stream.
type deadLetter struct {
	subject  string // dlq.<stage>.<provider>
	stage    string
	original string // chargeline-original-subject
	recordID string // ce-subject
	reason   string
}

// readDLQ returns every message on the DLQ stream.
func readDLQ(ctx context.Context, js jetstream.JetStream) ([]deadLetter, error) {
	st, err := js.Stream(ctx, bus.StreamDLQ)
	if err != nil {
		return nil, err
	}
	info, err := st.Info(ctx)
	if err != nil {
		return nil, err
	}
	var out []deadLetter
	if info.State.Msgs == 0 {
		return nil, nil
	}
	for seq := info.State.FirstSeq; seq <= info.State.LastSeq; seq++ {
		m, err := st.GetMsg(ctx, seq)
		if err != nil {
			if strings.Contains(err.Error(), "not found") {
				continue
			}
			return nil, err
		}
		out = append(out, deadLetter{
			subject:  m.Subject,
			stage:    m.Header.Get(bus.HeaderStage),
			original: m.Header.Get(bus.HeaderOriginalSubject),
			recordID: m.Header.Get(events.HeaderSubject),
			reason:   m.Header.Get(bus.HeaderError),
		})
	}
	return out, nil
}

// dlqVerdict compares the dead letters with the poison that was injected: each poison record
// must be there exactly once, from the normalizer, with a reason; anything else is unexpected.
type dlqVerdict struct {
	found      int      // poison records found once, as expected
	missing    []string // poison record ids not dead-lettered
	unexpected []string // dead letters that are not the injected poison (or repeat one)
	reasons    map[string]string
}

func checkDLQ(dls []deadLetter, poison []events.Raw) dlqVerdict {
	v := dlqVerdict{reasons: map[string]string{}}
	want := map[string]events.Raw{}
	for _, r := range poison {
		want[r.RecordID] = r
	}
	seen := map[string]int{}
	for _, d := range dls {
		r, ok := want[d.recordID]
		switch {
		case !ok:
			v.unexpected = append(v.unexpected, fmt.Sprintf("%s %s (%s): %s", d.subject, d.recordID, d.original, d.reason))
			continue
		case d.stage != "normalize" || d.subject != "dlq.normalize."+r.Provider || d.original != r.Subject() || d.reason == "":
			v.unexpected = append(v.unexpected, fmt.Sprintf("%s %s: stage %q, original subject %q, reason %q", d.subject, d.recordID, d.stage, d.original, d.reason))
			continue
		}
		seen[d.recordID]++
		if seen[d.recordID] > 1 {
			v.unexpected = append(v.unexpected, fmt.Sprintf("%s %s dead-lettered again", d.subject, d.recordID))
			continue
		}
		v.found++
		v.reasons[d.recordID] = d.reason
	}
	for _, r := range poison {
		if seen[r.RecordID] == 0 {
			v.missing = append(v.missing, r.RecordID)
		}
	}
	return v
}
