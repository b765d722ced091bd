package localapi

import (
	"net/url"
	"strings"
)

// The route table of the local API: every route Handler serves, as an
// http.ServeMux pattern. The server registers these names and the client
// (client.go) builds its requests from them, so a path is spelled once;
// README.md ("The local API") documents them.
const (
	routeAccounts      = "GET /v1/accounts"                      // []Account
	routeAccount       = "GET /v1/accounts/{name}"               // Account
	routeMe            = "GET /v1/accounts/{name}/me"            // Me
	routePeer          = "GET /v1/accounts/{name}/peers/{query}" // Peer
	routeInvoke        = "POST /v1/accounts/{name}/invoke"       // TL JSON in, TL JSON out
	routeUpdates       = "GET /v1/accounts/{name}/updates"       // server-sent events
	routeMetrics       = "GET /metrics"                          // Prometheus text format
	routeRelayMint     = "POST /v1/accounts/{name}/relay"        // RelayRequest → RelayMinted
	routeRelaySessions = "GET /v1/relay"                         // []RelaySession
	routeRelayRevoke   = "DELETE /v1/relay/{id}"                 // RelayRevoked
)

// request splits a route's pattern into its method and a path with the
// wildcards ({name}, ...) replaced by args in order, each path-escaped.
func request(route string, args ...string) (method, path string) {
	method, pattern, _ := strings.Cut(route, " ")
	var b strings.Builder
	for {
		open := strings.IndexByte(pattern, '{')
		if open < 0 {
			b.WriteString(pattern)
			break
		}
		end := strings.IndexByte(pattern[open:], '}')
		b.WriteString(pattern[:open])
		if len(args) == 0 {
			panic("localapi: too few arguments for " + route)
		}
		b.WriteString(url.PathEscape(args[0]))
		args = args[1:]
		pattern = pattern[open+end+1:]
	}
	if len(args) > 0 {
		panic("localapi: too many arguments for " + route)
	}
	return method, b.String()
}

// baseURL is the scheme and host of every request on the socket (any
// host does; the socket is the address).
const baseURL = "http://tgvault"

// AccountsURL and InvokeURL are the URLs of those routes for another
// client (curl --unix-socket SOCKET URL), as the demo shows them.
func AccountsURL() string { _, p := request(routeAccounts); return baseURL + p }

// InvokeURL: see AccountsURL.
func InvokeURL(name string) string { _, p := request(routeInvoke, name); return baseURL + p }
