//go:build !linux

package main

import (
	"fmt"
	"os"

	"github.com/rogpeppe/go-internal/testscript"
)

func nomlockMain() {
	fmt.Fprintln(os.Stderr, "nomlock: Linux only")
	os.Exit(2)
}

func cmdVmLck(ts *testscript.TestScript, neg bool, args []string) {
	ts.Fatalf("vmlck: Linux only")
}

func memlockCond() bool { return false }
