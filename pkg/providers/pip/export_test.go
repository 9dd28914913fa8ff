package pip

import (
	"encoding/json"

	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// Internals the external tests (package pip_test) exercise directly.
var (
	DecodePage  = decodePage
	DecodeError = decodeError
)

// SimSessions returns the ids and completion times of the sessions s serves now, in export
// order: the ground truth a poll must reproduce.
func SimSessions(s sim.Simulator) (ids, completedAt []string) {
	ss := s.(*simulator)
	for _, x := range ss.sessions[:ss.visible(ss.now())] {
		var v struct {
			CompletedAt string `json:"completedAt"`
		}
		_ = json.Unmarshal(x.data, &v)
		ids = append(ids, x.id)
		completedAt = append(completedAt, v.CompletedAt)
	}
	return ids, completedAt
}
