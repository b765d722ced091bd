package mtproto

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"testing"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/relay"
)

// TestPoolRelayAccountOtherDC: media on another DC through the pool's
// account. A gotd client holding only a relay key downloads the
// account's profile photo, which lives on DC 4: the relay dials DC 4 the
// way the pool dials (relayAccount.Dial, at the address the server's
// help.getConfig gave), makes the account's own key there once (one key
// exchange and one import at DC 4, none at home, no new authorization,
// no key in two places) and keeps it in the account's store under
// MetaDCKeys. The next run (a new pool and relay over the same store)
// reads it back and makes none.
func TestPoolRelayAccountOtherDC(t *testing.T) {
	t.Parallel()
	const mediaDC = 4
	srv, err := devserver.Open(devserver.Options{Dir: t.TempDir(), OtherDCs: []int{mediaDC}})
	if err != nil {
		t.Fatal(err)
	}
	srvCtx, stopSrv := context.WithCancel(context.Background())
	srvDone := make(chan error, 1)
	go func() { srvDone <- srv.Serve(srvCtx) }()
	t.Cleanup(func() {
		stopSrv()
		if err := <-srvDone; err != nil {
			t.Errorf("dev server: %v", err)
		}
	})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	seed := seeds[0]
	jpeg := bytes.Repeat([]byte("photo on DC 4 "), 3000)
	photoID, err := srv.SetProfilePhoto(seed.UserID, mediaDC, jpeg)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seed.Key, seed.DC, seed.UserID)

	run := func(t *testing.T) {
		pool := NewPool(PoolOptions{KeepAlive: -1})
		if err := pool.AddClient("alice", store, serverOptions(srv)); err != nil {
			t.Fatal(err)
		}
		poolCtx, stopPool := context.WithCancel(context.Background())
		poolDone := make(chan struct{})
		go func() { defer close(poolDone); _ = pool.Run(poolCtx) }()
		defer func() { stopPool(); <-poolDone }()
		r, err := relay.New(relay.Config{Accounts: pool.RelayAccounts(), UpstreamTimeout: mttest.ConnectTimeout(), IOTimeout: mttest.ConnectTimeout()})
		if err != nil {
			t.Fatal(err)
		}
		defer r.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
		defer cancel()
		m, err := r.Mint(ctx, relay.MintRequest{Account: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		got, err := downloadVia(ctx, m, r, &tdtg.InputPeerPhotoFileLocation{Big: true, Peer: &tdtg.InputPeerSelf{}, PhotoID: photoID})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, jpeg) {
			t.Fatalf("downloaded %d bytes, not the photo's %d", len(got), len(jpeg))
		}
	}
	run(t)
	st := srv.Stats()
	home, media := st.DCs[seed.DC], st.DCs[mediaDC]
	if home.KeyExchanges != 0 || media.KeyExchanges != 1 || media.Imports != 1 || st.Authorizations != 0 || st.DuplicateAddrs != 0 {
		t.Fatalf("dev server: home %+v, DC %d %+v, %d authorizations, %d duplicate addresses; want no exchange at home, one exchange and one import on DC %d, no login, no second place",
			home, mediaDC, media, st.Authorizations, st.DuplicateAddrs, mediaDC)
	}
	keys, err := loadDCKeys(store)
	if err != nil || keys[mediaDC].IsZero() || len(keys) != 1 {
		t.Fatalf("MetaDCKeys after the first run: %d keys, %v; want DC %d's", len(keys), err, mediaDC)
	}
	if _, known := srv.KeyUser(keys[mediaDC].ID()); !known {
		t.Error("the dev server does not know the kept DC 4 key as the account's")
	}

	run(t) // the next run: the kept key, nothing made
	if st := srv.Stats(); st.DCs[mediaDC].KeyExchanges != 1 || st.DCs[mediaDC].Imports != 1 || st.Authorizations != 0 {
		t.Fatalf("second run: DC %d %+v, %d authorizations; want still one exchange and one import", mediaDC, st.DCs[mediaDC], st.Authorizations)
	}
}

// downloadVia runs a gotd client on the minted relay session and
// downloads the file at loc (gotd follows FILE_MIGRATE to the relay's
// other DC by itself: export, key exchange with the relay, import).
func downloadVia(ctx context.Context, m relay.Minted, r *relay.Relay, loc tdtg.InputFileLocationClass) ([]byte, error) {
	var k tdcrypto.Key
	copy(k[:], m.Key.Bytes())
	withID := k.WithID()
	store := new(tdsession.StorageMemory)
	addr := net.JoinHostPort(m.Host, fmt.Sprint(m.Port))
	if err := (&tdsession.Loader{Storage: store}).Save(ctx, &tdsession.Data{DC: m.DC, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}); err != nil {
		return nil, err
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             m.DC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: m.DC, IPAddress: m.Host, Port: m.Port}}},
		PublicKeys:     []tdtelegram.PublicKey{{RSA: r.PublicKey()}},
		SessionStorage: store,
		NoUpdates:      true,
	})
	var got []byte
	err := c.Run(ctx, func(ctx context.Context) error {
		for {
			res, err := c.API().UploadGetFile(ctx, &tdtg.UploadGetFileRequest{Location: loc, Offset: int64(len(got)), Limit: 1 << 14})
			if err != nil {
				return fmt.Errorf("upload.getFile: %w", err)
			}
			part := res.(*tdtg.UploadFile).Bytes
			got = append(got, part...)
			if len(part) < 1<<14 {
				return nil
			}
		}
	})
	return got, err
}
