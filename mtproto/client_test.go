package mtproto

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

func TestLoginBotStoresSession(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	botID, token, err := srv.AddBot("vaultbot")
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	start, cpu0 := time.Now(), mttest.ProcessCPU(t)
	id, err := LoginBot(t.Context(), store, token, serverOptions(srv))
	if err != nil {
		t.Fatalf("LoginBot: %v", err)
	}
	t.Logf("login with key exchange: %v wall, %v CPU (client and server)", time.Since(start), mttest.ProcessCPU(t)-cpu0)
	if id != (Identity{UserID: botID, IsBot: true}) {
		t.Errorf("identity = %+v, want bot %d", id, botID)
	}
	r := row(t, store)
	if r.AuthKey.IsZero() {
		t.Fatal("no key stored")
	}
	if r.DCID != srv.DC() {
		t.Errorf("dc = %d, want %d", r.DCID, srv.DC())
	}
	if uid, ok := r.UserID.Get(); !ok || uid != botID {
		t.Errorf("user id = %v, want %d", r.UserID, botID)
	}
	if bot, ok := r.IsBot.Get(); !ok || !bot {
		t.Errorf("is_bot = %v, want true", r.IsBot)
	}
	if api, ok := r.APIID.Get(); !ok || api != 17349 {
		t.Errorf("api_id = %v", r.APIID)
	}
	if !r.TestMode.Known() || r.Empty() {
		t.Errorf("row would be empty for Pyrogram: %+v", r)
	}
	if uid, known := srv.KeyUser(r.AuthKey.ID()); !known || uid != botID {
		t.Errorf("server: key %s user %d known %v", r.AuthKey.ID(), uid, known)
	}
	if _, ok, err := store.Meta(MetaGotd); err != nil || !ok {
		t.Errorf("meta %s: ok %v err %v", MetaGotd, ok, err)
	}
	if st := srv.Stats(); st.KeyExchanges != 1 {
		t.Errorf("key exchanges = %d, want 1", st.KeyExchanges)
	}

	// A second login on an authorized store is refused before connecting.
	if _, err := LoginBot(t.Context(), store, token, serverOptions(srv)); !errors.Is(err, ErrAlreadyAuthorized) {
		t.Errorf("second login: %v, want ErrAlreadyAuthorized", err)
	}
}

func TestRestartUsesStoredKey(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv := mttest.StartServer(t, devserver.Options{Dir: dir})
	store, want := loginBot(t, srv)
	key := row(t, store).AuthKey

	for i := range 2 {
		start, cpu0 := time.Now(), mttest.ProcessCPU(t)
		got, err := runSelf(t.Context(), store, serverOptions(srv))
		if err != nil {
			t.Fatalf("run %d: %v", i, err)
		}
		t.Logf("reconnect with stored key: %v wall, %v CPU", time.Since(start), mttest.ProcessCPU(t)-cpu0)
		if got != want {
			t.Errorf("self = %+v, want %+v", got, want)
		}
	}
	st := srv.Stats()
	if st.KeyExchanges != 1 {
		t.Errorf("key exchanges = %d, want 1 (the login's)", st.KeyExchanges)
	}
	if n := st.Connections[key.ID()]; n != 3 {
		t.Errorf("connections with the key = %d, want 3", n)
	}
	if !row(t, store).AuthKey.Equal(key) {
		t.Error("stored key changed")
	}
}

func TestServerRestartKeepsKeys(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := devserver.Open(devserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	store, want := loginBot(t, srv)
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	srv2 := mttest.StartServer(t, devserver.Options{Dir: dir}) // same state, new port, same RSA key
	got, err := runSelf(t.Context(), store, serverOptions(srv2))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("self = %+v, want %+v", got, want)
	}
	if n := srv2.Stats().KeyExchanges; n != 0 {
		t.Errorf("key exchanges after restart = %d, want 0", n)
	}
}

