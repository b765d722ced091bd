package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/filekeyring"
	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// These tests run Serve in the test process, against the embedded dev
// server (real key exchange, real MTProto), without the binary; the
// binary's own tests (cmd/tgvault, internal/reliability) cover the CLI
// around it.

// syncBuffer is a log destination safe for the pool's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// startDevServer opens a dev server in a temp dir and serves it until the
// test ends.
func startDevServer(t *testing.T) *devserver.Server {
	return mttest.StartServer(t, devserver.Options{})
}

// newVault makes a directory vault (a file keyring, a cheap scrypt) in a
// temp dir.
func newVault(t *testing.T) *vault.Vault {
	t.Helper()
	testhooks.SetScryptWorkFactor(t, 10)
	dir := t.TempDir()
	v, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: filepath.Join(dir, "vault"), Keyring: filekeyring.New(filepath.Join(dir, "keyring"))}}, crypto.Passphrase("daemon test"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	return v
}

// importSeeds imports the dev server's seeded accounts under names.
func importSeeds(t *testing.T, v *vault.Vault, seeds []devserver.Seed, names ...string) {
	t.Helper()
	for i, name := range names {
		s := seeds[i]
		ss := sessionstring.Session{DCID: s.DC, APIID: sessionstring.Some[int32](17349), TestMode: sessionstring.Some(false),
			AuthKey: s.Key, UserID: sessionstring.Some(s.UserID), IsBot: sessionstring.Some(false)}
		if _, err := v.ImportSessions([]sessionstring.Session{ss}, "pyrogram", "", vault.ImportOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
	}
}

// seededVault starts a dev server seeding one account per name and a
// vault holding them under those names.
func seededVault(t *testing.T, names ...string) (*devserver.Server, []devserver.Seed, *vault.Vault) {
	t.Helper()
	srv := startDevServer(t)
	seeds, err := srv.SeedAccounts(len(names))
	if err != nil {
		t.Fatal(err)
	}
	v := newVault(t)
	importSeeds(t, v, seeds, names...)
	return srv, seeds, v
}

// devDefaults points the accounts without a server of their own at srv.
func devDefaults(srv *devserver.Server) mtproto.Defaults {
	return mtproto.Defaults{
		Server:    mtproto.ServerConf{Addr: srv.Addr(), PublicKey: string(devserver.PublicKeyPEM(srv.PublicKey()))},
		ServerSet: true,
		APIID:     17349,
	}
}

// started is a Serve running in the background.
type started struct {
	serving Serving
	done    chan error
	stop    context.CancelFunc
	stopped chan Stopped
}

// startServe runs Serve(cfg) until the test ends (or s.stop), and waits
// until it serves.
func startServe(t *testing.T, cfg Config) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{done: make(chan error, 1), stop: cancel, stopped: make(chan Stopped, 1)}
	serving := make(chan Serving, 1)
	cfg.Serving = func(sv Serving) { serving <- sv }
	cfg.Stopped = func(st Stopped) { s.stopped <- st }
	go func() { s.done <- Serve(ctx, cfg) }()
	t.Cleanup(func() {
		cancel()
		<-s.done
	})
	select {
	case s.serving = <-serving:
	case err := <-s.done:
		s.done <- err
		t.Fatalf("Serve returned before serving: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("Serve did not start within a minute")
	}
	return s
}

// waitStatus polls the local API until account name has status want.
func waitStatus(t *testing.T, c *localapi.Client, name, want string) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		accts, err := c.Accounts(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		got := ""
		for _, a := range accts {
			if a.Name == name {
				got = a.Status
			}
		}
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("account %s: status %q, want %q", name, got, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestServe: Serve connects a directory vault's accounts, answers the
// local API, marks an account the server revoked, and saves what the
// pool learned when it stops, all without the binary.
func TestServe(t *testing.T) {
	srv, seeds, v := seededVault(t, "alice", "bob")
	if err := srv.RevokeKey(seeds[1].Key.ID()); err != nil {
		t.Fatal(err)
	}
	var logs syncBuffer
	sock := filepath.Join(t.TempDir(), "run.sock")
	s := startServe(t, Config{
		Vault:    v,
		Log:      slog.New(slog.NewTextHandler(&logs, nil)),
		Socket:   sock,
		Defaults: devDefaults(srv),
	})
	if s.serving.Socket != sock || s.serving.Accounts != 2 || s.serving.Worker != "" {
		t.Errorf("Serving: %+v, want the socket and 2 accounts", s.serving)
	}
	c := localapi.NewClient(sock)
	waitStatus(t, c, "alice", "ready")
	if me, err := c.Me(t.Context(), "alice"); err != nil || me.UserID != seeds[0].UserID {
		t.Fatalf("me: %+v %v; want user %d", me, err, seeds[0].UserID)
	}
	// bob's key was revoked: run marks it in the vault (its file and the
	// index), which keeps the next run off it.
	deadline := time.Now().Add(2 * time.Minute)
	for {
		a, err := v.Show("bob")
		if err != nil {
			t.Fatal(err)
		}
		if a.Status == vault.StatusRevoked {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("bob is %s, want revoked", a.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !strings.Contains(logs.String(), "level=WARN msg=\"account bob: ") || !strings.Contains(logs.String(), "marked revoked in the vault\" account=bob") {
		t.Errorf("no warning about bob in the log:\n%s", logs.String())
	}

	s.stop()
	if err := <-s.done; err != nil {
		t.Fatalf("Serve: %v", err)
	}
	s.done <- nil
	select {
	case st := <-s.stopped:
		if st.Changed < 1 {
			t.Errorf("Stopped: %+v; want alice's first connect saved", st)
		}
	default:
		t.Error("Serve returned nil without calling Stopped")
	}
	// What alice's first connect cached (gotd's config) was saved at stop.
	f, err := v.OpenAccount("alice")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, ok, err := f.Meta(mtproto.MetaGotd); err != nil || !ok {
		t.Errorf("alice's %s after stop: present %v, %v; want saved", mtproto.MetaGotd, ok, err)
	}
	if _, err := c.Accounts(t.Context()); !errors.Is(err, localapi.ErrNoServer) {
		t.Errorf("the socket after stop: %v, want ErrNoServer", err)
	}
}

// TestServeHeld: a second Serve of the same accounts (another process's
// run, here a second vault handle) refuses them while the first holds
// them, naming the holder.
func TestServeHeld(t *testing.T) {
	// The first Serve's record names this test binary, not `tgvault run`:
	// the second waits claimWait for it as for a command's short hold.
	defer func(w time.Duration) { claimWait = w }(claimWait)
	claimWait = 500 * time.Millisecond
	srv, _, v := seededVault(t, "alice")
	startServe(t, Config{Vault: v, Socket: filepath.Join(t.TempDir(), "run.sock"), Defaults: devDefaults(srv)})

	v2, err := vault.Open(vault.Options{Dir: v.Dir(), Keyring: filekeyring.New(filepath.Join(filepath.Dir(v.Dir()), "keyring"))})
	if err != nil {
		t.Fatal(err)
	}
	defer v2.Close()
	err = Serve(t.Context(), Config{Vault: v2, Socket: filepath.Join(t.TempDir(), "run2.sock"), Defaults: devDefaults(srv)})
	if _, ok := errors.AsType[*vault.HeldError](err); !ok {
		t.Fatalf("a second Serve of held accounts: %v, want a *vault.HeldError", err)
	}
}

// TestServeNames: Names limits the accounts; a name the index lacks fails
// with vault.ErrNotFound before anything is served; a directory vault has
// no fleet workers.
func TestServeNames(t *testing.T) {
	v := newVault(t)
	err := Serve(t.Context(), Config{Vault: v, Socket: filepath.Join(t.TempDir(), "run.sock"), Names: []string{"nobody"}})
	if !errors.Is(err, vault.ErrNotFound) {
		t.Fatalf("Serve of an unknown name: %v, want vault.ErrNotFound", err)
	}
	if err := Serve(t.Context(), Config{}); !errors.Is(err, ErrNoVault) {
		t.Fatalf("Serve without a vault: %v, want ErrNoVault", err)
	}
	// Only a vault in PostgreSQL has fleet workers (TestServeFleet: and
	// it has no other server).
	if err := Serve(t.Context(), Config{Vault: v, Socket: filepath.Join(t.TempDir(), "run.sock"), Worker: "w1"}); !errors.Is(err, ErrWorkerNeedsFleet) {
		t.Fatalf("a worker of a directory vault: %v, want ErrWorkerNeedsFleet", err)
	}
}

// TestServeSocketInUse: a socket another run serves on stops Serve before
// any of its accounts connects (the dev server sees no connection), where
// listening after the accounts were added would have connected them all
// and torn them down.
func TestServeSocketInUse(t *testing.T) {
	srv, _, v := seededVault(t, "alice", "bob")
	sock := filepath.Join(t.TempDir(), "run.sock")
	other, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	go func() { // another run: it answers
		for {
			c, err := other.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	err = Serve(t.Context(), Config{Vault: v, Socket: sock, Defaults: devDefaults(srv)})
	if _, ok := errors.AsType[*localapi.SocketInUseError](err); !ok {
		t.Fatalf("Serve on a socket in use: %v, want a *localapi.SocketInUseError", err)
	}
	st := srv.Stats()
	var conns int64
	for _, n := range st.Connections {
		conns += n
	}
	if conns != 0 || st.Open != 0 {
		t.Fatalf("the dev server saw %d connections (%d open) of a run refused for its socket, want none", conns, st.Open)
	}
}
