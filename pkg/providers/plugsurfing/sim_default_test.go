package plugsurfing_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/providers/plugsurfing"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestSimulatorDefaultReadingUnchanged holds the simulator's default output (sim.Readings zero
// value) to what it served before the other readings existed: testdata/sim_default.sha256 has
// the SHA-256 of each user's answer over the whole history and of two error answers.
func TestSimulatorDefaultReadingUnchanged(t *testing.T) {
	s := plugsurfing.Provider{}.NewSimulator(sim.Options{Seed: 7, Records: 300, Now: providertest.Fixed(testNow)})
	var b strings.Builder
	from, to := utc(testNow.Add(-20*24*time.Hour)), utc(testNow)
	for _, u := range plugsurfing.SimUsers() {
		resp := post(t, s, call(u, from, to))
		fmt.Fprintf(&b, "%s %d %x\n", u.Scope(), resp.status, sha256.Sum256(resp.body))
	}
	wrong := plugsurfing.SimUsers()[0]
	wrong.Token = "wrong"
	resp := post(t, s, call(wrong, from, to))
	fmt.Fprintf(&b, "wrong-token %d %x\n", resp.status, sha256.Sum256(resp.body))
	resp = post(t, s, `{"get-bills": {}}`)
	fmt.Fprintf(&b, "bad-request %d %x\n", resp.status, sha256.Sum256(resp.body))
	if want := string(providertest.Testdata(t, "sim_default.sha256")); b.String() != want {
		t.Errorf("the default reading's output changed:\n%s\nwant\n%s", b.String(), want)
	}
}
