package localapi

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"testing"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// The helpers of mtproto's tests that the local API's tests use, over
// mtproto's exported API.

// startServer opens a dev server in dir (a new temp dir when empty) and
// serves it until the test ends.
func startServer(t *testing.T, dir string) *devserver.Server {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	srv, err := devserver.Open(devserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

// connectTimeout leaves room for key exchanges on a loaded machine (tests
// run in parallel, and the race detector slows the exchange down a lot).
func connectTimeout() time.Duration {
	if raceEnabled {
		return 5 * time.Minute
	}
	return time.Minute
}

func serverOptions(srv *devserver.Server) mtproto.Options {
	connect := connectTimeout()
	return mtproto.Options{
		Server:         mtproto.Server{DC: srv.DC(), Addr: srv.Addr(), PublicKeys: []*rsa.PublicKey{srv.PublicKey()}},
		APIID:          17349,
		APIHash:        "344583e45741c457fe1862106095a5eb",
		ConnectTimeout: connect,
	}
}

func newMemory(t testing.TB) *storage.Memory {
	t.Helper()
	m, err := storage.NewMemory(nil, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = m.Close() })
	return m
}

func randomKey(t testing.TB) sessionstring.AuthKey {
	t.Helper()
	b := make([]byte, sessionstring.AuthKeySize)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	k, err := sessionstring.NewAuthKey(b)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// seedStore writes an authorized session row, as an import would.
func seedStore(t testing.TB, s storage.Storage, key sessionstring.AuthKey, dc int, userID int64) {
	t.Helper()
	err := s.SetSession(storage.SessionRow{
		DCID:     dc,
		APIID:    sessionstring.Some[int32](17349),
		TestMode: sessionstring.Some(false),
		AuthKey:  key,
		UserID:   sessionstring.Some(userID),
		IsBot:    sessionstring.Some(false),
	})
	if err != nil {
		t.Fatal(err)
	}
}
