package mtproto

import (
	"context"
	"crypto/rsa"
	"errors"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/relay"
)

// TestPoolRelayAccount: the pool's accounts as the relay uses them. A
// client holding only a relay key gets the account's user through the
// relay, which connects with the account's stored key and device: the dev
// server sees no key exchange, no new authorization, no key in two places
// and only the stored device. The account's key for another DC is kept
// sealed in its store (MetaDCKeys) and read back by a later Account; a
// fleet worker's account is refused; removing the account from the pool
// ends its relay sessions.
func TestPoolRelayAccount(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	seed := seeds[0]
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seed.Key, seed.DC, seed.UserID)
	dev := Device{Model: "MacBookPro18,3", System: "macOS 14.5", AppVersion: "5.8.3 x64", LangCode: "en", SystemLangCode: "en"}
	opts := serverOptions(srv)
	opts.Device = dev
	pool := NewPool(PoolOptions{KeepAlive: -1})
	if err := pool.AddClient("alice", store, opts); err != nil {
		t.Fatal(err)
	}
	fleetOpts := opts
	fleetOpts.DeadMan = DeadMan{Interval: 5 * time.Second, Delay: 10 * time.Second}
	fleetSeed, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	fleetStore := mttest.NewMemory(t)
	mttest.SeedStore(t, fleetStore, fleetSeed[0].Key, fleetSeed[0].DC, fleetSeed[0].UserID)
	if err := pool.AddClient("fleet", fleetStore, fleetOpts); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()
	poolCtx, stopPool := context.WithCancel(context.Background())
	poolDone := make(chan struct{})
	go func() { defer close(poolDone); _ = pool.Run(poolCtx) }()
	defer func() { stopPool(); <-poolDone }()

	r, err := relay.New(relay.Config{Accounts: pool.RelayAccounts(), UpstreamTimeout: mttest.ConnectTimeout(), IOTimeout: mttest.ConnectTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	m, err := r.Mint(ctx, relay.MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	if m.Key.Equal(seed.Key) || m.Identity.UserID != seed.UserID || m.DC != seed.DC {
		t.Fatalf("minted: dc %d, identity %+v", m.DC, m.Identity)
	}
	if _, err := r.Mint(ctx, relay.MintRequest{Account: "fleet"}); !errors.Is(err, ErrRelayFleet) {
		t.Errorf("mint for a fleet worker's account: %v, want ErrRelayFleet", err)
	}
	if _, err := r.Mint(ctx, relay.MintRequest{Account: "nobody"}); !errors.Is(err, ErrUnknownAccount) {
		t.Errorf("mint for an unknown account: %v, want ErrUnknownAccount", err)
	}

	client := mttest.NewMemory(t)
	mttest.SeedStore(t, client, m.Key, m.DC, seed.UserID)
	copts := opts
	copts.Server = Server{DC: m.DC, Addr: net.JoinHostPort(m.Host, strconv.Itoa(m.Port)), PublicKeys: []*rsa.PublicKey{r.PublicKey()}}
	copts.Device = Device{Model: "a script", System: "Linux", AppVersion: "1.0", LangCode: "de", SystemLangCode: "de"}
	before := srv.Stats()
	id, err := runSelf(ctx, client, copts)
	if err != nil {
		t.Fatalf("get_me through the relay: %v", err)
	}
	if id.UserID != seed.UserID {
		t.Errorf("get_me through the relay: user %d, want %d", id.UserID, seed.UserID)
	}
	st := srv.Stats()
	if st.KeyExchanges != before.KeyExchanges || st.Authorizations != 0 || st.DuplicateAddrs != 0 {
		t.Errorf("dev server: %d key exchanges (%d before), %d authorizations, %d duplicate addresses; want none new", st.KeyExchanges, before.KeyExchanges, st.Authorizations, st.DuplicateAddrs)
	}
	for _, c := range srv.Clients(seed.Key.ID()) {
		if c.DeviceModel != dev.Model || c.SystemVersion != dev.System || c.AppVersion != dev.AppVersion {
			t.Errorf("the dev server saw device %+v for the account's key; want only the stored %+v", c, dev)
		}
	}
	if _, known := srv.KeyUser(m.Key.ID()); known {
		t.Error("the dev server knows the relay key")
	}

	// The account's key for DC 4, kept sealed with it.
	acc, err := pool.RelayAccounts().Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := acc.DCKey(4); err != nil || !k.IsZero() {
		t.Errorf("DCKey before any: %v, %v", k.ID(), err)
	}
	k4 := mttest.RandomKey(t)
	if err := acc.SetDCKey(4, k4); err != nil {
		t.Fatal(err)
	}
	if err := acc.SetDCKey(seed.DC, k4); err == nil {
		t.Error("SetDCKey of the home DC succeeded")
	}
	if _, ok, _ := store.Meta(MetaDCKeys); !ok {
		t.Error("no MetaDCKeys in the account's store")
	}
	again, err := pool.RelayAccounts().Account(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if k, err := again.DCKey(4); err != nil || !k.Equal(k4) {
		t.Errorf("DCKey(4) read back: %v, %v", k.ID(), err)
	}
	if dc, k := again.Home(); dc != seed.DC || !k.Equal(seed.Key) {
		t.Errorf("Home: DC %d, key %v", dc, k.ID())
	}
	if d := again.Device(); d.DeviceModel != dev.Model || d.APIID != int(opts.APIID) {
		t.Errorf("Device: %+v", d)
	}
	if err := store.SetMeta(MetaDCKeys, []byte(`{"4":"not base64"}`)); err != nil {
		t.Fatal(err)
	}
	if _, err := again.DCKey(4); !errors.Is(err, ErrBadSettings) {
		t.Errorf("DCKey of an unreadable setting: %v, want ErrBadSettings", err)
	}

	// The account leaves the pool: its relay sessions end.
	if err := pool.Remove(ctx, "alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case <-acc.Done():
	case <-ctx.Done():
		t.Fatal("Done not closed after Remove")
	}
	for len(r.Sessions()) > 0 {
		select {
		case <-ctx.Done():
			t.Fatalf("relay sessions after the account left: %+v", r.Sessions())
		case <-time.After(10 * time.Millisecond):
		}
	}
}

// TestRelayAccountDialList: where Dial goes for each DC.
func TestRelayAccountDialList(t *testing.T) {
	t.Parallel()
	custom := &relayAccount{home: 2, opts: Options{Server: Server{Addr: "127.0.0.1:4430"}}}
	prod := &relayAccount{home: 2}
	test := &relayAccount{home: 2, opts: Options{Server: Server{TestMode: true}}}
	for _, tc := range []struct {
		name string
		a    *relayAccount
		dc   int
		addr string
		want string // "ip:port" of the one option, "table" for Telegram's, "" for an error
	}{
		{"custom home", custom, 2, "", "127.0.0.1:4430"},
		{"custom other, from config", custom, 4, "127.0.0.1:5000", "127.0.0.1:5000"},
		{"custom other, no address", custom, 4, "", ""},
		{"telegram home", prod, 2, "", "table"},
		{"telegram other", prod, 4, "", "table"},
		{"test other", test, 1, "", "table"},
		{"from config", prod, 4, "149.154.167.92:443", "149.154.167.92:443"},
		{"bad port", prod, 4, "1.2.3.4:x", ""},
		{"no port", prod, 4, "1.2.3.4", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l, err := tc.a.dcList(tc.dc, tc.addr)
			switch {
			case tc.want == "":
				if err == nil {
					t.Errorf("list %+v, want an error", l)
				}
			case tc.want == "table":
				if err != nil || len(l.Options) < 5 || l.Test != tc.a.opts.Server.TestMode {
					t.Errorf("list of %d options (test %v), %v; want Telegram's table", len(l.Options), l.Test, err)
				}
			default:
				if err != nil || len(l.Options) != 1 || net.JoinHostPort(l.Options[0].IPAddress, strconv.Itoa(l.Options[0].Port)) != tc.want || l.Options[0].ID != tc.dc {
					t.Errorf("list %+v, %v; want DC %d at %s", l.Options, err, tc.dc, tc.want)
				}
			}
		})
	}
}
