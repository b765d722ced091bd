// Package pgtest owns the PostgreSQL server that tests talk to: it finds
// one (TGVAULT_TEST_POSTGRES) or starts a throwaway one per test binary
// (initdb into a temporary directory, a unix socket only, stopped when the
// binary's tests are done), and hands each test a fresh, empty database on
// it that is dropped when the test ends.
//
// A test package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// and each test asks for its own database:
//
//	dsn := pgtest.Database(t)
//
// Where no server is given and no PostgreSQL programs are installed, the
// tests skip loudly (or fail under TGVAULT_REQUIRE_REAL=1), as
// internal/realpart does for every real part.
package pgtest
