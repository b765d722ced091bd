package mtserver

import (
	"crypto/rsa"
	"fmt"
	"io"

	tdcrypto "github.com/gotd/td/crypto"
)

// GenerateKey returns a new RSA key for a server's key exchange, of the
// size Telegram's keys are, whose fingerprint every client library finds
// (FingerprintFindable): clients must be told the public half, as they
// would a test server's.
func GenerateKey(random io.Reader) (*rsa.PrivateKey, error) {
	for {
		k, err := rsa.GenerateKey(random, tdcrypto.RSAKeyBits)
		if err != nil {
			return nil, fmt.Errorf("mtserver: generate RSA key: %w", err)
		}
		if FingerprintFindable(&k.PublicKey) {
			return k, nil
		}
	}
}

// FingerprintFindable reports whether every client library finds k by the
// fingerprint the server names in res_pq. mtcute 0.29.7 indexes the keys
// it trusts by the fingerprint's 16 hex digits but looks up the server's
// by its hex without leading zeros, so a key whose fingerprint starts with
// a zero nibble (1 in 16) is never found, and mtcute retries the exchange
// in a tight loop.
func FingerprintFindable(k *rsa.PublicKey) bool {
	return fingerprintFindable(tdcrypto.RSAFingerprint(k))
}

func fingerprintFindable(fp int64) bool { return uint64(fp)>>60 != 0 }
