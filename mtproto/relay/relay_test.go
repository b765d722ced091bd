package relay

import (
	"context"
	"crypto/rsa"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/sessionstring"
)

// testAccount is a dev server account as the pool would give it to the
// relay: its seeded key, the account's stored device, dialing the dev
// server directly.
type testAccount struct {
	seed  devserver.Seed
	addrs map[int]string // the dev server's DCs
	pub   *rsa.PublicKey
	done  chan struct{}

	mu     sync.Mutex
	dcKeys map[int]sessionstring.AuthKey
	dials  map[int]int
}

func (a *testAccount) Home() (int, sessionstring.AuthKey) { return a.seed.DC, a.seed.Key }
func (a *testAccount) Identity() Identity {
	return Identity{UserID: a.seed.UserID, APIID: testDevice.APIID}
}
func (a *testAccount) Device() Device               { return testDevice }
func (a *testAccount) Done() <-chan struct{}        { return a.done }
func (a *testAccount) PublicKeys() []*rsa.PublicKey { return []*rsa.PublicKey{a.pub} }
func (a *testAccount) DCKey(dc int) (sessionstring.AuthKey, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.dcKeys[dc], nil
}
func (a *testAccount) SetDCKey(dc int, key sessionstring.AuthKey) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.dcKeys == nil {
		a.dcKeys = map[int]sessionstring.AuthKey{}
	}
	a.dcKeys[dc] = key
	return nil
}
func (a *testAccount) Dial(ctx context.Context, dc int, addr string) (tdtransport.Conn, error) {
	want, ok := a.addrs[dc]
	if !ok || (addr != "" && addr != want) {
		return nil, fmt.Errorf("test account: no DC %d %q", dc, addr)
	}
	a.mu.Lock()
	if a.dials == nil {
		a.dials = map[int]int{}
	}
	a.dials[dc]++
	a.mu.Unlock()
	return devDial(a.addrs)(ctx, dc)
}

type testAccounts map[string]*testAccount

func (t testAccounts) Account(_ context.Context, name string) (Account, error) {
	a, ok := t[name]
	if !ok {
		return nil, errors.New("test accounts: no such account")
	}
	return a, nil
}

// relayFixture is a dev server with one seeded account and a relay
// serving it.
type relayFixture struct {
	srv   *devserver.Server
	seed  devserver.Seed
	acc   *testAccount
	relay *Relay
}

func newRelayFixture(t testing.TB) *relayFixture {
	t.Helper()
	return newRelayFixtureOn(t, mttest.StartServer(t, devserver.Options{}))
}

// newRelayFixtureOn is newRelayFixture on a dev server of the test's;
// each opt may change the relay's Config.
func newRelayFixtureOn(t testing.TB, srv *devserver.Server, opts ...func(*Config)) *relayFixture {
	t.Helper()
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	acc := &testAccount{seed: seeds[0], addrs: map[int]string{srv.DC(): srv.Addr()}, pub: srv.PublicKey(), done: make(chan struct{})}
	run, err := tljson.NewMethodPolicy(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Accounts: testAccounts{"alice": acc}, Refuser: run, Logger: slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn})), PrivateKey: testRSAKey(t), UpstreamTimeout: testTimeout(), IOTimeout: testTimeout()}
	for _, opt := range opts {
		opt(&cfg)
	}
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := r.Close(); err != nil {
			t.Errorf("relay close: %v", err)
		}
	})
	return &relayFixture{srv: srv, seed: seeds[0], acc: acc, relay: r}
}

// recordUpdates keeps every Updates the gotd client gets.
type recordUpdates struct {
	mu  sync.Mutex
	got []tdtg.UpdatesClass
	ch  chan struct{}
}

func (r *recordUpdates) Handle(_ context.Context, u tdtg.UpdatesClass) error {
	r.mu.Lock()
	r.got = append(r.got, u)
	r.mu.Unlock()
	select {
	case r.ch <- struct{}{}:
	default:
	}
	return nil
}

