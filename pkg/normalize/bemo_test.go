package normalize_test

import (
	"encoding/json"
	"testing"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/normalize"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
	eventschema "github.com/chargeline/chargeline/schemas/events"
)

// seedSession is the first session of the Be-Mo seed's 200 response
// (shared/seeds/002_379b15a20ec28189.txt), exactly as the poller stores one record.
const seedSession = `{
      "address": "HOLZMARKTSTR. 36-42   HOLZMARKTSTR. 36-42  ",
      "cityKey": "BERLIN",
      "countryCode": "DE",
      "isRfid": false,
      "latitude": 52.511399,
      "longitude": 13.428477,
      "placeId": "ND020438",
      "placeName": "BERLIN HOLZMARKTSTR. 36-42",
      "placeNetwork": "Total",
      "rfid": "123456789",
      "sessionEndDate": "2021-02-11T03:38:10Z",
      "sessionId": "3fc8e82f-ec81-4ba3-a021-00d9db4c86db",
      "sessionStartDate": "2021-02-11T03:37:49Z",
      "timeZone": "+01:00",
      "transactions": [
        {
          "currencyKey": "EUR",
          "productCategory": "Fueling",
          "productFamily": "Diesel",
          "productCode": "B7",
          "quantity": 16.53,
          "quantityUnit": "L",
          "tariffCode": null,
          "totalAmount": 20.0,
          "transactionDate": "2021-02-11T03:38:10Z",
          "unitPrice": 1.21
        }
      ],
      "vehicleId": "ba7a3db7-a7de-42d9-8d16-f4bc7bc687a1",
      "zipCode": "10243"
    }`

// TestBemoSeedRecord runs the real Be-Mo mapping through the normalizer.
func TestBemoSeedRecord(t *testing.T) {
	srv := natstest.Start(t)
	instance(t, srv, normalize.Config{}, bemo.Provider{})

	const sessionID = "3fc8e82f-ec81-4ba3-a021-00d9db4c86db"
	r := events.Raw{
		Provider: "bemo", Resource: "sessions", Scope: "acc-1", RecordID: sessionID,
		FetchedAt: eventTime, Data: []byte(seedSession),
	}
	r.ID = events.RawID(r.Provider, r.Resource, r.RecordID, r.Data)
	seq := publishRaw(t, srv.JS, r)

	const subject = "events.charging_session.v1.bemo"
	waitFor(t, "consumer drained", func() bool { return drained(t, srv.JS, "bemo") })
	if n := count(t, srv.JS, bus.StreamDLQ, "dlq.normalize.bemo")(); n != 0 {
		t.Fatalf("the seed's session was dead-lettered (%d): %s", n,
			messages(t, srv.JS, bus.StreamDLQ, "dlq.normalize.bemo")[0].Header.Get(bus.HeaderError))
	}
	msgs := messages(t, srv.JS, bus.StreamEvents, subject)
	if len(msgs) != 1 {
		t.Fatalf("%d events on %s, want 1", len(msgs), subject)
	}
	m := msgs[0]
	schema, err := eventschema.Validator(events.TypeChargingSession)
	if err != nil {
		t.Fatal(err)
	}
	if err := eventschema.Validate(schema, m.Data); err != nil {
		t.Errorf("event does not validate: %v\n%s", err, m.Data)
	}
	for k, want := range map[string]string{
		events.HeaderSpecVersion: "1.0",
		events.HeaderType:        "io.chargeline.charging_session.v1",
		events.HeaderSource:      "/providers/bemo/acc-1",
		events.HeaderSubject:     "bemo:" + sessionID,
		events.HeaderContentType: "application/json",
		"Nats-Msg-Id":            m.Header.Get(events.HeaderID),
	} {
		if got := m.Header.Get(k); got != want || got == "" {
			t.Errorf("header %s = %q, want %q", k, got, want)
		}
	}
	var cs events.ChargingSession
	if err := json.Unmarshal(m.Data, &cs); err != nil {
		t.Fatal(err)
	}
	if cs.Lineage.RawSequence != seq || cs.Lineage.RawID != r.ID {
		t.Errorf("lineage = %+v, want raw %s at sequence %d", cs.Lineage, r.ID, seq)
	}
	if cs.TotalAmount == "" || cs.Currency != "EUR" {
		t.Errorf("total %q %q, want the seed's 20.0 EUR", cs.TotalAmount, cs.Currency)
	}
}
