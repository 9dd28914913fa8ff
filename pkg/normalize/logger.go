package normalize

import (
	"context"
	"log/slog"

	"github.com/ThreeDotsLabs/watermill"
)

// routerLogger is watermill's slog adapter, but Trace and Debug return at once when the logger
// drops those levels: the router logs at Trace for every message, and the adapter turns the
// fields into attributes before slog looks at the level (2–3 % of the normalizer's CPU).
type routerLogger struct {
	watermill.LoggerAdapter
	l *slog.Logger
}

func newRouterLogger(l *slog.Logger) watermill.LoggerAdapter {
	return routerLogger{LoggerAdapter: watermill.NewSlogLogger(l), l: l}
}

func (r routerLogger) Trace(msg string, fields watermill.LogFields) {
	if r.l.Enabled(context.Background(), watermill.LevelTrace) {
		r.LoggerAdapter.Trace(msg, fields)
	}
}

func (r routerLogger) Debug(msg string, fields watermill.LogFields) {
	if r.l.Enabled(context.Background(), slog.LevelDebug) {
		r.LoggerAdapter.Debug(msg, fields)
	}
}

// With keeps the guard on the loggers the router derives per handler and per message.
func (r routerLogger) With(fields watermill.LogFields) watermill.LoggerAdapter {
	return routerLogger{LoggerAdapter: r.LoggerAdapter.With(fields), l: r.l}
}
