package devserver

import (
	"slices"

	"github.com/tgvault/tgvault/sessionstring"
)

// ClientInfo is what a client said about itself in initConnection.
type ClientInfo struct {
	APIID          int
	DeviceModel    string
	SystemVersion  string
	AppVersion     string
	LangCode       string
	SystemLangCode string
}

func (s *Server) recordClient(id sessionstring.KeyID, ci ClientInfo) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !slices.Contains(s.clients[id], ci) {
		s.clients[id] = append(s.clients[id], ci)
	}
}

// Clients returns the distinct initConnection parameters the key's
// connections sent, in the order first seen (in memory since Open). Telegram
// lists them as the session's device; more than one for a key is what a
// fingerprinting server would notice.
func (s *Server) Clients(id sessionstring.KeyID) []ClientInfo {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.clients[id])
}

// MaxClientsPerKey is the largest number of distinct initConnection
// parameters any one key sent (0 before any connection).
func (s *Server) MaxClientsPerKey() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, c := range s.clients {
		n = max(n, len(c))
	}
	return n
}
