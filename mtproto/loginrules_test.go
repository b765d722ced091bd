package mtproto

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

func TestAPICreds(t *testing.T) {
	t.Parallel()
	dev, tg := ServerConf{Addr: "127.0.0.1:1"}, ServerConf{}
	for _, c := range []struct {
		name     string
		conf     ServerConf
		id       int32
		hash     string
		wantID   int32
		wantHash string
		wantErr  error
	}{
		{"given", tg, 7, "h", 7, "h", nil},
		{"telegram without", tg, 0, "", 0, "", ErrNeedAPICreds},
		{"telegram without hash", tg, 7, "", 0, "", ErrNeedAPICreds},
		{"custom without", dev, 0, "", DevAPIID, DevAPIHash, nil},
		{"custom with id", dev, 7, "", 7, DevAPIHash, nil},
		{"custom given", dev, 7, "h", 7, "h", nil},
	} {
		id, hash, err := c.conf.APICreds(c.id, c.hash)
		if id != c.wantID || hash != c.wantHash || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("%s: %d %q %v, want %d %q %v", c.name, id, hash, err, c.wantID, c.wantHash, c.wantErr)
		}
	}
}

// TestReadServerConf: a custom server is an address and its key file,
// both or neither; the key must be an RSA public key in PEM; the test DCs
// are a flag of either.
func TestReadServerConf(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	key, bad, missing := filepath.Join(dir, "server.pem"), filepath.Join(dir, "bad.pem"), filepath.Join(dir, "missing.pem")
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(&k.PublicKey)})
	if err := os.WriteFile(key, pemKey, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, addr, key string
		test            bool
		want            ServerConf
		err             error
	}{
		{"telegram", "", "", false, ServerConf{}, nil},
		{"test DCs", "", "", true, ServerConf{TestMode: true}, nil},
		{"custom", "127.0.0.1:1", key, false, ServerConf{Addr: "127.0.0.1:1", PublicKey: string(pemKey)}, nil},
		{"custom test", "127.0.0.1:1", key, true, ServerConf{Addr: "127.0.0.1:1", PublicKey: string(pemKey), TestMode: true}, nil},
		{"no key", "127.0.0.1:1", "", false, ServerConf{}, ErrServerNeedsKey},
		{"no server", "", key, false, ServerConf{}, ErrKeyNeedsServer},
		{"bad key", "127.0.0.1:1", bad, false, ServerConf{}, new(ServerKeyError)},
		{"missing key", "127.0.0.1:1", missing, false, ServerConf{}, fs.ErrNotExist},
	} {
		got, err := ReadServerConf(c.addr, c.key, c.test)
		switch want := c.err.(type) {
		case nil:
			if err != nil || got != c.want {
				t.Errorf("%s: %+v, %v; want %+v", c.name, got, err, c.want)
			}
		case *ServerKeyError:
			if !errors.As(err, &want) || want.Path != bad {
				t.Errorf("%s: %v, want a *ServerKeyError naming %s", c.name, err, bad)
			}
		default:
			if !errors.Is(err, c.err) {
				t.Errorf("%s: %v, want %v", c.name, err, c.err)
			}
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"+1 (555) 010-0000": "15550100000", "99900001": "99900001", "": ""} {
		if got := NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsLoginInputError(t *testing.T) {
	t.Parallel()
	if !IsLoginInputError(fmt.Errorf("mtproto: sign in: %w", ErrCodeInvalid)) {
		t.Error("a wrapped wrong code is not the input's fault")
	}
	for _, err := range []error{nil, ErrUnreachable, ErrAlreadyAuthorized, errors.New("mtproto: login code invalid")} {
		if IsLoginInputError(err) {
			t.Errorf("%v counted as the input's fault", err)
		}
	}
}
