package devserver

import (
	"context"
	"crypto/rand"
	"errors"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/sessionstring"
)

// QR login (https://core.telegram.org/api/qr-login): a new key asks for a
// token (auth.exportLoginToken), a logged-in device accepts it
// (auth.acceptLoginToken, or AcceptLoginToken here), the server tells the
// new key with updateLoginToken, and the next export returns the
// authorization (or SESSION_PASSWORD_NEEDED when the user has a 2FA
// password, which auth.checkPassword then completes).

// qrLogins are the login tokens handed out and accepted, in memory only.
// They are guarded by Server.mu.
type qrLogins struct {
	ttl      time.Duration
	onToken  func(token []byte)
	tokens   map[string]qrToken            // token → the key that asked for it
	accepted map[sessionstring.KeyID]int64 // key → the user that accepted its token
}

type qrToken struct {
	key     sessionstring.KeyID
	expires time.Time
}

func newQRLogins(ttl time.Duration, onToken func([]byte)) qrLogins {
	if ttl <= 0 {
		ttl = 30 * time.Second
	}
	return qrLogins{ttl: ttl, onToken: onToken, tokens: map[string]qrToken{}, accepted: map[sessionstring.KeyID]int64{}}
}

// ErrLoginToken is a QR login token that is unknown or expired.
var ErrLoginToken = errors.New("devserver: unknown or expired login token")

// exportLoginToken answers auth.exportLoginToken for key id: a new token,
// or the authorization once a token of this key was accepted.
func (s *Server) exportLoginToken(id sessionstring.KeyID) (res tdtg.AuthLoginTokenClass, code int, rpcErr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for t, q := range s.qr.tokens {
		if now.After(q.expires) {
			delete(s.qr.tokens, t)
		}
	}
	if uid, ok := s.qr.accepted[id]; ok {
		delete(s.qr.accepted, id)
		u := s.st.Users[uid]
		if u == nil {
			return nil, 400, "AUTH_TOKEN_INVALID"
		}
		if u.Password != nil {
			s.pending[id] = &pendingLogin{userID: u.ID}
			return nil, 401, "SESSION_PASSWORD_NEEDED"
		}
		if err := s.authorizeLocked(id, u.ID); err != nil {
			return nil, 401, "AUTH_KEY_UNREGISTERED"
		}
		return &tdtg.AuthLoginTokenSuccess{Authorization: &tdtg.AuthAuthorization{User: tgUser(u, true)}}, 0, ""
	}
	token := make([]byte, 32)
	_, _ = rand.Read(token)
	expires := now.Add(s.qr.ttl)
	s.qr.tokens[string(token)] = qrToken{key: id, expires: expires}
	if s.qr.onToken != nil {
		go s.qr.onToken(append([]byte(nil), token...))
	}
	return &tdtg.AuthLoginToken{Expires: int(expires.Unix()), Token: token}, 0, ""
}

// AcceptLoginToken accepts a QR login token for the user userID, as
// that user's phone does when it scans the code: the key that asked for
// the token is told (updateLoginToken) and logs in on its next export.
func (s *Server) AcceptLoginToken(ctx context.Context, token []byte, userID int64) error {
	s.mu.Lock()
	u := s.st.Users[userID]
	s.mu.Unlock()
	if u == nil || u.Bot {
		return errors.New("devserver: no such user")
	}
	if _, rpcErr := s.acceptLoginToken(ctx, token, userID); rpcErr != "" {
		return ErrLoginToken
	}
	return nil
}

// acceptLoginToken answers auth.acceptLoginToken for the user userID.
func (s *Server) acceptLoginToken(ctx context.Context, token []byte, userID int64) (*tdtg.Authorization, string) {
	s.mu.Lock()
	q, ok := s.qr.tokens[string(token)]
	if !ok || time.Now().After(q.expires) {
		delete(s.qr.tokens, string(token))
		s.mu.Unlock()
		return nil, "AUTH_TOKEN_EXPIRED"
	}
	delete(s.qr.tokens, string(token))
	s.qr.accepted[q.key] = userID
	s.mu.Unlock()
	update := &tdtg.UpdateShort{Update: &tdtg.UpdateLoginToken{}, Date: int(time.Now().Unix())}
	for _, c := range s.conns(q.key) {
		_ = s.push(ctx, c, update)
	}
	return &tdtg.Authorization{
		Hash:          randInt64(),
		DeviceModel:   "tgvault",
		Platform:      "dev",
		SystemVersion: "dev",
		AppName:       "tgvault",
		AppVersion:    "dev",
		DateCreated:   int(time.Now().Unix()),
		DateActive:    int(time.Now().Unix()),
		IP:            "127.0.0.1",
		Country:       "dev",
		Region:        "dev",
	}, ""
}

// QRScanDelay is how long the demo user's "phone" takes to scan a QR
// login token with Options.QRAccept.
const QRScanDelay = 1500 * time.Millisecond

// acceptAsDemoUser is Options.QRAccept's OnLoginToken: after QRScanDelay,
// the demo user (DemoPhone), once made, accepts token, unless the server
// was closed meanwhile.
func (s *Server) acceptAsDemoUser(token []byte) {
	select {
	case <-time.After(QRScanDelay):
	case <-s.life.Done():
		return
	}
	if uid, ok := s.UserByPhone(DemoPhone); ok {
		_ = s.AcceptLoginToken(s.life, token, uid)
	}
}

// UserByPhone returns the id of the (non-bot) user with that phone.
func (s *Server) UserByPhone(phone string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if u := s.userByPhoneLocked(phone); u != nil {
		return u.ID, true
	}
	return 0, false
}
