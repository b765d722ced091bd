package daemon

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/filekeyring"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// fixedPrompts answers a login's questions with fixed values and counts
// them.
type fixedPrompts struct {
	code, password string
	scan           func(url string) // a phone scanning each QR code shown
	codes, passwords,
	qrs atomic.Int32
}

func (p *fixedPrompts) Code(context.Context) (string, error) {
	p.codes.Add(1)
	return p.code, nil
}

func (p *fixedPrompts) Password(context.Context) (string, error) {
	p.passwords.Add(1)
	return p.password, nil
}

func (p *fixedPrompts) ShowQR(_ context.Context, url string, _ time.Time) error {
	p.qrs.Add(1)
	if p.scan != nil {
		p.scan(url)
	}
	return nil
}

// scanAs is the phone of the dev server's user uid: it accepts the token
// of a tg://login?token=... URL, as scanning the QR code does.
func scanAs(t *testing.T, srv *devserver.Server, uid int64) func(string) {
	return func(raw string) {
		u, err := url.Parse(raw)
		if err != nil {
			t.Errorf("QR URL: %v", err)
			return
		}
		tok, err := base64.URLEncoding.DecodeString(u.Query().Get("token"))
		if err != nil {
			t.Errorf("QR token: %v", err)
			return
		}
		go func() {
			if err := srv.AcceptLoginToken(context.Background(), tok, uid); err != nil {
				t.Errorf("accept the QR token: %v", err)
			}
		}()
	}
}

func (p *fixedPrompts) asked() int32 { return p.codes.Load() + p.passwords.Load() + p.qrs.Load() }

// loginRequest is a login of name on srv, as `tgvault login --server`
// makes it.
func loginRequest(srv *devserver.Server, name string) LoginRequest {
	conf := devDefaults(srv).Server
	id, hash, _ := conf.APICreds(0, "")
	return LoginRequest{Name: name, Server: conf, APIID: id, APIHash: hash}
}

// TestLogin: a bot, a user by code, a user with a 2FA password and a user
// by QR code log in on the dev server; each becomes an account of the
// vault whose key the server knows as that user, made with one new
// authorization, and the prompts were asked only what the login needs.
func TestLogin(t *testing.T) {
	srv := startDevServer(t)
	botID, token, err := srv.AddBot("login_bot")
	if err != nil {
		t.Fatal(err)
	}
	alice, err := srv.AddUser("15550007002", "alice", "24680")
	if err != nil {
		t.Fatal(err)
	}
	bob, err := srv.AddUser("15550007003", "bob", "")
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.SetPassword(bob, "correct horse"); err != nil {
		t.Fatal(err)
	}
	carol, err := srv.AddUser("15550007004", "carol", "")
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t)

	tests := []struct {
		name      string
		req       func(LoginRequest) LoginRequest
		prompts   *fixedPrompts
		want      mtproto.Identity
		codes     int32
		passwords int32
	}{
		{"bot", func(r LoginRequest) LoginRequest { r.BotToken = token; return r }, &fixedPrompts{}, mtproto.Identity{UserID: botID, IsBot: true}, 0, 0},
		{"code", func(r LoginRequest) LoginRequest { r.Phone = "+1 555 000 7002"; return r }, &fixedPrompts{code: "24680"}, mtproto.Identity{UserID: alice}, 1, 0},
		{"2fa", func(r LoginRequest) LoginRequest { r.Phone = "15550007003"; return r },
			&fixedPrompts{code: devserver.DefaultLoginCode, password: "correct horse"}, mtproto.Identity{UserID: bob}, 1, 1},
		{"qr", func(r LoginRequest) LoginRequest { r.QR = true; return r }, &fixedPrompts{scan: scanAs(t, srv, carol)}, mtproto.Identity{UserID: carol}, 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Stats().Authorizations
			acct, id, err := Login(t.Context(), v, tt.req(loginRequest(srv, tt.name)), tt.prompts)
			if err != nil {
				t.Fatalf("Login: %v", err)
			}
			if id != tt.want {
				t.Errorf("identity %+v, want %+v", id, tt.want)
			}
			if got := srv.Stats().Authorizations - before; got != 1 {
				t.Errorf("%d new authorizations on the server, want 1", got)
			}
			if c, p := tt.prompts.codes.Load(), tt.prompts.passwords.Load(); c != tt.codes || p != tt.passwords {
				t.Errorf("asked %d codes and %d passwords, want %d and %d", c, p, tt.codes, tt.passwords)
			}
			if tt.req(LoginRequest{}).QR && tt.prompts.qrs.Load() == 0 {
				t.Error("a QR login showed no token")
			}
			shown, err := v.Show(tt.name)
			if err != nil {
				t.Fatal(err)
			}
			if shown.ID != acct.ID || shown.Source != "login" || shown.UserID != sessionstring.Some(tt.want.UserID) || shown.IsBot != sessionstring.Some(tt.want.IsBot) {
				t.Errorf("the vault's account %+v, Login returned %+v; want user %d, bot %v, source login", shown, acct, tt.want.UserID, tt.want.IsBot)
			}
			if uid, _ := srv.KeyUser(accountKey(t, v, tt.name).ID()); uid != tt.want.UserID {
				t.Errorf("the server knows the account's key as user %d, want %d", uid, tt.want.UserID)
			}
		})
	}
}

