package pgtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/tgvault/tgvault/internal/realpart"
)

// EnvDSN names the variable that gives the tests a running server, as a
// connection string pgx understands (keyword/value or a postgres:// URL).
// .ci/postgres sets it. When it is unset, a throwaway server is started.
const EnvDSN = "TGVAULT_TEST_POSTGRES"

// installHint is what realpart.Missing tells the reader to do.
const installHint = "apt-get install postgresql, or set " + EnvDSN + " to a server's DSN"

// superuser is the role initdb makes: the same name whoever runs it.
const superuser = "postgres"

// startTimeout bounds initdb, the start and the wait for connections.
const startTimeout = 2 * time.Minute

// errNoPostgres means no initdb, pg_ctl and postgres were found.
var errNoPostgres = errors.New("no PostgreSQL server programs (initdb, pg_ctl, postgres) found")

// shared is the one server of this test binary. It is the only state the
// package keeps: Main marks that it runs, DSN starts the server once, and
// Main stops it after every test has run.
var shared struct {
	inMain bool // set by Main before the tests run, never after

	once sync.Once
	srv  *server
	err  error
}

// Main runs the tests of m and then stops the server DSN started for them,
// if any, and removes its files. A TestMain calls it:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// A server that cannot be stopped turns a passing run into exit status 1.
func Main(m interface{ Run() int }) int {
	shared.inMain = true
	code := m.Run()
	if shared.srv != nil {
		if err := shared.srv.stop(); err != nil {
			fmt.Fprintln(os.Stderr, "pgtest:", err)
			if code == 0 {
				code = 1
			}
		}
	}
	return code
}

// DSN returns the connection string of a PostgreSQL server for tests: the
// value of TGVAULT_TEST_POSTGRES if set, else that of a throwaway server
// started once for the whole test binary (Main stops it). The DSN connects
// as a superuser to the maintenance database; tests that store anything
// want Database instead. Without a server and without the programs to
// start one, it skips t loudly (fails under TGVAULT_REQUIRE_REAL=1).
func DSN(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv(EnvDSN); dsn != "" {
		return dsn
	}
	if !shared.inMain {
		t.Fatal("pgtest: the test binary's TestMain must call pgtest.Main, which stops the server DSN starts: func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }")
	}
	shared.once.Do(func() { shared.srv, shared.err = start() })
	if errors.Is(shared.err, errNoPostgres) {
		realpart.Missing(t, "PostgreSQL", installHint)
	}
	if shared.err != nil {
		t.Fatalf("pgtest: starting a throwaway PostgreSQL: %v", shared.err)
	}
	return shared.srv.dsn
}

// Database creates a fresh, empty database on the server of DSN and
// returns a DSN for it, the same as DSN's but for the database. The
// database is made from template0 (UTF8, C collation) under a random name,
// and dropped, with every connection still open to it, when t ends.
func Database(t testing.TB) string {
	t.Helper()
	admin := DSN(t)
	name := "tgvault_test_" + strings.ToLower(rand.Text()[:16]) // [a-z2-7]
	ident := pgx.Identifier{name}.Sanitize()

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := execAdmin(ctx, admin, "CREATE DATABASE "+ident+" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C'"); err != nil {
		t.Fatalf("pgtest: creating database %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := execAdmin(ctx, admin, "DROP DATABASE IF EXISTS "+ident+" WITH (FORCE)"); err != nil {
			t.Errorf("pgtest: dropping database %s: %v", name, err)
		}
	})
	dsn, err := withDatabase(admin, name)
	if err != nil {
		t.Fatalf("pgtest: %v", err)
	}
	return dsn
}

// execAdmin runs one statement on its own connection to dsn.
func execAdmin(ctx context.Context, dsn, sql string) error {
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		return err
	}
	_, err = conn.Exec(ctx, sql)
	return errors.Join(err, conn.Close(ctx))
}

// withDatabase returns dsn with its database replaced by name. dsn is
// either a postgres:// (or postgresql://) URL, whose path is the database,
// or keyword/value pairs, where a later dbname wins over an earlier one.
func withDatabase(dsn, name string) (string, error) {
	if strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://") {
		u, err := url.Parse(dsn)
		if err != nil {
			return "", fmt.Errorf("parsing %s as a URL: %w", EnvDSN, err)
		}
		q := u.Query()
		q.Del("dbname") // would win over the path
		u.RawQuery = q.Encode()
		u.Path = "/" + name
		u.RawPath = ""
		return u.String(), nil
	}
	return strings.TrimSpace(dsn) + " dbname=" + quoteValue(name), nil
}

// quoteValue quotes v for a keyword/value connection string.
func quoteValue(v string) string {
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "'" + v + "'"
}

// server is a throwaway PostgreSQL started by start.
type server struct {
	dir     string // temporary directory: data/, the socket, postgres.log
	pgCtl   string
	dsn     string
	logPath string
	run     func(name string, args ...string) error
}

