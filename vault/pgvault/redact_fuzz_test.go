package pgvault

import (
	"context"
	"net/url"
	"strings"
	"testing"
)

// secretParams are the password-like parameters the fuzz target hides a
// password in (besides the URL's user info).
var secretParams = []string{"password", "sslpassword", "PassWord", "sslkey", "gss_token"}

// FuzzRedact: a database URL's or keyword/value string's password never
// reaches Redact's output nor Open's error, wherever it is (user info, a
// password-like parameter of the query or of the keyword/value form, next
// to a query that does not parse), whatever the rest holds.
func FuzzRedact(f *testing.F) {
	f.Add("u", "hunter2", "db.example:5432", "v", "sslmode=disable", uint8(0))
	f.Add("u", "p@ss:w/rd", "[::1]:notaport", "", "password=x", uint8(1))
	f.Add("u", "hunter2", "db.example", "v", "a=%zz", uint8(2))
	f.Add("u", "hunter 2'\\", "db.example", "v", "sslmode=disable", uint8(3))
	f.Add("u", "%zzhunter2", "db", "v", "", uint8(4))
	f.Fuzz(func(t *testing.T, user, pass, host, path, query string, where uint8) {
		if len(pass) < 6 {
			return // short passwords match by chance
		}
		param := secretParams[int(where)%len(secretParams)]
		var loc, bare string
		switch where % 3 {
		case 0: // the URL's user info
			u := &url.URL{Scheme: "postgres", User: url.UserPassword(user, pass), Host: host, Path: "/" + path, RawQuery: query}
			loc = u.String()
			b := *u
			b.User = url.User(user)
			bare = b.String()
		case 1: // a password-like query parameter, raw (maybe a bad escape)
			u := &url.URL{Scheme: "postgres", User: url.User(user), Host: host, Path: "/" + path}
			bare = u.String() + "?" + query
			u.RawQuery = query + "&" + param + "=" + pass
			loc = u.String()
		case 2: // the keyword/value form
			bare = "host=" + quoteKeyword(host) + " user=" + quoteKeyword(user) + " " + query
			loc = bare + " " + param + "=" + quoteKeyword(pass)
		}
		enc := url.UserPassword("", pass).String()
		enc = strings.TrimSuffix(strings.TrimPrefix(enc, ":"), "@")
		qenc := url.QueryEscape(pass)
		leaks := func(s string) bool {
			return strings.Contains(s, pass) || strings.Contains(s, enc) || strings.Contains(s, qenc)
		}
		if rb := Redact(bare); leaks(bare) || leaks(rb) {
			return // the rest holds the password's text already (or does once re-encoded)
		}
		if out := Redact(loc); leaks(out) {
			t.Fatalf("Redact(%q) = %q shows the password", loc, out)
		}
		if !IsURL(loc) {
			return
		}
		ctx, cancel := context.WithCancel(context.Background())
		cancel() // never connect
		// The error may quote the redacted URL (checked above) inside
		// fixed text: cut it out first, or the URL's end and the text
		// after it can spell the password ("?00000" + " is not valid"
		// for "00000 ").
		if _, err := Open(ctx, loc); err != nil {
			msg := strings.ReplaceAll(err.Error(), Redact(loc), "\x00")
			if leaks(msg) {
				t.Fatalf("Open(%q) = %v shows the password", loc, err)
			}
		}
	})
}
