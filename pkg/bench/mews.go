package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/pipeline"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/mews"
	"github.com/chargeline/chargeline/pkg/providers/sim"
)

// mewsBillBytes is about how long one bill's line is in the simulator's export (measured with
// seed 1); the scenario sizes the export in bills from it and reports the bytes it really had.
const mewsBillBytes = 1444

// mewsMaxRSSMB is the target: the poller at most this large while the export streams.
const mewsMaxRSSMB = 64

// serveMews serves the Mews simulator with records bills (and its other entity types) under
// /mews on a port of its own, its clock fixed at sourceNow. It returns the base URL, the number
// of bills and a stop function. It runs in the infrastructure child: the export's bytes are
// built and held there, not in the harness.
func serveMews(seed int64, records int) (string, int, func(), error) {
	s := mews.NewSimulator(sim.Options{Seed: seed, Records: records, Now: func() time.Time { return sourceNow }})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", 0, nil, fmt.Errorf("bench infra: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/mews/", http.StripPrefix("/mews", s))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	return "http://" + ln.Addr().String() + "/mews", s.Truth().Records, func() { _ = srv.Close() }, nil
}

// mewsExportScenario: the poller with the mews source streams one Bill export of about
// Config.MewsExportMB from the simulator (in the infra child) into RAW; its peak RSS is the
// issue's memory target. There is no baseline: the figure is an absolute bound.
func (h *harness) mewsExportScenario(ctx context.Context) ([]Result, error) {
	records := max(h.cfg.MewsExportMB<<20/mewsBillBytes, 1)
	st, err := h.startStageWith(ctx, ScenarioMewsExport, infraRequest{MewsRecords: records})
	if err != nil {
		return nil, err
	}
	defer st.close()
	n := st.in.mewsBills
	r, err := st.measure(ctx, run{
		scenario: ScenarioMewsExport, name: "poller: mews export", records: n,
		start: func(ctx context.Context, g *group) error { return startMewsPoller(ctx, st, g) },
		done:  st.streamHolds(bus.StreamRaw, n),
	})
	if err != nil {
		return nil, err
	}
	size, err := mewsExportBytes(ctx, st.in.mewsURL)
	if err != nil {
		return nil, err
	}
	mb := float64(size) / (1 << 20)
	got, err := st.streamMsgs(ctx, bus.StreamRaw)
	if err != nil {
		return nil, err
	}
	r.exact("RAW messages", got, uint64(n))
	r.atMost(fmt.Sprintf("peak RSS ≤ %d MB", mewsMaxRSSMB), r.PeakRSSMB, mewsMaxRSSMB)
	if r.Seconds > 0 {
		r.note("export of %d bytes (%.1f MB) in %d files: %.1f MB/s streamed", size, mb, (n+49)/50, mb/r.Seconds)
	}
	r.note("mews source and client (MEWS_ENTITY_TYPES=Bill) against the Mews simulator in the infra child; the target is for the default 1024 MB export (--mews-export-mb)")
	return []Result{r}, nil
}

// startMewsPoller starts a Mews poller for Bills pointed at the stage's Mews simulator, at the
// poller service's defaults but for short export status polls, on a connection of its own.
func startMewsPoller(ctx context.Context, st *stage, g *group) error {
	p := mews.Provider{
		Now:        func() time.Time { return sourceNow },
		ExportWait: poll.Backoff{Initial: 20 * time.Millisecond, Max: 200 * time.Millisecond, MaxAttempts: 600},
	}
	cfg, err := pipeline.SimPollerConfig(p, st.in.mewsURL)
	if err != nil {
		return err
	}
	cfg.Source = cfg.Source.With("mews-entity-types", mews.EntityBill)
	_, js, err := st.connect(ctx, "chargeline-poller-mews", cfg.MaxPending())
	if err != nil {
		return err
	}
	sched, err := pipeline.NewPoller(ctx, cfg, js, pipeline.Env{Logger: st.h.logger.With("component", "poller")})
	if err != nil {
		return err
	}
	g.run("poller", sched.Run)
	return nil
}

// mewsExportBytes asks the simulator for its exports and sums the sizes of the Bill exports'
// files: the bytes the poller streamed.
func mewsExportBytes(ctx context.Context, baseURL string) (int64, error) {
	body, _ := json.Marshal(mews.GetExportsRequest{Credentials: mews.Credentials{
		ClientToken: mews.SimClientToken, AccessToken: mews.SimAccessToken, Client: "chargeline-bench",
	}})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, baseURL+"/api/connector/v1/exports/getAll", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("bench: mews getAll: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, fmt.Errorf("bench: mews getAll: %w", err)
	}
	defer resp.Body.Close()
	var out mews.GetExportsResponse
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("bench: mews getAll: status %d: %v", resp.StatusCode, err)
	}
	var size int64
	for _, e := range out.Exports {
		if e.EntityType != mews.EntityBill || e.Status != mews.StatusSuccess {
			continue
		}
		for _, f := range e.Files {
			size += f.SizeInBytes
		}
	}
	return size, nil
}
