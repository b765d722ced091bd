// Package reliability holds the "prove it safe" harnesses that drive the
// real tgvault binary: SIGKILL crash loops (import, export --move, rekey,
// passwd), tampering with every region of every sealed file, concurrent
// writers and readers, a scan for leaked secrets, file modes, and OS
// keyring faults through the CLI; and, against a dev server, `tgvault run`
// killed at random moments, two runs at once, and bad input at its local
// API (run_test.go, unix only).
//
// Everything is in the tests; TestMain builds the binary once with
// `go build -o`. Counts come from environment variables with small
// defaults for CI; docs/reliability.md has the full runs and their
// commands.
package reliability
