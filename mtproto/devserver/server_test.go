package devserver

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/sessionstring"
)

func TestStatePersists(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "state")
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	botID, token, err := s.AddBot("b")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(token, strings.Split(token, ":")[0]+":") || strings.Count(token, ":") != 1 {
		t.Errorf("token shape")
	}
	seeds, err := s.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RevokeKey(seeds[1].Key.ID()); err != nil {
		t.Fatal(err)
	}
	pub := s.PublicKey()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	for name, want := range map[string]os.FileMode{StateFile: 0o600, PrivateKeyFile: 0o600} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != want {
			t.Errorf("%s mode %v, want %v", name, fi.Mode().Perm(), want)
		}
	}
	fi, err := os.Stat(dir)
	if err != nil || fi.Mode().Perm() != 0o700 {
		t.Errorf("state dir mode: %v %v", fi.Mode().Perm(), err)
	}
	pem, err := os.ReadFile(filepath.Join(dir, PublicKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	keys, err := tdcrypto.ParseRSAPublicKeys(pem)
	if err != nil || len(keys) != 1 || !keys[0].Equal(pub) {
		t.Fatalf("public key PEM: %d keys, %v", len(keys), err)
	}

	s2, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if !s2.PublicKey().Equal(pub) {
		t.Error("RSA key changed across restart")
	}
	if uid, known := s2.KeyUser(seeds[0].Key.ID()); !known || uid != seeds[0].UserID {
		t.Errorf("seeded key: user %d known %v", uid, known)
	}
	if uid, known := s2.KeyUser(seeds[1].Key.ID()); !known || uid != 0 {
		t.Errorf("revoked key: user %d known %v", uid, known)
	}
	if u, ok := s2.st.Users[botID]; !ok || !u.Bot {
		t.Error("bot lost across restart")
	}
	if err := s2.ForgetKey(seeds[0].Key.ID()); err != nil {
		t.Fatal(err)
	}
	if _, known := s2.KeyUser(seeds[0].Key.ID()); known {
		t.Error("forgotten key still known")
	}
	if err := s2.RevokeKey(seeds[0].Key.ID()); !errors.Is(err, ErrUnknownKey) {
		t.Errorf("revoke unknown: %v", err)
	}
}

func TestCorruptStateFails(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, StateFile), []byte(`{"version":1,"keys":{"1":{"key":"AAAA"}}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("opened a state with a bad key")
	}
}

// TestGetFileMigrate: a profile photo is served on its DC only; elsewhere
// the answer is FILE_MIGRATE_<its DC>.
func TestGetFileMigrate(t *testing.T) {
	t.Parallel()
	s, err := Open(Options{Dir: t.TempDir(), DC: 2, OtherDCs: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	seeds, err := s.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	id, err := s.SetProfilePhoto(seeds[0].UserID, 4, []byte("0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.SetProfilePhoto(seeds[0].UserID, 3, []byte("x")); err == nil {
		t.Error("a photo on a DC the server is not")
	}
	self := s.st.Users[seeds[0].UserID]
	req := func(photo int64, off int64, limit int) *tdtg.UploadGetFileRequest {
		return &tdtg.UploadGetFileRequest{Location: &tdtg.InputPeerPhotoFileLocation{Peer: &tdtg.InputPeerSelf{}, PhotoID: photo}, Offset: off, Limit: limit}
	}
	for _, tc := range []struct {
		name string
		dc   int
		req  *tdtg.UploadGetFileRequest
		code int
		msg  string
		data string
	}{
		{"home", 2, req(id, 0, 1024), 303, "FILE_MIGRATE_4", ""},
		{"its-dc", 4, req(id, 0, 1024), 0, "", "0123456789"},
		{"offset", 4, req(id, 4, 4), 0, "", "4567"},
		{"past-the-end", 4, req(id, 1024, 1024), 0, "", ""},
		{"other-photo", 4, req(id+1, 0, 1024), 400, "LOCATION_INVALID", ""},
		{"bad-limit", 4, req(id, 0, 0), 400, "LIMIT_INVALID", ""},
	} {
		res, code, msg := s.getFile(self, tc.dc, tc.req)
		if code != tc.code || msg != tc.msg || (msg == "" && string(res.Bytes) != tc.data) {
			t.Errorf("%s: %d %q; want %d %q %q", tc.name, code, msg, tc.code, tc.msg, tc.data)
		}
	}
}

// TestQRAccept: with QRAccept the demo user's "phone" accepts every QR
// login token after QRScanDelay (what `dev-server --qr-accept` offers);
// without it, before the demo user exists, or once the server is closed,
// no token is accepted.
func TestQRAccept(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name                   string
		qrAccept, demo, closed bool
	}{
		{"accept", true, true, false},
		{"off", false, true, false},
		{"no demo user", true, false, false},
		{"closed", true, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			s, err := Open(Options{Dir: t.TempDir(), QRAccept: c.qrAccept})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if c.demo {
				if _, err := s.Demo(); err != nil {
					t.Fatal(err)
				}
			}
			key := sessionstring.KeyID(0x0102030405060708)
			start := time.Now()
			if _, _, rpcErr := s.exportLoginToken(key); rpcErr != "" {
				t.Fatal(rpcErr)
			}
			if c.closed {
				s.Close()
			}
			want := c.qrAccept && c.demo && !c.closed
			accepted := func() (int64, bool) {
				s.mu.Lock()
				defer s.mu.Unlock()
				uid, ok := s.qr.accepted[key]
				return uid, ok
			}
			deadline := time.Now().Add(QRScanDelay + 10*time.Second)
			if !want {
				deadline = time.Now().Add(QRScanDelay + time.Second)
			}
			for time.Now().Before(deadline) {
				if _, ok := accepted(); ok {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			uid, ok := accepted()
			demoUser, _ := s.UserByPhone(DemoPhone)
			switch {
			case want && (!ok || uid != demoUser):
				t.Fatalf("token accepted %v by user %d; want the demo user %d", ok, uid, demoUser)
			case want && time.Since(start) < QRScanDelay:
				t.Errorf("accepted after %v, before QRScanDelay", time.Since(start))
			case !want && ok:
				t.Errorf("token accepted by user %d", uid)
			}
		})
	}
}
