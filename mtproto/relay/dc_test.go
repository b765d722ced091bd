package relay

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestRelayOtherDC: a gotd client holding only a relay session downloads
// a file that lives on DC 4. It learns from the rewritten config that DC
// 4 is at the relay, makes a key there by a key exchange with the relay,
// and moves its authorization with export/import, which the relay answers
// itself; the relay makes the account's own key for DC 4 once (a real
// exchange and import at the dev server's DC 4) and keeps it: a second
// session's download makes no second key. The home DC sees no key
// exchange and nobody logs in anew.
func TestRelayOtherDC(t *testing.T) {
	t.Parallel()
	const mediaDC = 4
	srv := mttest.StartServer(t, devserver.Options{OtherDCs: []int{mediaDC}})
	f := newRelayFixtureOn(t, srv)
	loc, jpeg := f.photoOnDC(t, srv, mediaDC)
	download := func(t *testing.T) {
		m, err := f.relay.Mint(t.Context(), MintRequest{Account: "alice"})
		if err != nil {
			t.Fatal(err)
		}
		err = f.gotdClient(t, m, nil, func(ctx context.Context, c *tdtelegram.Client) error {
			// gotd meets FILE_MIGRATE_4 on the home DC and moves the
			// call to DC 4 (export, key exchange, import) by itself.
			inv := c
			var got []byte
			for {
				res, err := inv.API().UploadGetFile(ctx, &tdtg.UploadGetFileRequest{Location: loc, Offset: int64(len(got)), Limit: 1 << 14})
				if err != nil {
					return fmt.Errorf("getFile on DC %d: %w", mediaDC, err)
				}
				part := res.(*tdtg.UploadFile).Bytes
				got = append(got, part...)
				if len(part) < 1<<14 {
					break
				}
			}
			if !bytes.Equal(got, jpeg) {
				return fmt.Errorf("downloaded %d bytes, not the photo's %d", len(got), len(jpeg))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	download(t)
	st := srv.Stats()
	home, media := st.DCs[f.seed.DC], st.DCs[mediaDC]
	if home.KeyExchanges != 0 || media.KeyExchanges != 1 || media.Imports != 1 || st.Authorizations != 0 || st.DuplicateAddrs != 0 {
		t.Fatalf("dev server: home %+v, DC %d %+v, authorizations %d, duplicate addrs %d; want 0 exchanges at home, 1 exchange and 1 import on DC %d, no login, no second place",
			home, mediaDC, media, st.Authorizations, st.DuplicateAddrs, mediaDC)
	}
	if k, _ := f.acc.DCKey(mediaDC); k.IsZero() {
		t.Fatal("the account's DC 4 key was not kept")
	}
	if n := f.relay.Metrics().KeyExchanges; n != 1 {
		t.Fatalf("%d key exchanges with the relay, want 1 (the client's, for DC 4)", n)
	}

	// A second session: the account's DC 4 key is kept, nothing is made.
	download(t)
	st = srv.Stats()
	if n := st.DCs[mediaDC].KeyExchanges; n != 1 || st.DCs[mediaDC].Imports != 1 {
		t.Fatalf("second download: DC %d %+v, want still 1 exchange and 1 import", mediaDC, st.DCs[mediaDC])
	}
}

// photoOnDC gives the fixture's account a profile photo on DC dc of srv
// (which the account reaches there) and returns its file location and
// bytes: what a client downloads from another DC through the relay.
func (f *relayFixture) photoOnDC(t *testing.T, srv *devserver.Server, dc int) (*tdtg.InputPeerPhotoFileLocation, []byte) {
	t.Helper()
	addr, ok := srv.DCAddr(dc)
	if !ok {
		t.Fatalf("dev server has no DC %d", dc)
	}
	f.acc.addrs[dc] = addr
	jpeg := bytes.Repeat([]byte(fmt.Sprintf("photo on DC %d ", dc)), 3000)
	photoID, err := srv.SetProfilePhoto(f.seed.UserID, dc, jpeg)
	if err != nil {
		t.Fatal(err)
	}
	return &tdtg.InputPeerPhotoFileLocation{Big: true, Peer: &tdtg.InputPeerSelf{}, PhotoID: photoID}, jpeg
}