// start makes a cluster with initdb in a new temporary directory and
// starts it listening only on a unix socket in that same directory. The
// directory is short (os.MkdirTemp, not t.TempDir) because a socket path
// may not exceed about 107 bytes.
//
// Long: initdb, the config, pg_ctl start and the wait for readiness in
// order, each undone on failure; test helper.
func start() (_ *server, err error) {
	bin, err := binDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "pg")
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			os.RemoveAll(dir)
		}
	}()
	dir, err = filepath.EvalSymlinks(dir) // the socket path as the server sees it
	if err != nil {
		return nil, err
	}
	if len(filepath.Join(dir, ".s.PGSQL.5432")) > 100 {
		return nil, fmt.Errorf("temporary directory %s is too long for a unix socket path; set TMPDIR to a shorter one", dir)
	}
	logPath := filepath.Join(dir, "postgres.log")
	logFile, err := os.OpenFile(logPath, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logFile.Close()
	attr, err := unprivileged(dir, logPath)
	if err != nil {
		return nil, err
	}

	data := filepath.Join(dir, "data")
	s := &server{
		dir:     dir,
		pgCtl:   filepath.Join(bin, "pg_ctl"),
		logPath: logPath,
		dsn:     "host=" + quoteValue(dir) + " port=5432 user=" + superuser + " dbname=postgres sslmode=disable",
	}
	// Every program writes to the log through a file, never a pipe: the
	// server pg_ctl starts outlives it and would hold a pipe open.
	s.run = func(name string, args ...string) error {
		ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Dir = dir // readable by the unprivileged user
		cmd.Stdin = nil
		cmd.Stdout = logFile
		cmd.Stderr = logFile
		cmd.SysProcAttr = attr
		cmd.Env = serverEnv()
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("%s %s: %w; the end of %s:\n%s", filepath.Base(name), strings.Join(args, " "), err, logPath, logTail(logPath, 30))
		}
		return nil
	}

	if err := s.run(filepath.Join(bin, "initdb"), "--pgdata="+data, "--username="+superuser,
		"--auth=trust", "--encoding=UTF8", "--locale=C", "--no-sync"); err != nil {
		return nil, err
	}
	conf := fmt.Sprintf(`
# pgtest: a throwaway server for tests, reachable only on its unix socket.
listen_addresses = ''
unix_socket_directories = %s
port = 5432
fsync = off
synchronous_commit = off
full_page_writes = off
`, confQuote(dir))
	if err := appendFile(filepath.Join(data, "postgresql.conf"), conf); err != nil {
		return nil, err
	}
	if err := s.run(s.pgCtl, "start", "--pgdata="+data, "--log="+logPath,
		"--wait", "--timeout="+strconv.Itoa(int(startTimeout/time.Second))); err != nil {
		s.stop() // in case it came up after all
		return nil, err
	}
	if err := s.waitReady(); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// waitReady waits until the server accepts a connection and a query.
func (s *server) waitReady() error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	for {
		err := execAdmin(ctx, s.dsn, "SELECT 1")
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the server does not accept connections: %w; the end of %s:\n%s", err, s.logPath, logTail(s.logPath, 30))
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop stops the server at once (a test cluster needs no clean shutdown)
// and removes its directory. A server that does not stop keeps its
// directory, and the log in it, for a look.
func (s *server) stop() error {
	if err := s.run(s.pgCtl, "stop", "--pgdata="+filepath.Join(s.dir, "data"), "--mode=immediate", "--wait"); err != nil {
		return fmt.Errorf("stopping the throwaway PostgreSQL in %s: %w", s.dir, err)
	}
	return os.RemoveAll(s.dir)
}

// binDir returns the directory holding initdb, pg_ctl and postgres: that
// of initdb or pg_ctl on PATH (symlinks resolved: Debian links them from
// /usr/local/bin or /usr/bin), else the newest /usr/lib/postgresql/*/bin.
func binDir() (string, error) {
	var dirs []string
	for _, name := range []string{"initdb", "pg_ctl"} {
		if p, err := exec.LookPath(name); err == nil {
			if real, err := filepath.EvalSymlinks(p); err == nil {
				dirs = append(dirs, filepath.Dir(real))
			}
		}
	}
	versioned, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	slices.SortFunc(versioned, func(a, b string) int { // newest major first
		return majorOf(b) - majorOf(a)
	})
	dirs = append(dirs, versioned...)
	for _, dir := range dirs {
		if hasAll(dir, "initdb", "pg_ctl", "postgres") {
			return dir, nil
		}
	}
	return "", errNoPostgres
}

// majorOf returns N of /usr/lib/postgresql/N/bin, or 0.
func majorOf(bin string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(bin)))
	return n
}

func hasAll(dir string, names ...string) bool {
	for _, name := range names {
		if runtime.GOOS == "windows" {
			name += ".exe"
		}
		if fi, err := os.Stat(filepath.Join(dir, name)); err != nil || fi.IsDir() {
			return false
		}
	}
	return true
}

// serverEnv is the environment for PostgreSQL's programs: this process's,
// without the PG* variables that would point them elsewhere.
func serverEnv() []string {
	return slices.DeleteFunc(os.Environ(), func(kv string) bool {
		return strings.HasPrefix(kv, "PG")
	})
}

// confQuote quotes v as a postgresql.conf string.
func confQuote(v string) string {
	return "'" + strings.ReplaceAll(v, "'", "''") + "'"
}

func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(text)
	return errors.Join(err, f.Close())
}

// logTail returns the last n lines of the file at path, or why it cannot.
func logTail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return string(bytes.Join(lines, []byte("\n")))
}
