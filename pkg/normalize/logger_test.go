package normalize

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/ThreeDotsLabs/watermill"
)

// The guard drops only what the logger would drop: at info, the router's per-message Trace and
// Debug lines are skipped (before their fields are built); at trace level they are written, with
// the fields of With.
func TestRouterLoggerKeepsWhatTheLevelAllows(t *testing.T) {
	for _, tt := range []struct {
		level slog.Level
		want  []string
		not   []string
	}{
		{slog.LevelInfo, []string{"an info"}, []string{"a trace", "a debug"}},
		{watermill.LevelTrace, []string{"an info", "a trace", "a debug", "handler=h"}, nil},
	} {
		var buf bytes.Buffer
		l := newRouterLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: tt.level}))).
			With(watermill.LogFields{"handler": "h"})
		l.Trace("a trace", watermill.LogFields{"message_uuid": "u"})
		l.Debug("a debug", nil)
		l.Info("an info", nil)
		for _, w := range tt.want {
			if !strings.Contains(buf.String(), w) {
				t.Errorf("level %v: output lacks %q:\n%s", tt.level, w, buf.String())
			}
		}
		for _, w := range tt.not {
			if strings.Contains(buf.String(), w) {
				t.Errorf("level %v: output has %q:\n%s", tt.level, w, buf.String())
			}
		}
	}
}
