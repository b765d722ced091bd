package mtproto

import (
	"context"
	"encoding/base64"
	"errors"
	"sync"
	"testing"
	"time"

	tdqrlogin "github.com/gotd/td/telegram/auth/qrlogin"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// qrScanner is a QRAuthenticator whose "phone" scans the n-th token it is
// shown (counting from 1) with scan, and answers the 2FA prompt with
// password.
type qrScanner struct {
	n        int
	scan     func(ctx context.Context, url string) error
	password string

	mu    sync.Mutex
	shown []string
}

func (q *qrScanner) ShowQR(ctx context.Context, url string, expires time.Time) error {
	q.mu.Lock()
	q.shown = append(q.shown, url)
	n := len(q.shown)
	q.mu.Unlock()
	if time.Until(expires) <= 0 {
		return errors.New("shown an expired token")
	}
	if n == q.n {
		return q.scan(ctx, url)
	}
	return nil
}

func (q *qrScanner) Password(context.Context) (string, error) { return q.password, nil }

func (q *qrScanner) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.shown)
}

// TestLoginQR: a QR login completes when a logged-in device accepts the
// token (auth.acceptLoginToken from a real client, or the server's admin
// call), after refreshed tokens, and with a 2FA password.
func TestLoginQR(t *testing.T) {
	t.Parallel()
	srv, err := devserver.Open(devserver.Options{Dir: t.TempDir(), LoginTokenTTL: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	alice, err := srv.AddUser("15550003333", "alice", "")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.AddUser("15550004444", "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPassword(bob, "correct horse"); err != nil {
		t.Fatal(err)
	}
	// Alice's phone: a client logged in by code, which accepts tokens with
	// auth.acceptLoginToken as the official apps do.
	phone := mttest.NewMemory(t)
	if _, err := LoginUser(t.Context(), phone, "15550003333", fixedAuth{code: devserver.DefaultLoginCode}, serverOptions(srv)); err != nil {
		t.Fatal(err)
	}
	acceptByPhone := func(ctx context.Context, url string) error {
		tok, err := tdqrlogin.ParseTokenURL(url)
		if err != nil {
			return err
		}
		c, err := NewClient(phone, serverOptions(srv))
		if err != nil {
			return err
		}
		go func() {
			_ = c.Run(ctx, func(ctx context.Context) error {
				_, err := tdqrlogin.AcceptQR(ctx, c.API(), tok)
				if err != nil {
					t.Errorf("auth.acceptLoginToken: %v", err)
				}
				return err
			})
		}()
		return nil
	}
	acceptByAdmin := func(uid int64) func(context.Context, string) error {
		return func(ctx context.Context, url string) error {
			tok, err := tdqrlogin.ParseTokenURL(url)
			if err != nil {
				return err
			}
			raw, err := base64.URLEncoding.DecodeString(tok.String())
			if err != nil {
				return err
			}
			go func() { _ = srv.AcceptLoginToken(ctx, raw, uid) }()
			return nil
		}
	}

	tests := []struct {
		name     string
		qa       *qrScanner
		want     error
		wantID   int64
		minShown int
	}{
		{"scanned by a logged-in client", &qrScanner{n: 1, scan: acceptByPhone}, nil, alice, 1},
		{"scanned after a refresh", &qrScanner{n: 2, scan: acceptByAdmin(alice)}, nil, alice, 2},
		{"2FA", &qrScanner{n: 1, scan: acceptByAdmin(bob), password: "correct horse"}, nil, bob, 1},
		{"wrong 2FA password", &qrScanner{n: 1, scan: acceptByAdmin(bob), password: "battery staple"}, ErrPasswordInvalid, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := mttest.NewMemory(t)
			ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
			defer cancel()
			id, err := LoginQR(ctx, store, tt.qa, serverOptions(srv))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if n := tt.qa.count(); n < tt.minShown {
				t.Errorf("shown %d tokens, want at least %d", n, tt.minShown)
			}
			if err != nil {
				if row(t, store).UserID.Known() {
					t.Error("a failed login recorded a user")
				}
				return
			}
			if id.UserID != tt.wantID || id.IsBot {
				t.Errorf("identity %+v, want user %d", id, tt.wantID)
			}
			if got, _ := row(t, store).UserID.Get(); got != tt.wantID {
				t.Errorf("stored user %d, want %d", got, tt.wantID)
			}
			// The stored key is logged in: a fresh client is that user.
			again, err := runSelf(t.Context(), store, serverOptions(srv))
			if err != nil || again.UserID != tt.wantID {
				t.Errorf("reconnect: %+v %v", again, err)
			}
		})
	}
}
