// Package mttest holds the test helpers that the tests of mtproto,
// localapi, mtproto/devserver and mtproto/relay share: a dev server
// served until the test ends, the connect timeout a loaded or
// race-detecting machine needs, memory stores holding a seeded session,
// the real clients' whereabouts (Telethon, the npm packages), a /metrics
// parser, and the process's CPU time for benchmarks. Tests only: nothing
// outside _test.go files imports it.
//
// Layer rule (docs/ARCHITECTURE.md): mtproto/devserver, storage,
// sessionstring, internal/realpart and testing; never mtproto itself,
// whose in-package tests import this package.
package mttest
