// Package testhooks holds the knobs that tests of several packages of this
// module turn in another package: today the scrypt work factor of crypto's
// passphrase slots, which tests lower so that a slot costs milliseconds,
// not a second.
//
// Nothing outside tests sets a knob here: being internal, no program or
// library outside this module can import the package, and no flag or
// environment variable of tgvault reaches it (cmd/tgvault's
// TestReleaseBuildHasNoTestHooks checks the binary). A hook that a built
// binary needs for an end-to-end test (the file keyring, the dev server's
// harness flags) is not here but behind the tgvault_testhooks build tag.
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only, and never
// `testing`, since crypto imports this package and must not import it.
package testhooks

import "sync/atomic"

var scryptLogN atomic.Int32

// ScryptWorkFactor is the scrypt work factor (log2) a test set, or 0 when
// none did.
func ScryptWorkFactor() int { return int(scryptLogN.Load()) }

// SetScryptWorkFactor makes crypto.SealPassphrase use 2^logN as the scrypt
// cost until the end of the test (tb's Cleanup restores the previous
// value). It panics for logN outside 1..30. The setting is process-wide:
// parallel tests that set different values race.
func SetScryptWorkFactor(tb interface {
	Helper()
	Cleanup(func())
}, logN int) {
	tb.Helper()
	if logN < 1 || logN > 30 {
		panic("testhooks: SetScryptWorkFactor: logN out of range")
	}
	old := scryptLogN.Swap(int32(logN))
	tb.Cleanup(func() { scryptLogN.Store(old) })
}