func TestFileStoreLoginAndReopen(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	_, token, err := srv.AddBot("filebot")
	if err != nil {
		t.Fatal(err)
	}
	path, f := createFile(t)
	want, err := LoginBot(t.Context(), f, token, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	rev := f.Revision()
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	f2, err := storage.OpenFile(path, xorSealer{}, storage.Binding{VaultID: "v1", AccountID: "a1", Revision: rev}, storage.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f2.Close()
	got, err := runSelf(t.Context(), f2, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	if got != want {
		t.Errorf("self = %+v, want %+v", got, want)
	}
	if n := srv.Stats().KeyExchanges; n != 1 {
		t.Errorf("key exchanges = %d, want 1", n)
	}
}

func TestLoadFailureDoesNotCreateKey(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	tests := []struct {
		name  string
		store func(t *testing.T) storage.Storage
		allow bool
		want  error
	}{
		{"store error", func(t *testing.T) storage.Storage { return failingStore{mttest.NewMemory(t), errBroken} }, false, errBroken},
		{"store error during login", func(t *testing.T) storage.Storage { return failingStore{mttest.NewMemory(t), errBroken} }, true, errBroken},
		{"no key", func(t *testing.T) storage.Storage { return mttest.NewMemory(t) }, false, ErrNoSession},
		{"corrupt meta", func(t *testing.T) storage.Storage {
			m := mttest.NewMemory(t)
			mttest.SeedStore(t, m, mttest.RandomKey(t), 2, 42)
			if err := m.SetMeta(MetaGotd, []byte("{not json")); err != nil {
				t.Fatal(err)
			}
			return m
		}, false, ErrCorruptSession},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			opts := serverOptions(srv)
			opts.Session.AllowNewKey = tt.allow
			_, err := runSelf(t.Context(), tt.store(t), opts)
			if !errors.Is(err, tt.want) {
				t.Fatalf("err = %v, want %v", err, tt.want)
			}
		})
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Errorf("key exchanges = %d, want 0", n)
	}
}

func TestRevokedKeyIsNotReplaced(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	store, _ := loginBot(t, srv)
	before := row(t, store)
	if err := srv.RevokeKey(before.AuthKey.ID()); err != nil {
		t.Fatal(err)
	}
	var lost keyLog
	opts := serverOptions(srv)
	opts.Session.OnKeyLost = lost.record
	_, err := runSelf(t.Context(), store, opts)
	if !errors.Is(err, ErrUnauthorized) || !tdtgerr.Is(err, "AUTH_KEY_UNREGISTERED") {
		t.Fatalf("err = %v, want ErrUnauthorized / AUTH_KEY_UNREGISTERED", err)
	}
	after := row(t, store)
	if !after.AuthKey.Equal(before.AuthKey) || after.UserID != before.UserID {
		t.Error("session row changed after a revoked key")
	}
	if n := srv.Stats().KeyExchanges; n != 1 {
		t.Errorf("key exchanges = %d, want 1", n)
	}
	if c := lost.get(); len(c) != 0 {
		t.Errorf("OnKeyLost called: %v", c)
	}
}

// TestLostKeyOnServer: the server forgets the key (-404). The transport
// guard stops the client before gotd makes a new key: no key exchange.
func TestLostKeyOnServer(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	store, _ := loginBot(t, srv)
	before := row(t, store)
	if err := srv.ForgetKey(before.AuthKey.ID()); err != nil {
		t.Fatal(err)
	}
	var lost keyLog
	opts := serverOptions(srv)
	opts.Session.OnKeyLost = lost.record
	_, err := runSelf(t.Context(), store, opts)
	var kl *KeyLostError
	if !errors.As(err, &kl) || kl.Old != before.AuthKey.ID() || kl.New != 0 {
		t.Fatalf("err = %v, want *KeyLostError for %s with no new key", err, before.AuthKey.ID())
	}
	if c := lost.get(); len(c) != 1 || c[0] != [2]sessionstring.KeyID{before.AuthKey.ID(), 0} {
		t.Errorf("OnKeyLost calls = %v", c)
	}
	if n := srv.Stats().KeyExchanges; n != 1 {
		t.Errorf("key exchanges = %d, want 1 (the login's only)", n)
	}
	after := row(t, store)
	if !after.AuthKey.Equal(before.AuthKey) || after.UserID != before.UserID || after.DCID != before.DCID {
		t.Error("authorized session row was overwritten")
	}
}

// TestLostKeyOnServerUnguarded: without the transport guard gotd makes a new
// key after -404 and tries to store it; the adapter keeps the authorized
// key, reports it and stops the client.
func TestLostKeyOnServerUnguarded(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	store, _ := loginBot(t, srv)
	before := row(t, store)
	if err := srv.ForgetKey(before.AuthKey.ID()); err != nil {
		t.Fatal(err)
	}
	var lost keyLog
	opts := serverOptions(srv)
	opts.testOnlyNoGuard = true
	opts.Session.OnKeyLost = lost.record
	start := time.Now()
	_, err := runSelf(t.Context(), store, opts)
	var kl *KeyLostError
	if !errors.As(err, &kl) || !errors.Is(err, ErrKeyLost) {
		t.Fatalf("err = %v, want *KeyLostError", err)
	}
	t.Logf("stopped %v after connecting", time.Since(start))
	if kl.Old != before.AuthKey.ID() || kl.New == kl.Old || kl.New == 0 {
		t.Errorf("KeyLostError = %+v", kl)
	}
	if c := lost.get(); len(c) != 1 || c[0] != [2]sessionstring.KeyID{kl.Old, kl.New} {
		t.Errorf("OnKeyLost calls = %v", c)
	}
	after := row(t, store)
	if !after.AuthKey.Equal(before.AuthKey) || after.UserID != before.UserID || after.DCID != before.DCID {
		t.Error("authorized session row was overwritten")
	}
}

func TestConnectDeadline(t *testing.T) {
	t.Parallel()
	// A port with nothing listening: dials fail and gotd retries forever.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := ln.Addr().String()
	_ = ln.Close()
	// A server that accepts and never answers.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	srv := mttest.StartServer(t, devserver.Options{}) // only for its public key
	// A refused dial stops at once (ErrUnreachable); a silent server is
	// the deadline's.
	for _, addr := range []struct {
		name, addr string
		want       error
	}{{"refused", deadAddr, ErrUnreachable}, {"silent", silent.Addr().String(), ErrConnectTimeout}} {
		t.Run(addr.name, func(t *testing.T) {
			t.Parallel()
			store := mttest.NewMemory(t)
			mttest.SeedStore(t, store, mttest.RandomKey(t), 2, 42)
			opts := serverOptions(srv)
			opts.Server.Addr = addr.addr
			opts.ConnectTimeout = time.Second
			start := time.Now()
			_, err := runSelf(t.Context(), store, opts)
			took := time.Since(start)
			if !errors.Is(err, addr.want) {
				t.Fatalf("err = %v, want %v", err, addr.want)
			}
			if took > 5*time.Second {
				t.Errorf("took %v with a 1s deadline", took)
			}
		})
	}
}

func TestSeededAccounts(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seeds {
		store := mttest.NewMemory(t)
		mttest.SeedStore(t, store, s.Key, s.DC, s.UserID)
		got, err := runSelf(t.Context(), store, serverOptions(srv))
		if err != nil {
			t.Fatal(err)
		}
		if got != (Identity{UserID: s.UserID}) {
			t.Errorf("self = %+v, want user %d", got, s.UserID)
		}
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Errorf("key exchanges = %d, want 0", n)
	}
}

func TestDuplicateCounter(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	// Two clients with one key, connected at the same time.
	ready := make(chan struct{}, 2)
	release := make(chan struct{})
	errs := make(chan error, 2)
	for range 2 {
		store := mttest.NewMemory(t)
		mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
		c, err := NewClient(store, serverOptions(srv))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			errs <- c.Run(t.Context(), func(ctx context.Context) error {
				if _, err := c.Self(ctx); err != nil {
					return err
				}
				ready <- struct{}{}
				<-release
				return nil
			})
		}()
	}
	<-ready
	<-ready
	st := srv.Stats()
	close(release)
	for range 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if st.Duplicates != 1 || st.Connections[seeds[0].Key.ID()] != 2 {
		t.Errorf("duplicates = %d, connections = %d; want 1 and 2", st.Duplicates, st.Connections[seeds[0].Key.ID()])
	}
}

