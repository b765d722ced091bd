package pgvault

import (
	"strings"
	"testing"
)

// TestRedactParams: every password-like parameter is hidden, in the URL
// query and the keyword/value form, and a query that does not parse is
// hidden whole.
func TestRedactParams(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ loc, want string }{
		{"postgres://u:hunter2@db.example/v", "postgres://u:redacted@db.example/v"},
		{"postgres://u@db.example/v?password=hunter2", "postgres://u@db.example/v?password=redacted"},
		{"postgres://u@db.example/v?sslmode=verify-full&sslpassword=hunter2", "postgres://u@db.example/v?sslmode=verify-full&sslpassword=redacted"},
		{"postgresql://u@db.example/v?sslkey=/k&sslPassword=hunter2&typo_pasword=hunter2", "postgresql://u@db.example/v?(redacted:unknown parameter)"},
		{"postgresql://u@db.example/v?sslkey=/k&sslPassword=hunter2", "postgresql://u@db.example/v?sslPassword=redacted&sslkey=redacted"},
		{"postgres://u@db.example/v?password=ab&cd3fgh", "postgres://u@db.example/v?(redacted:unknown parameter)"},
		{"postgres://u@db.example/v?password=%zzhunter2", "postgres://u@db.example/v?(redacted:unparsable)"},
		{"postgres://u@db.example/v?a=%zz&password=hunter2", "postgres://u@db.example/v?(redacted:unparsable)"},
		{"postgres://u@db.example/v?sslmode=disable#hunter2", "postgres://u@db.example/v?sslmode=disable"},
		{"postgres://u:hunter2@db.example:notaport/v", "postgres://(unparsable)"},
		{"host=db user=u password=hunter2 sslmode=disable", "host=db user=u password=redacted sslmode=disable"},
		{"host=db sslpassword = 'hun ter2' dbname='my db'", "host=db sslpassword=redacted dbname='my db'"},
		{`host=db password='hunter2\' x`, "(unparsable connection string)"},
		{"host=db password", "(unparsable connection string)"},
		{"host=db x= password=hunter2", "host=db x=redacted"},
	} {
		got := Redact(c.loc)
		if got != c.want {
			t.Errorf("Redact(%q) = %q, want %q", c.loc, got, c.want)
		}
		if strings.Contains(got, "hunter2") || strings.Contains(got, "hun ter2") {
			t.Errorf("Redact(%q) = %q shows the password", c.loc, got)
		}
	}
}
