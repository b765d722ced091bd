//go:build tgvault_testhooks

package main

import (
	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/internal/devharness"
	"github.com/tgvault/tgvault/internal/filekeyring"
)

// A build with -tags tgvault_testhooks, for the end-to-end harnesses that
// run the binary (internal/reliability, bench/): the file keyring of
// TGVAULT_INSECURE_TEST_KEYRING and dev-server's --stats-file and
// --reject-duplicates. Never a release: TestReleaseBuildHasNoTestHooks
// checks that a normal build has none of them. testhooks_test.go sets the
// same in test binaries.
func init() {
	testKeyring = filekeyring.FromEnv
	devHarness = func(fs *pflag.FlagSet) harness { return devharness.Register(fs) }
}