// messages returns the texts of the new messages received, by sender.
func (r *recordUpdates) messages() map[int64][]string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[int64][]string{}
	for _, u := range r.got {
		us, ok := u.(*tdtg.Updates)
		if !ok {
			continue
		}
		for _, x := range us.Updates {
			if nm, ok := x.(*tdtg.UpdateNewMessage); ok {
				if m, ok := nm.Message.(*tdtg.Message); ok {
					from := int64(0)
					if p, ok := m.PeerID.(*tdtg.PeerUser); ok {
						from = p.UserID
					}
					out[from] = append(out[from], m.Message)
				}
			}
		}
	}
	return out
}

// gotdRelayClient runs fn on a gotd client that holds only the minted
// relay session, as an unmodified program would.
// It trusts the relay's RSA key, as a client must to reach media on
// another DC (the key exchange with a relay DC).
func (f *relayFixture) gotdClient(t *testing.T, m Minted, h tdtelegram.UpdateHandler, fn func(context.Context, *tdtelegram.Client) error) error {
	t.Helper()
	var k tdcrypto.Key
	copy(k[:], m.Key.Bytes())
	withID := k.WithID()
	addr := net.JoinHostPort(m.Host, fmt.Sprint(m.Port))
	store := new(tdsession.StorageMemory)
	if err := (&tdsession.Loader{Storage: store}).Save(t.Context(), &tdsession.Data{DC: m.DC, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}); err != nil {
		t.Fatal(err)
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             m.DC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: m.DC, IPAddress: m.Host, Port: m.Port}}},
		PublicKeys:     []tdtelegram.PublicKey{{RSA: f.relay.PublicKey()}},
		SessionStorage: store,
		UpdateHandler:  h,
		NoUpdates:      h == nil,
		Device:         tdtelegram.DeviceConfig{DeviceModel: "relay-client-device", AppVersion: "0.0.1"},
	})
	ctx, cancel := context.WithTimeout(t.Context(), 2*testTimeout())
	defer cancel()
	return c.Run(ctx, func(ctx context.Context) error { return fn(ctx, c) })
}

func isRefused(err error) bool {
	return tdtgerr.Is(err, RefusedMessage)
}

