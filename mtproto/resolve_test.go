package mtproto

import (
	"context"
	"errors"
	"strconv"
	"testing"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/storage"
)

// TestResolvePeerSources: peers that messages.getDialogs brought resolve
// from the cache by id, @username and +phone with no further call; a peer
// not in the cache resolves through contacts.resolvePhone or
// contacts.resolveUsername, which refill it.
func TestResolvePeerSources(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	carol, err := srv.AddUser("15550007777", "carol", "")
	if err != nil {
		t.Fatal(err)
	}
	dave, err := srv.AddUser("15550008888", "dave", "")
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	c, err := NewClient(store, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	calls := func(id uint32) int64 { return srv.Stats().Calls[id] }
	err = c.Run(t.Context(), func(ctx context.Context) error {
		// Not cached yet: through the server.
		p, err := c.ResolvePeer(ctx, "+1 555 000 7777")
		if err != nil || p.ID != carol {
			t.Errorf("+phone before getDialogs: %+v %v", p, err)
		}
		if n := calls(tdtg.ContactsResolvePhoneRequestTypeID); n != 1 {
			t.Errorf("contacts.resolvePhone called %d times, want 1", n)
		}
		if _, err := c.ResolvePeer(ctx, "+15559990000"); !errors.Is(err, storage.ErrNotFound) {
			t.Errorf("unknown phone: %v", err)
		}
		if _, err := c.API().MessagesGetDialogs(ctx, &tdtg.MessagesGetDialogsRequest{OffsetPeer: &tdtg.InputPeerEmpty{}, Limit: 100}); err != nil {
			return err
		}
		phones0, names0 := calls(tdtg.ContactsResolvePhoneRequestTypeID), calls(tdtg.ContactsResolveUsernameRequestTypeID)
		for _, q := range []string{"+15550008888", strconv.FormatInt(dave, 10), "@dave", "DAVE"} {
			p, err := c.ResolvePeer(ctx, q)
			if err != nil || p.ID != dave {
				t.Errorf("%s after getDialogs: %+v %v", q, p, err)
			}
		}
		if calls(tdtg.ContactsResolvePhoneRequestTypeID) != phones0 || calls(tdtg.ContactsResolveUsernameRequestTypeID) != names0 {
			t.Error("peers from getDialogs were resolved through the server, not the cache")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
