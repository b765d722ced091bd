package main

import (
	"context"
	"log/slog"
)

// logger is the *slog.Logger the library packages that log (daemon) get:
// a warning is printed as warnf does, anything below it as notef does.
// The message is the whole sentence; attributes are left to other
// handlers (a program embedding daemon may log them as JSON).
func (a *app) logger() *slog.Logger {
	return slog.New(cliHandler{a})
}

// cliHandler is logger's slog.Handler.
type cliHandler struct{ a *app }

var _ slog.Handler = cliHandler{}

func (h cliHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelInfo }

func (h cliHandler) Handle(_ context.Context, r slog.Record) error {
	if r.Level >= slog.LevelWarn {
		h.a.warnf("%s", r.Message)
	} else {
		h.a.notef("%s", r.Message)
	}
	return nil
}

func (h cliHandler) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h cliHandler) WithGroup(string) slog.Handler      { return h }
