package simserver_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/providers"
	"github.com/chargeline/chargeline/pkg/providers/sim"
	"github.com/chargeline/chargeline/pkg/providers/simserver"
)

func TestServesEverySimulatorUnderItsNameAndTheTruth(t *testing.T) {
	s, err := simserver.New(simserver.Config{Options: sim.Options{Seed: 1, Records: 50}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	resp, err := http.Get(srv.URL + "/truth")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var truth map[string]sim.Truth
	if err := json.NewDecoder(resp.Body).Decode(&truth); err != nil {
		t.Fatal(err)
	}
	for _, p := range providers.All() {
		if _, ok := truth[p.Name()]; !ok {
			t.Errorf("/truth has no %s", p.Name())
		}
		// Unknown paths under the provider's prefix reach its simulator, which answers in its
		// own error shape rather than with the mux's plain 404 page.
		r, err := http.Get(srv.URL + "/" + p.Name() + "/no-such-endpoint")
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode == http.StatusOK {
			t.Errorf("%s: unknown endpoint answered 200", p.Name())
		}
	}
	if simserver.BaseURL("127.0.0.1:8081", "bemo") != "http://127.0.0.1:8081/bemo" {
		t.Error("BaseURL does not point at the provider's prefix")
	}
}

func TestUnknownProviderIsAConfigError(t *testing.T) {
	_, err := simserver.New(simserver.Config{Names: []string{"bemo", "nope"}}, nil)
	if !errors.Is(err, config.ErrInvalid) || !errors.Is(err, providers.ErrUnknown) {
		t.Fatalf("got %v, want ErrInvalid wrapping ErrUnknown", err)
	}
}
