package main

import (
	"bytes"
	"log/slog"
	"testing"
)

// TestLogger: what daemon logs prints exactly as warnf and notef print
// (the CLI's output did not change when run moved into daemon): the
// sentence only, attributes left out, Debug dropped, a '%' kept as is.
func TestLogger(t *testing.T) {
	t.Parallel()
	var got, want bytes.Buffer
	noEnv := func(string) string { return "" }
	logged := &app{stderr: &got, getenv: noEnv}
	printed := &app{stderr: &want, getenv: noEnv}

	log := logged.logger().With("worker", "w1")
	log.Warn("account alice: 100% gone; marked revoked in the vault", slog.String("account", "alice"))
	log.Info("account alice: its server answers again; ready")
	log.Debug("not printed")
	printed.warnf("%s", "account alice: 100% gone; marked revoked in the vault")
	printed.notef("account alice: its server answers again; ready")
	if got.String() != want.String() {
		t.Errorf("logged:\n%q\nwant (warnf, notef):\n%q", got.String(), want.String())
	}
}
