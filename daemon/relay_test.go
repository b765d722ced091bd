package daemon

import (
	"context"
	"crypto/rsa"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// TestServeRelay: Serve runs the MTProto relay. A relay session minted
// through its local API serves a client that holds only the relay key
// (get_me through the relay, the user the vault's account is); when
// Serve stops, the relay stops with it and the key is worthless. With
// NoRelay the relay routes answer 503 relay_off.
func TestServeRelay(t *testing.T) {
	srv, seeds, v := seededVault(t, "alice")
	sock := filepath.Join(t.TempDir(), "run.sock")
	s := startServe(t, Config{Vault: v, Socket: sock, Defaults: devDefaults(srv)})
	c := localapi.NewClient(sock)
	waitStatus(t, c, "alice", "ready")
	m, err := c.MintRelay(t.Context(), "alice", localapi.RelayRequest{Format: "gotd"})
	if err != nil {
		t.Fatal(err)
	}
	sess, err := sessionstring.DecodeAs(sessionstring.Gotd, m.Session)
	if err != nil {
		t.Fatal(err)
	}
	if sess.AuthKey.Equal(seeds[0].Key) {
		t.Fatal("the relay string holds the account's key")
	}
	if pub, err := mtproto.ParsePublicKey([]byte(m.RSAPublicKey)); err != nil || !mtserver.FingerprintFindable(pub) {
		t.Errorf("the relay's RSA key: %v; findable by every client (mtcute) %v", err, err == nil && mtserver.FingerprintFindable(pub))
	}
	relayAddr := net.JoinHostPort(m.Host, strconv.Itoa(m.Port))
	if id, err := relaySelf(t, sess.AuthKey, sess.DCID, seeds[0].UserID, relayAddr, m.RSAPublicKey); err != nil || id != seeds[0].UserID {
		t.Fatalf("get_me through the relay: %d, %v; want %d", id, err, seeds[0].UserID)
	}
	s.stop()
	if err := <-s.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	s.done <- nil
	if _, err := relaySelf(t, sess.AuthKey, sess.DCID, seeds[0].UserID, relayAddr, m.RSAPublicKey); err == nil {
		t.Error("the relay key works after Serve stopped")
	}

	sock2 := filepath.Join(t.TempDir(), "run.sock")
	startServe(t, Config{Vault: v, Socket: sock2, Defaults: devDefaults(srv), NoRelay: true})
	_, err = localapi.NewClient(sock2).MintRelay(t.Context(), "alice", localapi.RelayRequest{Format: "gotd"})
	if le, ok := errors.AsType[*localapi.Error](err); !ok || le.Status != http.StatusServiceUnavailable || le.Body.Kind != localapi.KindRelayOff {
		t.Errorf("mint with NoRelay: %v, want 503 %s", err, localapi.KindRelayOff)
	}
}

// relaySelf connects a client holding key (user userID's, it believes) to
// the relay at addr and asks for the logged-in user.
func relaySelf(t *testing.T, key sessionstring.AuthKey, dc int, userID int64, addr, pubPEM string) (int64, error) {
	t.Helper()
	pub, err := mtproto.ParsePublicKey([]byte(pubPEM))
	if err != nil {
		t.Fatal(err)
	}
	store, err := storage.NewMemory(nil, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	row := storage.SessionRow{DCID: dc, AuthKey: key, UserID: sessionstring.Some(userID), IsBot: sessionstring.Some(false), APIID: sessionstring.Some[int32](17349)}
	if err := store.SetSession(row); err != nil {
		t.Fatal(err)
	}
	cl, err := mtproto.NewClient(store, mtproto.Options{Server: mtproto.Server{DC: dc, Addr: addr, PublicKeys: []*rsa.PublicKey{pub}}, APIID: 17349, APIHash: "x", ConnectTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	var id int64
	err = cl.Run(ctx, func(ctx context.Context) error {
		me, err := cl.Self(ctx)
		id = me.UserID
		return err
	})
	return id, err
}

// TestRelaySentences: the relay's structured records reach run's log as
// sentences that say what they are about.
func TestRelaySentences(t *testing.T) {
	var buf syncBuffer
	log := slog.New(sentences{h: slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})}).With("dc", 2)
	log.Info("relay session minted", "session", "0123456789abcdef", "account", "alice")
	log.Debug("not shown")
	out := buf.String()
	if !strings.Contains(out, `msg="relay session minted (dc=2, session=0123456789abcdef, account=alice)"`) || !strings.Contains(out, "account=alice\n") {
		t.Errorf("log: %s", out)
	}
	if strings.Contains(out, "not shown") {
		t.Error("a debug record was written")
	}
}
