package devserver_test

import (
	"bytes"
	"context"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/mtproto/devserver"
)

// startServer opens a dev server in a temporary state directory and
// serves it until the test ends.
func startServer(t *testing.T, opts devserver.Options) *devserver.Server {
	t.Helper()
	opts.Dir = filepath.Join(t.TempDir(), "state")
	srv, err := devserver.Open(opts)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	t.Cleanup(func() {
		_ = srv.Close()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return srv
}

// dcList is every DC of srv, as help.getConfig would give it.
func dcList(t *testing.T, srv *devserver.Server) tddcs.List {
	t.Helper()
	var l tddcs.List
	for _, dc := range srv.DCs() {
		addr, _ := srv.DCAddr(dc)
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		l.Options = append(l.Options, tdtg.DCOption{ID: dc, IPAddress: host, Port: p})
	}
	return l
}

// runGotd runs fn on a gotd client of DC dc with the session in store.
func runGotd(t *testing.T, srv *devserver.Server, dc int, store tdtelegram.SessionStorage, fn func(context.Context, *tdtelegram.Client) error) error {
	t.Helper()
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             dc,
		DCList:         dcList(t, srv),
		PublicKeys:     []tdtelegram.PublicKey{{RSA: srv.PublicKey()}},
		SessionStorage: store,
		NoUpdates:      true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	return c.Run(ctx, func(ctx context.Context) error { return fn(ctx, c) })
}

// seededStore is a gotd session of a seeded account.
func seededStore(t *testing.T, seed devserver.Seed, addr string) *tdsession.StorageMemory {
	t.Helper()
	var key tdcrypto.Key
	copy(key[:], seed.Key.Bytes())
	withID := key.WithID()
	data := tdsession.Data{DC: seed.DC, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}
	store := new(tdsession.StorageMemory)
	if err := (&tdsession.Loader{Storage: store}).Save(context.Background(), &data); err != nil {
		t.Fatal(err)
	}
	return store
}

// TestOtherDCs: a server of three DCs lists them all in help.getConfig;
// a profile photo kept on DC 4 is FILE_MIGRATE_4 on the home DC; gotd's
// own cross-DC path (a new key on DC 4, auth.exportAuthorization at home,
// auth.importAuthorization there) gets it from DC 4; the counters say one
// key exchange on DC 4 and none at home, one export, one import and no
// new authorization.
func TestOtherDCs(t *testing.T) {
	t.Parallel()
	srv := startServer(t, devserver.Options{DC: 2, OtherDCs: []int{1, 4}})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	photo := bytes.Repeat([]byte("jpeg"), 50_000) // 200 KB: several parts
	photoID, err := srv.SetProfilePhoto(seeds[0].UserID, 4, photo)
	if err != nil {
		t.Fatal(err)
	}
	store := seededStore(t, seeds[0], srv.Addr())
	err = runGotd(t, srv, 2, store, func(ctx context.Context, c *tdtelegram.Client) error {
		api := c.API()
		cfg, err := api.HelpGetConfig(ctx)
		if err != nil {
			return err
		}
		if cfg.ThisDC != 2 || len(cfg.DCOptions) != 3 {
			t.Errorf("config: this_dc %d, %d dc_options; want 2 and 3", cfg.ThisDC, len(cfg.DCOptions))
		}
		for _, o := range cfg.DCOptions {
			if addr, _ := srv.DCAddr(o.ID); addr != net.JoinHostPort(o.IPAddress, strconv.Itoa(o.Port)) {
				t.Errorf("dc_option %d is %s:%d, the server listens on %q", o.ID, o.IPAddress, o.Port, addr)
			}
		}
		me, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
		if err != nil {
			return err
		}
		p, ok := me[0].(*tdtg.User).Photo.(*tdtg.UserProfilePhoto)
		if !ok || p.DCID != 4 || p.PhotoID != photoID {
			t.Fatalf("user photo %#v; want id %d on DC 4", me[0].(*tdtg.User).Photo, photoID)
		}
		loc := &tdtg.InputPeerPhotoFileLocation{Big: true, Peer: &tdtg.InputPeerSelf{}, PhotoID: photoID}
		// At home the answer is FILE_MIGRATE_4, which gotd follows: a key
		// on DC 4, an export at home, an import there, the call again.
		res, err := api.UploadGetFile(ctx, &tdtg.UploadGetFileRequest{Location: loc, Limit: 64 << 10})
		if err != nil {
			return err
		}
		if f := res.(*tdtg.UploadFile); !bytes.Equal(f.Bytes, photo[:64<<10]) {
			t.Errorf("first part through FILE_MIGRATE_4: %d bytes, not the photo's", len(f.Bytes))
		}
		if st := srv.Stats(); st.DCs[4].KeyExchanges != 1 || st.DCs[2].Exports != 1 || st.DCs[4].Imports != 1 {
			t.Errorf("after FILE_MIGRATE_4: %+v; want a key exchange on DC 4, an export at home, an import on DC 4", st.DCs)
		}
		if _, err := api.AuthExportAuthorization(ctx, 2); !tdtgerr.Is(err, "DC_ID_INVALID") {
			t.Errorf("export to the DC itself: %v; want DC_ID_INVALID", err)
		}
		inv, err := c.DC(ctx, 4, 1)
		if err != nil {
			return err
		}
		defer inv.Close()
		dc4 := tdtg.NewClient(inv)
		var got []byte
		for off := int64(0); ; off += 64 << 10 {
			res, err := dc4.UploadGetFile(ctx, &tdtg.UploadGetFileRequest{Location: loc, Offset: off, Limit: 64 << 10})
			if err != nil {
				return err
			}
			f := res.(*tdtg.UploadFile)
			got = append(got, f.Bytes...)
			if len(f.Bytes) < 64<<10 {
				break
			}
		}
		if !bytes.Equal(got, photo) {
			t.Errorf("photo from DC 4: %d bytes, want the %d set", len(got), len(photo))
		}
		// gotd's DC pool imported once more; a transfer's bytes cannot be
		// replayed.
		exp, err := api.AuthExportAuthorization(ctx, 4)
		if err != nil {
			return err
		}
		if _, err := dc4.AuthImportAuthorization(ctx, &tdtg.AuthImportAuthorizationRequest{ID: exp.ID, Bytes: exp.Bytes}); err != nil {
			return err
		}
		_, err = dc4.AuthImportAuthorization(ctx, &tdtg.AuthImportAuthorizationRequest{ID: exp.ID, Bytes: exp.Bytes})
		if !tdtgerr.Is(err, "AUTH_BYTES_INVALID") {
			t.Errorf("import replayed: %v; want AUTH_BYTES_INVALID", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.DCs[2].KeyExchanges != 0 || st.DCs[4].KeyExchanges != 1 || st.DCs[1].KeyExchanges != 0 {
		t.Errorf("key exchanges per DC %+v; want 0 at home, 1 on DC 4", st.DCs)
	}
	if st.Authorizations != 0 || st.Exports != 3 || st.Imports != 3 || st.DCs[4].Imports != 3 || st.DCs[2].Exports != 3 {
		t.Errorf("authorizations %d, exports %d, imports %d (%+v); want 0, 3, 3", st.Authorizations, st.Exports, st.Imports, st.DCs)
	}
	if st.DuplicateAddrs != 0 {
		t.Errorf("%d duplicates from another address", st.DuplicateAddrs)
	}
}

// TestOtherDCKeyNotImported: a key made on DC 4 is not logged in until
// imported (401), and a home-DC key is unknown on DC 4, as on Telegram:
// gotd answers the -404 with a key exchange of its own.
func TestOtherDCKeyNotImported(t *testing.T) {
	t.Parallel()
	srv := startServer(t, devserver.Options{DC: 2, OtherDCs: []int{4}})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	addr4, _ := srv.DCAddr(4)
	// The home key, sent to DC 4.
	seeds[0].DC = 4
	store := seededStore(t, seeds[0], addr4)
	err = runGotd(t, srv, 4, store, func(ctx context.Context, c *tdtelegram.Client) error {
		_, err := c.API().UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
		if !tdtgerr.Is(err, "AUTH_KEY_UNREGISTERED") {
			t.Errorf("users.getUsers on DC 4 with a fresh key: %v; want AUTH_KEY_UNREGISTERED", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	st := srv.Stats()
	if st.DCs[4].KeyExchanges != 1 || st.DCs[2].KeyExchanges != 0 {
		t.Errorf("key exchanges per DC %+v; want 1 on DC 4 (the home key unknown there), 0 at home", st.DCs)
	}
	if n := st.Connections[seeds[0].Key.ID()]; n != 0 {
		t.Errorf("the home key served %d connections on DC 4", n)
	}
}
