package main

import (
	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/internal/devharness"
	"github.com/tgvault/tgvault/internal/filekeyring"
)

// The test binary is the tgvault of the scripts (testscript runs it as
// the command): it gets the hooks of a -tags tgvault_testhooks build
// (testhooks.go).
func init() {
	testKeyring = filekeyring.FromEnv
	devHarness = func(fs *pflag.FlagSet) harness { return devharness.Register(fs) }
}
