package mtserver

import (
	"testing"

	tdcrypto "github.com/gotd/td/crypto"

	"github.com/tgvault/tgvault/sessionstring"
)

func TestKeyIDOf(t *testing.T) {
	t.Parallel()
	var b [256]byte
	b[0] = 1
	k, err := sessionstring.NewAuthKey(b[:])
	if err != nil {
		t.Fatal(err)
	}
	var v tdcrypto.Key
	copy(v[:], b[:])
	if got := keyIDOf(v.ID()); got != k.ID() {
		t.Errorf("keyIDOf = %s, want %s", got, k.ID())
	}
}
