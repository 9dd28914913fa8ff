package inpost_test

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"testing"

	"github.com/chargeline/chargeline/pkg/providers/inpost"
	"github.com/chargeline/chargeline/pkg/providers/providertest"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// TestSimulatorDefaultReadingUnchanged holds the simulator's default output (sim.Readings zero
// value) to what it served before the other readings existed: testdata/sim_default.sha256 has
// the SHA-256 of list pages (the seed's default order and the source's), a page past the end,
// one MPK and an unknown organization.
func TestSimulatorDefaultReadingUnchanged(t *testing.T) {
	s := inpost.Provider{}.NewSimulator(sim.Options{Seed: 7, Records: 300, Now: providertest.Fixed(testNow)})
	var b strings.Builder
	paths := []string{"/v1/mpks/17", mpksPath("9", "")}
	for _, org := range inpost.SimOrganizations() {
		paths = append(paths, mpksPath(org, ""), mpksPath(org, "page=2&per_page=7"))
		for page := 1; page <= 3; page++ {
			paths = append(paths, mpksPath(org, fmt.Sprintf("page=%d&per_page=40&sort_by=updated_at&sort_order=desc", page)))
		}
	}
	for _, p := range paths {
		resp := get(t, s, p)
		fmt.Fprintf(&b, "%s %d %x\n", p, resp.status, sha256.Sum256(resp.body))
	}
	if want := string(providertest.Testdata(t, "sim_default.sha256")); b.String() != want {
		t.Errorf("the default reading's output changed:\n%s\nwant\n%s", b.String(), want)
	}
}
