package mtproto

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

type fixedAuth struct{ code, password string }

func (f fixedAuth) Code(context.Context) (string, error)     { return f.code, nil }
func (f fixedAuth) Password(context.Context) (string, error) { return f.password, nil }

func TestLoginUser(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	const phone = "15550001111"
	plain, err := srv.AddUser(phone, "alice", "24680")
	if err != nil {
		t.Fatal(err)
	}
	const phone2 = "15550002222"
	twoFA, err := srv.AddUser(phone2, "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPassword(twoFA, "correct horse"); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		phone  string
		auth   fixedAuth
		want   error
		wantID int64
	}{
		{"code", phone, fixedAuth{code: "24680"}, nil, plain},
		{"wrong code", phone, fixedAuth{code: "11111"}, ErrCodeInvalid, 0},
		{"unknown phone", "15559999999", fixedAuth{code: "12345"}, ErrPhoneInvalid, 0},
		{"2FA", phone2, fixedAuth{code: "12345", password: "correct horse"}, nil, twoFA},
		{"wrong password", phone2, fixedAuth{code: "12345", password: "battery staple"}, ErrPasswordInvalid, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			store := mttest.NewMemory(t)
			id, err := LoginUser(t.Context(), store, tt.phone, tt.auth, serverOptions(srv))
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
			if err != nil {
				for _, secret := range []string{tt.phone, tt.auth.code, tt.auth.password} {
					if secret != "" && strings.Contains(err.Error(), secret) {
						t.Errorf("error %q leaks a secret", err)
					}
				}
				if row(t, store).UserID.Known() {
					t.Error("failed login recorded a user")
				}
				return
			}
			if id != (Identity{UserID: tt.wantID}) {
				t.Errorf("identity = %+v, want user %d", id, tt.wantID)
			}
			// The stored session works without a login.
			got, err := runSelf(t.Context(), store, serverOptions(srv))
			if err != nil || got != id {
				t.Errorf("self after login = %+v, %v", got, err)
			}
		})
	}
}

func TestLoginBotBadToken(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	botID, token, err := srv.AddBot("b")
	if err != nil {
		t.Fatal(err)
	}
	_ = botID
	bad := token[:strings.IndexByte(token, ':')+1] + "wrong"
	_, err = LoginBot(t.Context(), mttest.NewMemory(t), bad, serverOptions(srv))
	if !errors.Is(err, ErrBotTokenInvalid) {
		t.Fatalf("err = %v, want ErrBotTokenInvalid", err)
	}
	if strings.Contains(err.Error(), "wrong") {
		t.Errorf("error leaks the token: %v", err)
	}
}