func TestDuplicateRejected(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	srv, err := devserver.Open(devserver.Options{Dir: dir, RejectDuplicates: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	first := mttest.NewMemory(t)
	mttest.SeedStore(t, first, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	c, err := NewClient(first, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	holding, release, firstErr := make(chan struct{}), make(chan struct{}), make(chan error, 1)
	go func() {
		firstErr <- c.Run(t.Context(), func(ctx context.Context) error {
			if _, err := c.Self(ctx); err != nil {
				return err
			}
			close(holding)
			<-release
			return nil
		})
	}()
	select {
	case <-holding:
	case err := <-firstErr:
		t.Fatal(err)
	}
	second := mttest.NewMemory(t)
	mttest.SeedStore(t, second, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	_, err = runSelf(t.Context(), second, serverOptions(srv))
	close(release)
	if !errors.Is(err, ErrKeyDuplicated) {
		t.Errorf("second client: %v, want ErrKeyDuplicated", err)
	}
	if err := <-firstErr; err != nil {
		t.Errorf("first client: %v", err)
	}
	if !row(t, second).AuthKey.Equal(seeds[0].Key) {
		t.Error("stored key changed")
	}
}

func TestRunCanceledBeforeReady(t *testing.T) {
	t.Parallel()
	// A server that accepts and never answers: Run waits for readiness.
	silent, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = silent.Close() })
	go func() {
		for {
			c, err := silent.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	srv := mttest.StartServer(t, devserver.Options{})
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, mttest.RandomKey(t), 2, 42)
	opts := serverOptions(srv)
	opts.Server.Addr = silent.Addr().String()
	ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
	defer cancel()
	c, err := NewClient(store, opts)
	if err != nil {
		t.Fatal(err)
	}
	called := false
	err = c.Run(ctx, func(context.Context) error { called = true; return nil })
	if !errors.Is(err, context.DeadlineExceeded) || called {
		t.Fatalf("err = %v, called %v; want the context's error", err, called)
	}
}

// TestUnknownUnauthorizedKey: a key no one is logged in with and that the
// server does not know is replaced during a login, and refused otherwise.
func TestUnknownUnauthorizedKey(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	stale := mttest.RandomKey(t)
	newStore := func(t *testing.T) *storage.Memory {
		m := mttest.NewMemory(t)
		if err := m.SetSession(storage.SessionRow{DCID: 2, AuthKey: stale}); err != nil {
			t.Fatal(err)
		}
		return m
	}

	refused := newStore(t)
	if _, err := runSelf(t.Context(), refused, serverOptions(srv)); !errors.Is(err, ErrNewKeyRefused) {
		t.Fatalf("without login: %v, want ErrNewKeyRefused", err)
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Errorf("key exchanges without login = %d, want 0", n)
	}

	_, token, err := srv.AddBot("b")
	if err != nil {
		t.Fatal(err)
	}
	store := newStore(t)
	if _, err := LoginBot(t.Context(), store, token, serverOptions(srv)); err != nil {
		t.Fatalf("login over a stale key: %v", err)
	}
	if r := row(t, store); r.AuthKey.Equal(stale) || !r.UserID.Known() {
		t.Error("login did not replace the stale key")
	}
}
