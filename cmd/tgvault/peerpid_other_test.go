//go:build !linux && !darwin

package main

import "github.com/rogpeppe/go-internal/testscript"

// socketPID is Linux and macOS only (the scripts that need it skip
// elsewhere).
func socketPID(ts *testscript.TestScript, sock string) int {
	ts.Fatalf("termrun: the peer pid of a unix socket is read on Linux and macOS only")
	return 0
}
