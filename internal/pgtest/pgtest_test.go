package pgtest

import (
	"context"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/tgvault/tgvault/internal/realpart"
)

func TestMain(m *testing.M) { os.Exit(realpart.Main(realpart.RunFunc(func() int { return Main(m) }))) }

// connect opens a connection to dsn that t closes at its end.
func connect(t *testing.T, dsn string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

func scan[T any](t *testing.T, conn *pgx.Conn, sql string, args ...any) T {
	t.Helper()
	var v T
	if err := conn.QueryRow(context.Background(), sql, args...).Scan(&v); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
	return v
}

func mustExec(t *testing.T, conn *pgx.Conn, sql string, args ...any) {
	t.Helper()
	if _, err := conn.Exec(context.Background(), sql, args...); err != nil {
		t.Fatalf("%s: %v", sql, err)
	}
}

const userTables = `SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
	WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg_toast%'`

func TestDatabaseIsFreshAndWorks(t *testing.T) {
	t.Parallel()
	conn := connect(t, Database(t))

	if db := scan[string](t, conn, "SELECT current_database()"); !strings.HasPrefix(db, "tgvault_test_") {
		t.Errorf("current_database() = %q, want a fresh tgvault_test_ database", db)
	}
	if n := scan[int64](t, conn, userTables); n != 0 {
		t.Errorf("a fresh database has %d relations outside the catalogs, want 0", n)
	}
	if enc := scan[string](t, conn, "SHOW server_encoding"); enc != "UTF8" {
		t.Errorf("server_encoding = %q, want UTF8", enc)
	}

	mustExec(t, conn, "CREATE TABLE account (id bigint PRIMARY KEY, name text NOT NULL)")
	mustExec(t, conn, "INSERT INTO account (id, name) VALUES ($1, $2), ($3, $4)", 1, "alice", 2, "bob ☃")
	rows, err := conn.Query(context.Background(), "SELECT id, name FROM account ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	type account struct {
		ID   int64
		Name string
	}
	got, err := pgx.CollectRows(rows, pgx.RowToStructByPos[account])
	if err != nil {
		t.Fatal(err)
	}
	want := []account{{1, "alice"}, {2, "bob ☃"}}
	if len(got) != len(want) || got[0] != want[0] || got[1] != want[1] {
		t.Errorf("SELECT gave %v, want %v", got, want)
	}
}

func TestDatabasesAreIsolated(t *testing.T) {
	t.Parallel()
	a, b := connect(t, Database(t)), connect(t, Database(t))

	nameA := scan[string](t, a, "SELECT current_database()")
	nameB := scan[string](t, b, "SELECT current_database()")
	if nameA == nameB {
		t.Fatalf("two Database calls gave the same database %q", nameA)
	}
	mustExec(t, a, "CREATE TABLE only_in_a (v int)")
	mustExec(t, a, "INSERT INTO only_in_a VALUES (42)")
	if n := scan[int64](t, b, userTables); n != 0 {
		t.Errorf("database B sees %d relations after A made a table, want 0", n)
	}
	if _, err := b.Exec(context.Background(), "SELECT v FROM only_in_a"); !isUndefinedTable(err) {
		t.Errorf("selecting A's table in B: err = %v, want undefined_table (42P01)", err)
	}
	if v := scan[int32](t, a, "SELECT v FROM only_in_a"); v != 42 {
		t.Errorf("A's row = %d, want 42", v)
	}
}

func isUndefinedTable(err error) bool {
	var pgErr *pgconn.PgError
	return errors.As(err, &pgErr) && pgErr.Code == "42P01"
}

// The database goes away when its test ends, even with a connection still
// open to it.
func TestDatabaseIsDroppedAtTheEnd(t *testing.T) {
	t.Parallel()
	var name string
	var leftOpen *pgx.Conn
	t.Run("user", func(t *testing.T) {
		dsn := Database(t)
		conn, err := pgx.Connect(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		leftOpen = conn // not closed: the drop must force it
		name = conn.Config().Database
	})
	if leftOpen == nil {
		t.Fatal("the subtest did not connect")
	}
	defer leftOpen.Close(context.Background())

	admin := connect(t, DSN(t))
	if n := scan[int64](t, admin, "SELECT count(*) FROM pg_database WHERE datname = $1", name); n != 0 {
		t.Errorf("database %q still exists after its test ended", name)
	}
	if err := leftOpen.Ping(context.Background()); err == nil {
		t.Error("a connection to the dropped database still answers")
	}
}

// TGVAULT_TEST_POSTGRES wins over a started server: DSN returns it as
// given and Database builds on it. The variable is set to the running
// server's DSN plus an application_name, which a connection then reports.
func TestEnvDSNIsHonoured(t *testing.T) {
	base := DSN(t)
	const app = "pgtest_env_check"
	given, err := withParam(base, "application_name", app)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvDSN, given)

	if got := DSN(t); got != given {
		t.Errorf("DSN() = %q, want %s's value %q", got, EnvDSN, given)
	}
	conn := connect(t, Database(t))
	if got := scan[string](t, conn, "SELECT current_setting('application_name')"); got != app {
		t.Errorf("a Database connection has application_name %q, want %q from %s", got, app, EnvDSN)
	}
}

// withParam adds key=value to a keyword/value DSN or a URL's query.
func withParam(dsn, key, value string) (string, error) {
	if strings.Contains(dsn, "://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", err
		}
		q := u.Query()
		q.Set(key, value)
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	return dsn + " " + key + "=" + quoteValue(value), nil
}

func TestWithDatabase(t *testing.T) {
	tests := []struct {
		name, dsn string
		wantHost  string
		wantUser  string
	}{
		{"keyword", "host=/tmp/pg1 port=5432 user=postgres dbname=postgres sslmode=disable", "/tmp/pg1", "postgres"},
		{"keyword quoted host", `host='/tmp/a b\'c' user=u dbname=postgres`, `/tmp/a b'c`, "u"},
		{"keyword no dbname", "host=/tmp/pg1 user=u", "/tmp/pg1", "u"},
		{"keyword trailing space", "host=/tmp/pg1 user=u dbname=x ", "/tmp/pg1", "u"},
		{"url", "postgres://u:secret@db.example:5433/postgres?sslmode=disable", "db.example", "u"},
		{"url socket host in query", "postgresql:///postgres?host=/tmp/pg1&user=u&sslmode=disable", "/tmp/pg1", "u"},
		{"url dbname in query", "postgres://u@db.example/?dbname=postgres&sslmode=disable", "db.example", "u"},
		{"url no path", "postgres://u@db.example?sslmode=disable", "db.example", "u"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			const db = "tgvault_test_abc234"
			got, err := withDatabase(tt.dsn, db)
			if err != nil {
				t.Fatal(err)
			}
			cfg, err := pgx.ParseConfig(got)
			if err != nil {
				t.Fatalf("pgx cannot parse %q: %v", got, err)
			}
			if cfg.Database != db || cfg.Host != tt.wantHost || cfg.User != tt.wantUser {
				t.Errorf("withDatabase(%q) = %q: database %q host %q user %q, want %q %q %q",
					tt.dsn, got, cfg.Database, cfg.Host, cfg.User, db, tt.wantHost, tt.wantUser)
			}
		})
	}
}

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	if err := os.WriteFile(path, []byte("one\ntwo\nthree\nFATAL: it broke\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		n    int
		want string
	}{
		{1, "FATAL: it broke"},
		{2, "three\nFATAL: it broke"},
		{10, "one\ntwo\nthree\nFATAL: it broke"},
	}
	for _, tt := range tests {
		if got := logTail(path, tt.n); got != tt.want {
			t.Errorf("logTail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := logTail(filepath.Join(t.TempDir(), "none"), 3); !strings.Contains(got, "no log") {
		t.Errorf("logTail of a missing file = %q, want it to say there is no log", got)
	}
}
