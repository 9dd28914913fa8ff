package ops

import (
	"context"
	"fmt"
	"io"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/poll"
)

// GapsReport is what gaps prints.
type GapsReport struct {
	Gaps []poll.Gap `json:"gaps"`
}

func (r *GapsReport) table(w io.Writer) {
	fmt.Fprintln(w, "PROVIDER\tSCOPE\tKIND\tFOUND\tGAP")
	for _, g := range r.Gaps {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\n", g.Provider, g.Scope, g.Kind, timeText(g.Found), g.Describe())
	}
	if len(r.Gaps) == 0 {
		fmt.Fprintln(w, "(no gaps recorded)")
	}
}

func gapsCommand() command {
	return command{
		name: "gaps", synopsis: "[--provider P] [--json]",
		summary: "provider data the pollers could not put on RAW (exit 3 when there is any)",
		help: `Lists the gaps the pollers recorded in the poller_gaps bucket: provider data that exists and
never reached RAW, so analysts' numbers miss it.
  tie        more records share one cursor value than one response holds, and the API has no
             way to ask for the rest (PIP: a strictly-after completedAfter, 1,000 per page)
  oversized  a record larger than the bus takes (NATS max_payload, 1 MB by default, or the
             stream's maximum message size); its bytes are kept in the object store
             poller_oversized under the gap's object name:
             nats object get poller_oversized <object>
A gap stays listed until it is dealt with; remove it with
  nats kv del poller_gaps <key>    (nats kv ls poller_gaps lists the keys)

Exit code 3 when a gap is listed, 0 when there is none.`,
		settings: natsSettings(providerFlag(false)),
		run: func(ctx context.Context, s *session) (report, error) {
			js, err := s.jetStream(ctx)
			if err != nil {
				return nil, err
			}
			gaps, err := poll.ListGaps(ctx, js, s.v.String("provider"))
			if err != nil {
				return nil, fmt.Errorf("bucket %s: %w", bus.BucketGaps, err)
			}
			rep := &GapsReport{Gaps: gaps}
			if rep.Gaps == nil {
				rep.Gaps = []poll.Gap{}
			}
			if len(gaps) > 0 {
				return rep, ErrDifferences
			}
			return rep, nil
		},
	}
}