// TestRelayGotd: an unmodified gotd client holding only a relay session
// gets itself, resolves a username, reads the config (its dc_options
// point at the relay), receives a pushed update (not the service
// account's), and gets 403 TGVAULT_METHOD_REFUSED for auth.logOut and a
// read of the service account's history. The dev server saw no key
// exchange, no duplicate, and only the account's stored device; the relay
// key means nothing to the dev server; revoking the session ends it.
func TestRelayGotd(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	bob, err := f.srv.AddUser("+15550001", "bob_relay", "11111")
	if err != nil {
		t.Fatal(err)
	}
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Key.ID() == f.seed.Key.ID() {
		t.Fatal("the relay key is the account's key")
	}
	updates := &recordUpdates{ch: make(chan struct{}, 1)}
	err = f.gotdClient(t, m, updates, func(ctx context.Context, c *tdtelegram.Client) error {
		api := c.API()
		users, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
		if err != nil {
			return fmt.Errorf("get me: %w", err)
		}
		if u, ok := users[0].(*tdtg.User); !ok || u.ID != f.seed.UserID {
			return fmt.Errorf("get me: %v, want user %d", users, f.seed.UserID)
		}
		res, err := api.ContactsResolveUsername(ctx, &tdtg.ContactsResolveUsernameRequest{Username: "bob_relay"})
		if err != nil {
			return fmt.Errorf("resolve: %w", err)
		}
		if p, ok := res.Peer.(*tdtg.PeerUser); !ok || p.UserID != bob {
			return fmt.Errorf("resolve: %v, want user %d", res.Peer, bob)
		}
		cfg, err := api.HelpGetConfig(ctx)
		if err != nil {
			return fmt.Errorf("config: %w", err)
		}
		if len(cfg.DCOptions) == 0 {
			return errors.New("config: no dc_options")
		}
		for _, o := range cfg.DCOptions {
			if o.IPAddress != m.Host {
				return fmt.Errorf("config: DC %d at %s, not at the relay", o.ID, o.IPAddress)
			}
		}
		if _, err := api.AuthLogOut(ctx); !isRefused(err) {
			return fmt.Errorf("auth.logOut: %v, want %s", err, RefusedMessage)
		}
		_, err = api.MessagesGetHistory(ctx, &tdtg.MessagesGetHistoryRequest{Peer: &tdtg.InputPeerUser{UserID: ServiceUserID}, Limit: 10})
		if !isRefused(err) {
			return fmt.Errorf("service history: %v, want %s", err, RefusedMessage)
		}
		// Pushed updates: the service account's login code is withheld,
		// a user's message arrives.
		now := int(time.Now().Unix())
		newMsg := func(from int64, text string) *tdtg.Updates {
			return &tdtg.Updates{
				Updates: []tdtg.UpdateClass{&tdtg.UpdateNewMessage{Message: &tdtg.Message{ID: 1, PeerID: &tdtg.PeerUser{UserID: from}, Message: text, Date: now}, Pts: 1, PtsCount: 1}},
				Users:   []tdtg.UserClass{&tdtg.User{ID: from, FirstName: "x"}},
				Date:    now,
			}
		}
		if _, err := f.srv.PushUpdates(ctx, f.seed.UserID, newMsg(ServiceUserID, "Login code: 12345")); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		if _, err := f.srv.PushUpdates(ctx, f.seed.UserID, newMsg(bob, "hello")); err != nil {
			return fmt.Errorf("push: %w", err)
		}
		for len(updates.messages()[bob]) == 0 {
			select {
			case <-updates.ch:
			case <-ctx.Done():
				return fmt.Errorf("no pushed update: %w", ctx.Err())
			}
		}
		if got := updates.messages()[ServiceUserID]; len(got) != 0 {
			return fmt.Errorf("the service account's message reached the client: %q", got)
		}
		if n := len(f.relay.Sessions()); n != 1 {
			return fmt.Errorf("%d sessions listed, want 1", n)
		}
		if c := f.relay.Sessions()[0].Connections; c != 1 {
			return fmt.Errorf("session has %d connections, want 1", c)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}

	st := f.srv.Stats()
	if st.KeyExchanges != 0 || st.Duplicates != 0 {
		t.Errorf("dev server: %d key exchanges, %d duplicates; want 0, 0", st.KeyExchanges, st.Duplicates)
	}
	for _, c := range f.srv.Clients(f.seed.Key.ID()) {
		if c.DeviceModel != testDevice.DeviceModel || c.APIID != testDevice.APIID {
			t.Errorf("dev server saw device %+v, want only the account's", c)
		}
	}
	met := f.relay.Metrics()
	if met.Refusals["auth.logOut"] != 1 || met.Refusals["messages.getHistory"] != 1 || met.Calls["users.getUsers"] == 0 || met.Withheld == 0 {
		t.Errorf("metrics %+v", met)
	}

	// The relay key is worthless at the server itself.
	if err := keyFails(t, f.seed.DC, m.Key, f.srv.Addr()); err != nil {
		t.Error(err)
	}
	if n := f.srv.Stats().KeyExchanges; n != 0 {
		t.Errorf("%d key exchanges after the relay key was tried, want 0", n)
	}

	// Revoked, the relay key is worthless at the relay too.
	if err := f.relay.Revoke(m.ID); err != nil {
		t.Fatal(err)
	}
	if err := keyFails(t, m.DC, m.Key, m.addr()); err != nil {
		t.Errorf("after revoke: %v", err)
	}
	if err := f.relay.Revoke(m.ID); !errors.Is(err, ErrUnknownSession) {
		t.Errorf("second revoke: %v, want ErrUnknownSession", err)
	}
}

// keyFails checks that a server at addr does not know key (transport
// error -404).
func keyFails(t *testing.T, dc int, key sessionstring.AuthKey, addr string) error {
	t.Helper()
	u, err := dialUpstream(t.Context(), upstreamConfig{DC: dc, Key: key, Dial: devDial(map[int]string{dc: addr}), Timeout: testTimeout()})
	if err != nil {
		if errors.Is(err, ErrUpstreamKeyUnknown) {
			return nil
		}
		return err
	}
	defer u.Close()
	_, err = u.Invoke(t.Context(), wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.HelpGetConfigRequest{})))
	if err == nil {
		return errors.New("a call on the key succeeded")
	}
	<-u.Done()
	if got := u.failure(); got != ErrUpstreamKeyUnknown {
		return fmt.Errorf("failure %v, want ErrUpstreamKeyUnknown", got)
	}
	return nil
}

