package bemo

import (
	"net/http"

	"github.com/chargeline/chargeline/pkg/config"
	"github.com/chargeline/chargeline/pkg/events"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Provider is the Be-Mo integration (placeholder until the package lands).
type Provider struct{}

func (Provider) Name() string                                               { return "bemo" }
func (Provider) Settings() []config.Setting                                 { return nil }
func (Provider) NewSource(config.Values, *http.Client) (poll.Source, error) { return nil, nil }
func (Provider) Map(events.Raw) ([]events.Event, error)                     { return nil, nil }
func (Provider) NewSimulator(sim.Options) sim.Simulator                     { return nil }
