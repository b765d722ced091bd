package pgvault

import (
	"errors"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tgvault/tgvault/internal/pgtest"
	"github.com/tgvault/tgvault/vault"
)

// TestLocation: a postgres:// or postgresql:// location is a vault in
// that database (connected, its OnQuiet set), anything else a directory;
// a database URL that does not parse is an error that does not quote its
// password, and close is callable in every case.
func TestLocation(t *testing.T) {
	cfg, err := pgxpool.ParseConfig(pgtest.Database(t))
	if err != nil {
		t.Fatal(err)
	}
	c := cfg.ConnConfig
	q := url.Values{"sslmode": {"disable"}, "host": {c.Host}, "port": {strconv.Itoa(int(c.Port))}}
	db := url.URL{User: url.User(c.User), Path: "/" + c.Database, RawQuery: q.Encode()}
	pg, pgsql := db, db
	pg.Scheme, pgsql.Scheme = "postgres", "postgresql"

	tests := []struct {
		name, loc string
		wantDB    bool
		wantErr   bool
	}{
		{"directory", "/srv/tgvault", false, false},
		{"relative directory", "vault", false, false},
		{"a directory named like a scheme", "postgres-vault", false, false},
		{"postgres", pg.String(), true, false},
		{"postgresql", pgsql.String(), true, false},
		{"bad URL", "postgres://u:hunter2@db.example:notaport/v", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			quiet := false
			opts, closeDB, err := Location(t.Context(), tt.loc, func(time.Duration) { quiet = true })
			if closeDB == nil {
				t.Fatal("close is nil")
			}
			defer closeDB()
			if (err != nil) != tt.wantErr {
				t.Fatalf("Location: %v, want error %v", err, tt.wantErr)
			}
			if err != nil {
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("error %q quotes the password", err)
				}
				return
			}
			be, isDB := opts.Backend.(*Backend)
			if isDB != tt.wantDB || (opts.Dir != "") == tt.wantDB {
				t.Fatalf("Location(%s) = %+v, want a database %v", tt.loc, opts, tt.wantDB)
			}
			if !tt.wantDB {
				if opts.Dir != tt.loc {
					t.Errorf("Dir = %q, want %q", opts.Dir, tt.loc)
				}
				return
			}
			if be.onQuiet == nil {
				t.Fatal("the backend's OnQuiet is not set")
			}
			be.onQuiet(time.Second)
			if !quiet {
				t.Error("the backend's OnQuiet is not the one given")
			}
			// Connected to that database: its (empty) vault answers.
			if _, err := vault.Open(opts); !errors.Is(err, vault.ErrNotInitialized) {
				t.Errorf("Open of the located vault: %v, want vault.ErrNotInitialized", err)
			}
		})
	}
}
