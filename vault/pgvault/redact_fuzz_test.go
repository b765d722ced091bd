package pgvault

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// FuzzRedact: a database URL's password never reaches Redact's output nor
// Open's error, whatever the URL.
func FuzzRedact(f *testing.F) {
	f.Add("u", "hunter2", "db.example:5432", "v", "sslmode=disable")
	f.Add("u", "p@ss:w/rd", "[::1]:notaport", "", "password=x")
	f.Fuzz(func(t *testing.T, user, pass, host, path, query string) {
		if len(pass) < 6 {
			return // short passwords match by chance
		}
		u := &url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: host, Path: "/" + path, RawQuery: query}
		loc := u.String()
		enc := url.UserPassword("", pass).String()
		enc = strings.TrimSuffix(strings.TrimPrefix(enc, ":"), "@")
		bare := *u
		bare.User = url.User(user)
		if rb := Redact(bare.String()); strings.Contains(bare.String(), pass) || strings.Contains(bare.String(), enc) ||
			strings.Contains(rb, pass) || strings.Contains(rb, enc) {
			return // the rest of the URL holds the password's text already (or does once re-encoded)
		}
		for _, out := range []string{Redact(loc)} {
			if strings.Contains(out, pass) || strings.Contains(out, enc) {
				t.Fatalf("Redact(%q) = %q shows the password", loc, out)
			}
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // never connect
		// The error may quote the redacted URL (checked above) inside
		// fixed text: cut it out first, or the URL's end and the text
		// after it can spell the password ("?00000" + " is not valid"
		// for "00000 ").
		if _, err := Open(ctx, loc); err != nil {
			msg := strings.ReplaceAll(err.Error(), Redact(loc), "\x00")
			if strings.Contains(msg, pass) || strings.Contains(msg, enc) {
				t.Fatalf("Open(%q) = %v shows the password", loc, err)
			}
		}
	})
}
