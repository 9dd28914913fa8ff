package providertest

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/providers"
)

// CheckMap maps raw with p twice and checks what every Map promises whatever its input (the
// invariants of each provider's FuzzMap): an error wraps events.ErrUnmappable and comes without
// events; otherwise the second run returns the same events (ids set and equal, same data and
// times), each with a subject "<name>:<id>" and a time in UTC. It returns the events and
// whether raw mapped, so the caller can go on to check what its event types promise.
func CheckMap(t testing.TB, p providers.Provider, raw events.Raw) ([]events.Event, bool) {
	t.Helper()
	evs, err := p.Map(raw)
	if err != nil {
		if !errors.Is(err, events.ErrUnmappable) {
			t.Fatalf("error does not wrap ErrUnmappable: %v", err)
		}
		if evs != nil {
			t.Fatalf("events returned with an error")
		}
		return nil, false
	}
	again, err := p.Map(raw)
	if err != nil || len(again) != len(evs) {
		t.Fatalf("second Map differs: %v", err)
	}
	prefix := p.Name() + ":"
	for i, ev := range evs {
		if ev.ID == "" || ev.ID != again[i].ID || !bytes.Equal(ev.Data, again[i].Data) || !ev.Time.Equal(again[i].Time) {
			t.Fatalf("same input, different output:\n%s\n%s", ev.Data, again[i].Data)
		}
		if !strings.HasPrefix(ev.Subject, prefix) || len(ev.Subject) == len(prefix) || ev.Time.Location() != time.UTC {
			t.Fatalf("bad envelope: subject %q time %v", ev.Subject, ev.Time)
		}
	}
	return evs, true
}

// CheckUnmappable fails t unless err, what Map returned with evs, wraps events.ErrUnmappable:
// the normalizer dead-letters exactly those records instead of retrying them.
func CheckUnmappable(t testing.TB, evs []events.Event, err error) {
	t.Helper()
	if !errors.Is(err, events.ErrUnmappable) {
		t.Fatalf("Map = %d events, %v; want an error wrapping events.ErrUnmappable", len(evs), err)
	}
}
