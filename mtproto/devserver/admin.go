package devserver

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// AddBot creates a bot account and returns its id and its token
// ("ID:secret"), which auth.importBotAuthorization accepts.
func (s *Server) AddBot(username string) (id int64, token string, err error) {
	var sec [16]byte
	if _, err := rand.Read(sec[:]); err != nil {
		return 0, "", err
	}
	secret := hex.EncodeToString(sec[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	id = s.st.NextUserID
	s.st.NextUserID++
	s.st.Users[id] = &User{ID: id, AccessHash: randInt64(), Bot: true, BotSecret: secret, FirstName: username, Username: username}
	if err := s.st.save(s.dir); err != nil {
		return 0, "", err
	}
	return id, strconv.FormatInt(id, 10) + ":" + secret, nil
}

// RevokeKey logs the key out, as a terminated session on Telegram: the key
// stays known, every method but help.getConfig answers
// AUTH_KEY_UNREGISTERED.
func (s *Server) RevokeKey(id sessionstring.KeyID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.st.Keys[id]
	if !ok {
		return fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	k.UserID = 0
	return s.st.save(s.dir)
}

// ForgetKey deletes the key, as a DC that lost it: the next message with it
// gets the transport error -404, on which gotd creates a new key.
func (s *Server) ForgetKey(id sessionstring.KeyID) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.st.Keys[id]; !ok {
		return fmt.Errorf("%w: %s", ErrUnknownKey, id)
	}
	delete(s.st.Keys, id)
	return s.st.save(s.dir)
}

// KeyUser returns the user a key is logged in as (0 when it is not), and
// whether the server knows the key.
func (s *Server) KeyUser(id sessionstring.KeyID) (userID int64, known bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	k, ok := s.st.Keys[id]
	if !ok {
		return 0, false
	}
	return k.UserID, true
}

// Seed is an account made by SeedAccounts, with the session a client needs.
type Seed struct {
	UserID int64
	DC     int
	Key    sessionstring.AuthKey
}

// SeedAccounts creates n user accounts, each logged in with a random auth
// key written straight into the state (no key exchange), and returns the
// matching sessions.
func (s *Server) SeedAccounts(n int) ([]Seed, error) {
	out := make([]Seed, 0, n)
	s.mu.Lock()
	defer s.mu.Unlock()
	for range n {
		var b [sessionstring.AuthKeySize]byte
		if _, err := rand.Read(b[:]); err != nil {
			return nil, err
		}
		key, err := sessionstring.NewAuthKey(b[:])
		if err != nil {
			return nil, err
		}
		id := s.st.NextUserID
		s.st.NextUserID++
		name := "user" + strconv.FormatInt(id, 10)
		s.st.Users[id] = &User{ID: id, AccessHash: randInt64(), FirstName: name, Username: name, Phone: "999" + strconv.FormatInt(id, 10), Code: DefaultLoginCode}
		s.st.Keys[key.ID()] = &keyRecord{Key: key.Bytes(), UserID: id}
		out = append(out, Seed{UserID: id, DC: s.dc, Key: key})
	}
	if err := s.st.save(s.dir); err != nil {
		return nil, err
	}
	return out, nil
}

// flood is a pending FLOOD_WAIT for one method.
type flood struct {
	calls   int // calls left to refuse
	seconds int
}

// FloodWait makes the next calls of the API method whose request has the
// TL type id method (tg.UsersGetUsersRequestTypeID, say) fail with
// FLOOD_WAIT_seconds (420), as Telegram answers a client that calls a
// method too often. calls <= 0 clears it. It is not saved in the state.
func (s *Server) FloodWait(method uint32, calls, seconds int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if calls <= 0 {
		delete(s.floods, method)
		return
	}
	s.floods[method] = flood{calls: calls, seconds: seconds}
}

// countCall counts a call of method and reports whether it is to be
// refused with a FLOOD_WAIT of wait seconds.
func (s *Server) countCall(method uint32) (wait int, refuse bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[method]++
	f, ok := s.floods[method]
	if !ok {
		return 0, false
	}
	if f.calls--; f.calls <= 0 {
		delete(s.floods, method)
	} else {
		s.floods[method] = f
	}
	return f.seconds, true
}

// PushUpdates sends u, as Telegram sends updates, to every open connection
// to the home DC whose key is logged in as the user, on the session of the
// connection's last message, in the layer the connection announced. It
// returns how many connections it went to, and ErrNotConnected when none.
func (s *Server) PushUpdates(ctx context.Context, userID int64, u tdtg.UpdatesClass) (int, error) {
	return s.pushUser(ctx, userID, u)
}

func (s *Server) pushUser(ctx context.Context, userID int64, u tdtg.UpdatesClass) (int, error) {
	var keys []sessionstring.KeyID
	s.mu.Lock()
	for id, k := range s.st.Keys {
		if k.UserID == userID {
			keys = append(keys, id)
		}
	}
	s.mu.Unlock()
	n := 0
	var errs []error
	for _, id := range keys {
		// Updates go to the home DC's connections only, as Telegram's:
		// a client's connection to another DC (for files) reads none.
		for _, c := range s.dcs[0].mts.Conns(id) {
			if err := s.push(ctx, c, u); err != nil {
				if !errors.Is(err, mtserver.ErrNoSession) {
					errs = append(errs, err)
				}
				continue
			}
			n++
		}
	}
	if n == 0 {
		return 0, errors.Join(append([]error{ErrNotConnected}, errs...)...)
	}
	return n, nil
}
