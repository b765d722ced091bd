package crypto

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"sync"
	"testing"

	"golang.org/x/crypto/ssh"
)

// keyKind names one kind of key pair used across the tests.
type keyKind struct {
	name string
	// sshPEM is the OpenSSH private key (SSH kinds only).
	sshPEM []byte
	id     *Identity
}

var (
	kindsOnce sync.Once
	kindsVal  []keyKind
)

// kinds returns one identity of every supported kind, generated once per
// test binary (RSA generation is slow).
func kinds(t testing.TB) []keyKind {
	t.Helper()
	kindsOnce.Do(func() {
		x, err := GenerateIdentity()
		if err != nil {
			panic(err)
		}
		pq, err := GenerateHybridIdentity()
		if err != nil {
			panic(err)
		}
		_, edKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			panic(err)
		}
		rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		edPEM := sshPEM(edKey)
		rsaPEM := sshPEM(rsaKey)
		edID, err := ParseIdentity(string(edPEM))
		if err != nil {
			panic(err)
		}
		rsaID, err := ParseIdentity(string(rsaPEM))
		if err != nil {
			panic(err)
		}
		kindsVal = []keyKind{
			{name: "X25519", id: x},
			{name: "hybrid", id: pq},
			{name: "ssh-ed25519", sshPEM: edPEM, id: edID},
			{name: "ssh-rsa", sshPEM: rsaPEM, id: rsaID},
		}
	})
	return kindsVal
}

func sshPEM(key any) []byte {
	b, err := ssh.MarshalPrivateKey(key, "")
	if err != nil {
		panic(err)
	}
	return pem.EncodeToMemory(b)
}

func newIdentity(t testing.TB) *Identity {
	t.Helper()
	id, err := GenerateIdentity()
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// class names the error class of err: "ok", "wrong key", "corrupt", or
// "other".
func class(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrWrongKey) && errors.Is(err, ErrCorrupt):
		return "both"
	case errors.Is(err, ErrWrongKey):
		return "wrong key"
	case errors.Is(err, ErrCorrupt):
		return "corrupt"
	default:
		return "other"
	}
}

// checkFailure checks that a failed open returned nil plaintext and an error
// of class want.
func checkFailure(t testing.TB, what string, pt []byte, err error, want ...string) {
	t.Helper()
	if err == nil {
		t.Errorf("%s: opened (%d bytes), want %v", what, len(pt), want)
		return
	}
	if pt != nil {
		t.Errorf("%s: returned %d bytes of plaintext with error %v", what, len(pt), err)
	}
	got := class(err)
	for _, w := range want {
		if got == w {
			return
		}
	}
	t.Errorf("%s: error %q is %s, want %v", what, err, got, want)
}

func kindsEd25519Key(t testing.TB) any {
	t.Helper()
	k, err := ssh.ParseRawPrivateKey(kinds(t)[2].sshPEM)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func pemEncode(b *pem.Block) []byte { return pem.EncodeToMemory(b) }