// TestLoginRefusedFirst: a login the vault would refuse (a name in use, an
// invalid name, a locked vault) is refused before the server sees
// anything: no key exchange, no authorization, no prompt. A login the
// server refuses (a wrong code) is bad input and leaves no account.
func TestLoginRefusedFirst(t *testing.T) {
	srv := startDevServer(t)
	_, token, err := srv.AddBot("first_bot")
	if err != nil {
		t.Fatal(err)
	}
	_, token2, err := srv.AddBot("second_bot")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := srv.AddUser("15550007010", "carol", "13579"); err != nil {
		t.Fatal(err)
	}
	v := newVault(t)
	first := loginRequest(srv, "taken")
	first.BotToken = token
	if _, _, err := Login(t.Context(), v, first, nil); err != nil {
		t.Fatal(err)
	}
	// The same vault, opened with an empty keyring and no passphrase.
	locked, err := vault.Open(vault.Options{Dir: v.Dir(), Keyring: filekeyring.New(filepath.Join(t.TempDir(), "empty"))})
	if err != nil {
		t.Fatal(err)
	}
	defer locked.Close()

	tests := []struct {
		name  string
		v     *vault.Vault
		req   LoginRequest
		want  error
		bot   bool
		phone string
	}{
		{"taken by a bot", v, loginRequest(srv, "taken"), vault.ErrExists, true, ""},
		{"taken by a user", v, loginRequest(srv, "taken"), vault.ErrExists, false, "15550007010"},
		{"invalid", v, loginRequest(srv, "bad\nname"), vault.ErrInvalidName, true, ""},
		{"locked", locked, loginRequest(srv, "new"), vault.ErrLocked, true, ""},
		{"no method", v, loginRequest(srv, "new"), ErrLoginMethod, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.bot {
				tt.req.BotToken = token2
			}
			tt.req.Phone = tt.phone
			before := srv.Stats()
			p := &fixedPrompts{code: "13579"}
			if _, _, err := Login(t.Context(), tt.v, tt.req, p); !errors.Is(err, tt.want) {
				t.Fatalf("Login: %v, want %v", err, tt.want)
			}
			after := srv.Stats()
			if after.KeyExchanges != before.KeyExchanges || after.Authorizations != before.Authorizations || p.asked() != 0 {
				t.Errorf("a refused login made %d key exchanges and %d authorizations on the server and asked %d prompts, want none",
					after.KeyExchanges-before.KeyExchanges, after.Authorizations-before.Authorizations, p.asked())
			}
		})
	}

	t.Run("wrong code", func(t *testing.T) {
		r := loginRequest(srv, "carol")
		r.Phone = "15550007010"
		if _, _, err := Login(t.Context(), v, r, &fixedPrompts{code: "00000"}); !errors.Is(err, vault.ErrBadInput) || !errors.Is(err, mtproto.ErrCodeInvalid) {
			t.Errorf("Login with a wrong code: %v, want vault.ErrBadInput and mtproto.ErrCodeInvalid", err)
		}
		if _, err := v.Show("carol"); !errors.Is(err, vault.ErrNotFound) {
			t.Errorf("a failed login left an account: %v", err)
		}
	})
}

// TestLoginNoPlaintextKey: after a login, no file under the vault's
// directory (nor the keyring's beside it) holds the new key in the clear,
// raw, hex or base64.
func TestLoginNoPlaintextKey(t *testing.T) {
	srv := startDevServer(t)
	_, token, err := srv.AddBot("secret_bot")
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t)
	r := loginRequest(srv, "secret")
	r.BotToken = token
	if _, _, err := Login(t.Context(), v, r, nil); err != nil {
		t.Fatal(err)
	}
	key := accountKey(t, v, "secret").Bytes()
	forms := [][]byte{key, []byte(hex.EncodeToString(key)), []byte(base64.StdEncoding.EncodeToString(key)),
		[]byte(base64.RawURLEncoding.EncodeToString(key))}
	root := filepath.Dir(v.Dir())
	files := 0
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		for _, f := range forms {
			if bytes.Contains(b, f) {
				t.Errorf("%s holds the account's key in plaintext", path)
			}
		}
		if bytes.Contains(b, []byte(token)) {
			t.Errorf("%s holds the bot token", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files < 2 {
		t.Fatalf("walked %d files under %s; want the account file and the index at least", files, root)
	}
}

// accountKey is the auth key of the vault's account name.
func accountKey(t *testing.T, v *vault.Vault, name string) sessionstring.AuthKey {
	t.Helper()
	f, err := v.OpenAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	row, err := f.Session()
	if err != nil {
		t.Fatal(err)
	}
	return row.AuthKey
}
