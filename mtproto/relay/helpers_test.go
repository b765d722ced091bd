package relay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"net"
	"sync"
	"testing"
	"time"

	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/mtproto/mtserver"
)

// devDial dials the dev server's DCs over the intermediate transport.
func devDial(addrs map[int]string) DialFunc {
	return func(ctx context.Context, dc int) (tdtransport.Conn, error) {
		var d net.Dialer
		c, err := d.DialContext(ctx, "tcp", addrs[dc])
		if err != nil {
			return nil, err
		}
		return tdtransport.Intermediate.Handshake(c)
	}
}

var testDevice = Device{
	APIID: 17349, DeviceModel: "MacBookPro18,3", SystemVersion: "macOS 14.5",
	AppVersion: "5.8.3 x64", SystemLangCode: "en", LangCode: "en",
}

func testTimeout() time.Duration {
	if raceEnabled {
		return 2 * time.Minute
	}
	return 30 * time.Second
}

// testRSAKey is the relay's RSA key in tests, made once per test binary.
func testRSAKey(t testing.TB) *rsa.PrivateKey {
	t.Helper()
	k, err := rsaKeyOnce()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

var rsaKeyOnce = sync.OnceValues(func() (*rsa.PrivateKey, error) { return mtserver.GenerateKey(rand.Reader) })
