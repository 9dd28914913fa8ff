package sink

import "github.com/chargeline/chargeline/pkg/events"

// TableOf returns the table a canonical event is written to, "" for a type the sink does not
// know. chargectl verify looks rows up with it.
func TableOf(e events.Event) string { return tableFor(e.NATSSubject()) }
