package pgvault

import (
	"net/url"
	"strings"
)

// redacted replaces a secret value in what Redact returns.
const redacted = "redacted"

// plainParams are the connection parameters whose values Redact shows:
// libpq's and pgx's that name a place, a mode or a limit. Every other
// value is hidden: password, sslpassword (the passphrase of sslkey), and
// whatever a typo or a future version makes of them.
var plainParams = map[string]bool{
	"host": true, "hostaddr": true, "port": true, "dbname": true, "user": true,
	"sslmode": true, "sslrootcert": true, "sslcert": true, "sslcrl": true, "sslsni": true,
	"sslnegotiation": true, "channel_binding": true, "gssencmode": true, "require_auth": true,
	"connect_timeout": true, "application_name": true, "fallback_application_name": true,
	"target_session_attrs": true, "search_path": true, "timezone": true, "client_encoding": true,
	"krbsrvname": true, "service": true, "load_balance_hosts": true,
	"pool_max_conns": true, "pool_min_conns": true, "pool_min_idle_conns": true,
	"pool_max_conn_lifetime": true, "pool_max_conn_lifetime_jitter": true,
	"pool_max_conn_idle_time": true, "pool_health_check_period": true,
	"statement_cache_capacity": true, "description_cache_capacity": true,
	"default_query_exec_mode": true, "min_read_buffer_size": true,
}

// secretNames are the parameters known to hold a secret (or the path of
// one): their values are hidden, their names shown.
var secretNames = map[string]bool{"password": true, "sslpassword": true, "sslkey": true, "passfile": true}

// secretParam reports whether Redact hides a parameter's value: every
// one but plainParams (compared in lower case).
func secretParam(name string) bool {
	return !plainParams[strings.ToLower(name)]
}

// Redact returns a connection string fit for messages: a postgres:// URL
// without the password of its user info and with the value of every
// query parameter that may hold a secret replaced (all but those that
// name a place, a mode or a limit: password, sslpassword and any unknown
// one are hidden; a query with a parameter neither known as plain nor
// as secret is replaced whole, since its name may be a piece of a
// password written with an unescaped &), or keyword/value pairs (host=... password=...) with
// those values replaced. What cannot
// be parsed is not shown: a URL that does not parse becomes
// "postgres://(unparsable)", a query that does not (a bad %-escape) is
// replaced whole, keyword/value text that does not becomes
// "(unparsable connection string)". A fragment is dropped.
func Redact(loc string) string {
	if !IsURL(loc) {
		return redactKeywords(loc)
	}
	u, err := url.Parse(loc)
	if err != nil {
		return "postgres://(unparsable)"
	}
	if _, ok := u.User.Password(); ok {
		u.User = url.UserPassword(u.User.Username(), redacted)
	}
	u.Fragment, u.RawFragment = "", ""
	if u.RawQuery != "" || u.ForceQuery {
		q, err := url.ParseQuery(u.RawQuery)
		if err != nil {
			// ParseQuery drops the pairs it cannot read, so the ones
			// left say nothing about what a bad one held: hide it all.
			u.RawQuery = "(" + redacted + ":unparsable)"
			return u.String()
		}
		for k := range q {
			if l := strings.ToLower(k); !plainParams[l] && !secretNames[l] {
				// An unknown name may be a piece of a secret: a password
				// with an unescaped & ("password=ab&cd") leaves "cd" a
				// parameter of its own. Hide it all.
				u.RawQuery = "(" + redacted + ":unknown parameter)"
				return u.String()
			}
		}
		for k, vs := range q {
			if secretParam(k) {
				for i := range vs {
					vs[i] = redacted
				}
			}
		}
		u.RawQuery = q.Encode()
	}
	return u.String()
}

// redactKeywords redacts a keyword/value connection string
// ("host=db password='p w' sslmode=require"), as libpq and pgx read it:
// keyword = value, values in single quotes with \' and \\ escapes.
func redactKeywords(s string) string {
	const bad = "(unparsable connection string)"
	var out []string
	for {
		s = strings.TrimLeft(s, " \t\n\r\f\v")
		if s == "" {
			break
		}
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			return bad
		}
		key := strings.TrimRight(s[:eq], " \t\n\r\f\v")
		if key == "" || strings.ContainsAny(key, " \t\n\r\f\v'\\") {
			return bad
		}
		s = strings.TrimLeft(s[eq+1:], " \t\n\r\f\v")
		var val strings.Builder
		if strings.HasPrefix(s, "'") {
			s = s[1:]
			closed := false
			for len(s) > 0 {
				c := s[0]
				s = s[1:]
				if c == '\\' {
					if len(s) == 0 {
						return bad
					}
					val.WriteByte(s[0])
					s = s[1:]
					continue
				}
				if c == '\'' {
					closed = true
					break
				}
				val.WriteByte(c)
			}
			if !closed {
				return bad
			}
		} else {
			end := strings.IndexAny(s, " \t\n\r\f\v")
			if end < 0 {
				end = len(s)
			}
			raw := s[:end]
			s = s[end:]
			for i := 0; i < len(raw); i++ {
				if raw[i] == '\\' {
					if i+1 == len(raw) {
						return bad
					}
					i++
				}
				val.WriteByte(raw[i])
			}
		}
		v := val.String()
		if secretParam(key) {
			v = redacted
		}
		out = append(out, key+"="+quoteKeyword(v))
	}
	return strings.Join(out, " ")
}

// quoteKeyword quotes a value for a keyword/value string when it needs it.
func quoteKeyword(v string) string {
	if v != "" && !strings.ContainsAny(v, " \t\n\r\f\v'\\") {
		return v
	}
	v = strings.ReplaceAll(v, `\`, `\\`)
	v = strings.ReplaceAll(v, `'`, `\'`)
	return "'" + v + "'"
}
