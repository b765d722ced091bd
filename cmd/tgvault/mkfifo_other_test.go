//go:build !unix

package main

import "github.com/rogpeppe/go-internal/testscript"

// cmdMkfifo: named pipes are unix only (the scripts guard it with [unix]).
func cmdMkfifo(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("mkfifo: unix only")
}
