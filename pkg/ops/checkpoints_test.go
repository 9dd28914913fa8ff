package ops_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chargeline/chargeline/pkg/bus"
	"github.com/chargeline/chargeline/pkg/bus/natstest"
	"github.com/chargeline/chargeline/pkg/ops"
	"github.com/chargeline/chargeline/pkg/poll"
	"github.com/chargeline/chargeline/pkg/providers/bemo"
)

func TestCheckpointsSetAndResetAreCompareAndSet(t *testing.T) {
	ns := natstest.Start(t)
	kv, err := ns.JS.KeyValue(t.Context(), bus.BucketCheckpoints)
	if err != nil {
		t.Fatal(err)
	}
	cps := poll.NewCheckpoints(kv)
	c := newCLI(map[string]string{"NATS_URL": ns.URL})
	day := func(d int) time.Time { return time.Date(2026, 11, d, 0, 0, 0, 0, time.UTC) }

	var list ops.CheckpointsReport
	c.json(t, ops.ExitOK, &list, "checkpoints", "show")
	if len(list.Checkpoints) != 0 {
		t.Fatalf("fresh bucket shows %+v", list.Checkpoints)
	}

	// The operator sets a scope that was never polled: revision 0 means "must not exist".
	var ch ops.CheckpointChange
	c.json(t, ops.ExitOK, &ch, "checkpoints", "set", "--provider=bemo", "--scope=acc-1", "--at=2026-11-10", "--revision=0")
	if ch.Action != "set" || ch.BeforeRevision != 0 || ch.After != string(bemo.CheckpointAt(day(10))) || ch.AfterRevision == 0 {
		t.Fatalf("set = %+v", ch)
	}
	rev := ch.AfterRevision

	// A running poller read that revision and commits its progress …
	pollerRev, err := cps.Set(t.Context(), "bemo", "acc-1", bemo.CheckpointAt(day(12)), rev)
	if err != nil {
		t.Fatal(err)
	}
	// … so an operator who saw the old revision is refused, nothing is written, and the
	// message says what the checkpoint is now.
	r := c.must(t, ops.ExitConflict, "checkpoints", "set", "--provider=bemo", "--scope=acc-1",
		`--checkpoint={"next_day":"2026-11-01"}`, "--revision="+strconv.FormatUint(rev, 10))
	for _, want := range []string{"revision " + strconv.FormatUint(pollerRev, 10), `{"next_day":"2026-11-12"}`, "nothing written"} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("conflict message does not say %q:\n%s", want, r.stderr)
		}
	}
	if cp, got, _ := cps.Get(t.Context(), "bemo", "acc-1"); cp != bemo.CheckpointAt(day(12)) || got != pollerRev {
		t.Fatalf("after the refused set the checkpoint is %s at %d, want the poller's at %d", cp, got, pollerRev)
	}
	c.must(t, ops.ExitConflict, "checkpoints", "reset", "--provider=bemo", "--scope=acc-1", "--revision="+strconv.FormatUint(rev, 10))

	// Without --revision the write is conditional on the revision read just before it.
	c.json(t, ops.ExitOK, &ch, "checkpoints", "set", "--provider=bemo", "--scope=acc-1", `--checkpoint={"next_day":"2026-11-01"}`)
	if ch.BeforeRevision != pollerRev || ch.Before != string(bemo.CheckpointAt(day(12))) {
		t.Fatalf("set = %+v, want it to replace the poller's revision %d", ch, pollerRev)
	}
	// The poller, still at its old revision, learns at its next commit that the scope changed.
	if _, err := cps.Set(t.Context(), "bemo", "acc-1", bemo.CheckpointAt(day(13)), pollerRev); !errors.Is(err, poll.ErrConflict) {
		t.Fatalf("poller commit after the operator's set: %v, want poll.ErrConflict", err)
	}

	// Scopes with characters a KV key cannot hold come back as they were written.
	odd := "org 42/ü.x"
	c.must(t, ops.ExitOK, "checkpoints", "set", "--provider=bemo", "--scope="+odd, "--at=2026-11-03")
	c.json(t, ops.ExitOK, &list, "checkpoints", "show", "--provider=bemo")
	if len(list.Checkpoints) != 2 || list.Checkpoints[1].Scope != odd || list.Checkpoints[0].Scope != "acc-1" {
		t.Fatalf("show = %+v, want acc-1 and %q", list.Checkpoints, odd)
	}
	c.json(t, ops.ExitOK, &list, "checkpoints", "show", "--scope="+odd)
	if len(list.Checkpoints) != 1 || !list.Checkpoints[0].ResumesAt.Equal(day(3)) {
		t.Fatalf("show --scope = %+v", list.Checkpoints)
	}

	c.json(t, ops.ExitOK, &ch, "checkpoints", "reset", "--provider=bemo", "--scope=acc-1")
	if ch.Action != "reset" || ch.Before != `{"next_day":"2026-11-01"}` {
		t.Fatalf("reset = %+v", ch)
	}
	if cp, got, _ := cps.Get(t.Context(), "bemo", "acc-1"); cp != "" || got != 0 {
		t.Fatalf("after reset the checkpoint is %q at revision %d", cp, got)
	}
	c.json(t, ops.ExitOK, &ch, "checkpoints", "reset", "--provider=bemo", "--scope=acc-1")
	if ch.Action != "none" {
		t.Fatalf("second reset = %+v, want nothing to do", ch)
	}
	// A poller starting over after the reset creates the key again.
	if _, err := cps.Set(t.Context(), "bemo", "acc-1", bemo.CheckpointAt(day(1)), 0); err != nil {
		t.Fatal(err)
	}
	table := c.must(t, ops.ExitOK, "checkpoints", "show").stdout
	if !strings.Contains(table, "acc-1") || !strings.Contains(table, odd) {
		t.Fatalf("show table:\n%s", table)
	}
}
