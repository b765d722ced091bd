package mtproto

import (
	"context"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
)

func TestPeersOf(t *testing.T) {
	t.Parallel()
	res := &tdtg.MessagesDialogsBox{Dialogs: &tdtg.MessagesDialogsSlice{
		Users: []tdtg.UserClass{
			&tdtg.User{ID: 1, AccessHash: -5, Username: "Alice", Phone: "+15550001"},
			&tdtg.User{ID: 2, AccessHash: 6, Min: true, Username: "minnie"},
			&tdtg.User{ID: 3, AccessHash: 7, Bot: true, Usernames: []tdtg.Username{{Username: "First"}, {Username: "second"}}},
			&tdtg.UserEmpty{ID: 4},
		},
		Chats: []tdtg.ChatClass{
			&tdtg.Chat{ID: 10},
			&tdtg.ChatForbidden{ID: 11},
			&tdtg.Channel{ID: 12, AccessHash: 8, Broadcast: true, Username: "News"},
			&tdtg.Channel{ID: 13, AccessHash: 9, Megagroup: true, Min: true},
			&tdtg.ChannelForbidden{ID: 14, AccessHash: 10},
		},
	}}
	want := []storage.Peer{
		storage.UserPeer(1, -5, false, "alice", nil, "15550001"),
		storage.UserPeer(3, 7, true, "", []string{"first", "second"}, ""),
		storage.ChatPeer(10),
		storage.ChatPeer(11),
		storage.ChannelPeer(12, 8, true, "news", nil),
		storage.ChannelPeer(14, 10, false, "", nil),
	}
	got := PeersOf(res)
	if len(got) != len(want) {
		t.Fatalf("got %d peers, want %d: %+v", len(got), len(want), got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("peer %d = %+v, want %+v", i, got[i], want[i])
		}
	}
	if got[0].ID != 1 || got[4].ID != -1_000_000_000_012 || got[2].ID != -10 {
		t.Errorf("marked ids: %d %d %d", got[0].ID, got[4].ID, got[2].ID)
	}
	if n := len(PeersOf(&tdtg.UserClassVector{Elems: []tdtg.UserClass{&tdtg.User{ID: 5}}})); n != 1 {
		t.Errorf("vector: %d peers", n)
	}
	if n := len(PeersOf(&tdtg.Config{})); n != 0 {
		t.Errorf("config: %d peers", n)
	}
}

func TestPeerCacheFedFromResults(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	chanID, err := srv.AddChannel("News", "newschan", true)
	if err != nil {
		t.Fatal(err)
	}
	chatID, err := srv.AddChat("Friends")
	if err != nil {
		t.Fatal(err)
	}
	seeds, err := srv.SeedAccounts(3)
	if err != nil {
		t.Fatal(err)
	}
	store := mttest.NewMemory(t)
	mttest.SeedStore(t, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	c, err := NewClient(store, serverOptions(srv))
	if err != nil {
		t.Fatal(err)
	}
	err = c.Run(t.Context(), func(ctx context.Context) error {
		if _, err := c.API().MessagesGetDialogs(ctx, &tdtg.MessagesGetDialogsRequest{OffsetPeer: &tdtg.InputPeerEmpty{}, Limit: 100}); err != nil {
			return err
		}
		_, err := c.API().ContactsResolveUsername(ctx, &tdtg.ContactsResolveUsernameRequest{Username: "NewsChan"})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{seeds[1].UserID, seeds[2].UserID, -chatID, -(1_000_000_000_000 + chanID)} {
		if _, err := store.PeerByID(id); err != nil {
			t.Errorf("peer %d: %v", id, err)
		}
	}
	p, err := store.PeerByUsername("newschan")
	if err != nil || p.Type != storage.PeerChannel || p.AccessHash == 0 {
		t.Errorf("by username: %+v, %v", p, err)
	}
}

// TestPeersOfRawResult: the result of a raw call (InvokeTL) feeds the peer
// cache like a typed one; an empty result has no peers.
func TestPeersOfRawResult(t *testing.T) {
	t.Parallel()
	call, err := tljson.DecodeCall([]byte(`{"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	u := &tdtg.User{ID: 5, AccessHash: 6, Username: "Five"}
	u.SetFlags()
	var b tdbin.Buffer
	if err := (&tdtg.UserClassVector{Elems: []tdtg.UserClass{u}}).Encode(&b); err != nil {
		t.Fatal(err)
	}
	r := call.NewResult()
	if p := PeersOf(r); p != nil {
		t.Errorf("peers of an empty result: %+v", p)
	}
	if err := r.Decode(&b); err != nil {
		t.Fatal(err)
	}
	if p := PeersOf(r); len(p) != 1 || p[0].ID != 5 || p[0].Username != "five" {
		t.Errorf("peers of a raw result: %+v", p)
	}
}