// addr is where the relay answers as the minted session's DC.
func (m Minted) addr() string { return net.JoinHostPort(m.Host, fmt.Sprint(m.Port)) }

// TestRelayExpiry: a session past its expiry is revoked: its open
// connection ends and its key is unknown at the relay from then on.
func TestRelayExpiry(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice", TTL: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Expires.Sub(m.Created); got != time.Hour {
		t.Fatalf("expires after %s, want 1h", got)
	}
	if _, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice", TTL: MaxTTL + time.Second}); err == nil {
		t.Fatalf("a session of %v minted, over MaxTTL", MaxTTL+time.Second)
	}
	u, err := dialUpstream(t.Context(), upstreamConfig{DC: m.DC, Key: m.Key, Dial: devDial(map[int]string{m.DC: m.addr()}), Timeout: testTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	if _, err := u.Invoke(t.Context(), wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UpdatesGetStateRequest{}))); err != nil {
		t.Fatal(err)
	}
	f.relay.expire(time.Now().Add(30 * time.Minute))
	if n := len(f.relay.Sessions()); n != 1 {
		t.Fatalf("%d sessions after half the time, want 1", n)
	}
	f.relay.expire(time.Now().Add(time.Hour))
	if n := len(f.relay.Sessions()); n != 0 {
		t.Fatalf("%d sessions after the expiry, want 0", n)
	}
	select {
	case <-u.Done():
	case <-t.Context().Done():
		t.Fatal("the expired session's connection stayed open")
	}
	if err := keyFails(t, m.DC, m.Key, m.addr()); err != nil {
		t.Fatalf("the expired key at the relay: %v", err)
	}
	if met := f.relay.Metrics(); met.Revoked != 1 || met.SessionsOpen != 0 {
		t.Fatalf("metrics %+v", met)
	}
}

// TestRelayUnboundKey: a client may make a key by a real key exchange
// with a relay DC, but until an import binds it to a session every call
// on it gets 401 AUTH_KEY_UNREGISTERED; the dev server sees nothing.
func TestRelayUnboundKey(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	u, err := dialUpstream(t.Context(), upstreamConfig{
		DC: m.DC, PublicKeys: []*rsa.PublicKey{f.relay.PublicKey()}, Dial: devDial(map[int]string{m.DC: m.addr()}), Timeout: testTimeout(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_, err = u.Invoke(t.Context(), wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})))
	if rpcErr, ok := tdtgerr.As(err); !ok || rpcErr.Code != 401 || rpcErr.Message != errUnregistered {
		t.Fatalf("call on an unbound key: %v, want 401 %s", err, errUnregistered)
	}
	if met := f.relay.Metrics(); met.KeyExchanges != 1 || len(met.Calls) != 0 {
		t.Fatalf("metrics %+v, want 1 exchange and no call", met)
	}
	if st := f.srv.Stats(); st.KeyExchanges != 0 || len(st.Connections) != 0 {
		t.Fatalf("dev server saw %d exchanges, connections %v", st.KeyExchanges, st.Connections)
	}
}

// TestRelayAccountDone: when the pool stops serving the account, its
// relay sessions end; a Mint for an account the pool lacks fails.
func TestRelayAccountDone(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	if _, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.relay.Mint(t.Context(), MintRequest{Account: "nobody"}); err == nil {
		t.Fatal("minted for an account the pool does not serve")
	}
	if _, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice", Policy: Policy{Allow: []string{"messages.nope"}}}); !errors.Is(err, ErrBadPolicy) {
		t.Fatalf("bad policy: %v", err)
	}
	close(f.acc.done)
	for len(f.relay.Sessions()) != 0 {
		select {
		case <-t.Context().Done():
			t.Fatal("sessions outlived their account")
		case <-time.After(10 * time.Millisecond):
		}
	}
}
