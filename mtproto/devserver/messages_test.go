package devserver_test

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"testing"
	"time"

	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/devserver"
)

// TestMessagesAndService: a message from another user and one from the
// service account 777000 are pushed to the recipient's connection as
// updateShortMessage with consecutive pts, kept in the history
// (messages.getHistory), shown in messages.getDialogs with their top
// message, and given again by updates.getDifference from an older pts.
func TestMessagesAndService(t *testing.T) {
	t.Parallel()
	srv := startServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(2)
	if err != nil {
		t.Fatal(err)
	}
	me, friend := seeds[0], seeds[1]
	got := make(chan *tdtg.UpdateShortMessage, 16)
	// gotd hands an updateShortMessage on as updateShort{updateNewMessage}.
	short := func(u tdtg.UpdatesClass) *tdtg.UpdateShortMessage {
		us, ok := u.(*tdtg.UpdateShort)
		if !ok {
			return nil
		}
		nm, ok := us.Update.(*tdtg.UpdateNewMessage)
		if !ok {
			return nil
		}
		m, ok := nm.Message.(*tdtg.Message)
		if !ok {
			return nil
		}
		from, ok := m.PeerID.(*tdtg.PeerUser)
		if !ok {
			return nil
		}
		return &tdtg.UpdateShortMessage{Out: m.Out, ID: m.ID, UserID: from.UserID, Message: m.Message, Pts: nm.Pts, PtsCount: nm.PtsCount}
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             me.DC,
		DCList:         dcList(t, srv),
		PublicKeys:     []tdtelegram.PublicKey{{RSA: srv.PublicKey()}},
		SessionStorage: seededStore(t, me, srv.Addr()),
		UpdateHandler: tdtelegram.UpdateHandlerFunc(func(_ context.Context, u tdtg.UpdatesClass) error {
			if m := short(u); m != nil {
				got <- m
			}
			return nil
		}),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	err = c.Run(ctx, func(ctx context.Context) error {
		api := c.API()
		st, err := api.UpdatesGetState(ctx)
		if err != nil {
			return err
		}
		if n, err := srv.SendMessage(ctx, friend.UserID, me.UserID, "hello"); err != nil || n != 1 {
			t.Fatalf("SendMessage: pushed to %d connections, %v; want 1", n, err)
		}
		if n, err := srv.ServiceMessage(ctx, me.UserID, "Login code: 12345"); err != nil || n != 1 {
			t.Fatalf("ServiceMessage: pushed to %d connections, %v; want 1", n, err)
		}
		// By pts, as a client orders them (one seen again under load: a
		// client drops an update whose pts it has).
		byPts := map[int]*tdtg.UpdateShortMessage{}
		for len(byPts) < 2 {
			select {
			case m := <-got:
				byPts[m.Pts] = m
			case <-ctx.Done():
				t.Fatal("no pushed update")
			}
		}
		for i, want := range []struct {
			from int64
			text string
		}{{friend.UserID, "hello"}, {devserver.ServiceUserID, "Login code: 12345"}} {
			m := byPts[st.Pts+i+1]
			if m == nil || m.UserID != want.from || m.Message != want.text || m.PtsCount != 1 || m.Out {
				t.Errorf("update of pts %d: %+v; want from %d %q", st.Pts+i+1, m, want.from, want.text)
			}
		}
		dialogs, err := api.MessagesGetDialogs(ctx, &tdtg.MessagesGetDialogsRequest{OffsetPeer: &tdtg.InputPeerEmpty{}, Limit: 100})
		if err != nil {
			return err
		}
		ds := dialogs.(*tdtg.MessagesDialogsSlice)
		var service *tdtg.User
		for _, u := range ds.Users {
			if u, ok := u.(*tdtg.User); ok && u.ID == devserver.ServiceUserID {
				service = u
			}
		}
		if service == nil {
			t.Fatal("777000 is not among the dialogs' users")
		}
		top := map[int64]int{}
		for _, d := range ds.Dialogs {
			d := d.(*tdtg.Dialog)
			if p, ok := d.Peer.(*tdtg.PeerUser); ok {
				top[p.UserID] = d.TopMessage
			}
		}
		if top[devserver.ServiceUserID] != 2 || top[friend.UserID] != 1 || len(ds.Messages) != 2 {
			t.Errorf("dialog top messages %v, %d messages; want 777000→2, friend→1, 2", top, len(ds.Messages))
		}
		hist, err := api.MessagesGetHistory(ctx, &tdtg.MessagesGetHistoryRequest{
			Peer: &tdtg.InputPeerUser{UserID: service.ID, AccessHash: service.AccessHash}, Limit: 10,
		})
		if err != nil {
			return err
		}
		msgs := hist.(*tdtg.MessagesMessages).Messages
		if len(msgs) != 1 || msgs[0].(*tdtg.Message).Message != "Login code: 12345" {
			t.Errorf("777000's history: %v", msgs)
		}
		diff, err := api.UpdatesGetDifference(ctx, &tdtg.UpdatesGetDifferenceRequest{Pts: st.Pts, Date: st.Date})
		if err != nil {
			return err
		}
		d, ok := diff.(*tdtg.UpdatesDifference)
		if !ok || len(d.NewMessages) != 2 || d.State.Pts != st.Pts+2 {
			t.Errorf("difference from pts %d: %#v; want 2 messages, pts %d", st.Pts, diff, st.Pts+2)
		}
		diff, err = api.UpdatesGetDifference(ctx, &tdtg.UpdatesGetDifferenceRequest{Pts: st.Pts + 2, Date: st.Date})
		if err != nil {
			return err
		}
		if _, ok := diff.(*tdtg.UpdatesDifferenceEmpty); !ok {
			t.Errorf("difference from the current pts: %T; want empty", diff)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// The sender's side: an outgoing message in its history.
	if n, err := srv.SendMessage(t.Context(), me.UserID, friend.UserID, "nobody listens"); err != nil || n != 0 {
		t.Errorf("SendMessage to a user with no connection: %d, %v; want 0, nil", n, err)
	}
}

// TestDialogsPaging: messages.getDialogs pages as Telegram does and as
// mtcute's iterDialogs relies on (it asks for the next page after the last
// dialog's offset_peer/offset_id/offset_date until a page comes back
// empty): newest top message first, each dialog on exactly one page, Count
// the whole list, an empty page past the last dialog, and an
// offset_date/offset_id alone starting after that position. Without
// paging the same dialogs came back on every page and mtcute looped.
func TestDialogsPaging(t *testing.T) {
	t.Parallel()
	srv := startServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(5)
	if err != nil {
		t.Fatal(err)
	}
	me := seeds[0]
	chat, err := srv.AddChat("a group")
	if err != nil {
		t.Fatal(err)
	}
	// Top messages: seeds[2]'s is the newest, then 777000's, then seeds[1]'s.
	for _, m := range []struct {
		from int64
		text string
	}{{seeds[1].UserID, "first"}, {devserver.ServiceUserID, "Login code: 1"}, {seeds[2].UserID, "last"}} {
		var err error
		if m.from == devserver.ServiceUserID {
			_, err = srv.ServiceMessage(t.Context(), me.UserID, m.text)
		} else {
			_, err = srv.SendMessage(t.Context(), m.from, me.UserID, m.text)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             me.DC,
		DCList:         dcList(t, srv),
		PublicKeys:     []tdtelegram.PublicKey{{RSA: srv.PublicKey()}},
		SessionStorage: seededStore(t, me, srv.Addr()),
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	err = c.Run(ctx, func(ctx context.Context) error {
		api := c.API()
		// c.Run calls this in its own goroutine: errors, not t.Fatal.
		page := func(req *tdtg.MessagesGetDialogsRequest) (*tdtg.MessagesDialogsSlice, error) {
			res, err := api.MessagesGetDialogs(ctx, req)
			if err != nil {
				return nil, err
			}
			ds, ok := res.(*tdtg.MessagesDialogsSlice)
			if !ok {
				return nil, fmt.Errorf("getDialogs: %T", res)
			}
			return ds, nil
		}
		// Page by two, as mtcute does: after the last dialog's peer, id, date.
		var seen []string
		dates := map[int]int{} // top message id → date
		req := &tdtg.MessagesGetDialogsRequest{OffsetPeer: &tdtg.InputPeerEmpty{}, Limit: 2}
		for pages := 0; ; pages++ {
			if pages > 5 {
				return fmt.Errorf("still paging after %d pages: %v", pages, seen)
			}
			ds, err := page(req)
			if err != nil {
				return err
			}
			if ds.Count != 6 { // 4 seeds and 777000, the group
				t.Errorf("count %d; want 6", ds.Count)
			}
			if len(ds.Dialogs) == 0 {
				break
			}
			for _, m := range ds.Messages {
				m := m.(*tdtg.Message)
				dates[m.ID] = m.Date
			}
			for _, d := range ds.Dialogs {
				d := d.(*tdtg.Dialog)
				switch p := d.Peer.(type) {
				case *tdtg.PeerUser:
					seen = append(seen, "user"+strconv.FormatInt(p.UserID, 10))
					req.OffsetPeer = &tdtg.InputPeerUser{UserID: p.UserID}
				case *tdtg.PeerChat:
					seen = append(seen, "chat"+strconv.FormatInt(p.ChatID, 10))
					req.OffsetPeer = &tdtg.InputPeerChat{ChatID: p.ChatID}
				}
				req.OffsetID = d.TopMessage
				if date, ok := dates[d.TopMessage]; ok {
					req.OffsetDate = date
				}
			}
		}
		user := func(id int64) string { return "user" + strconv.FormatInt(id, 10) }
		// Newest top message first; then the dialogs without one, users
		// before groups, each by id.
		rest := []int64{seeds[3].UserID, seeds[4].UserID}
		slices.Sort(rest)
		want := []string{user(seeds[2].UserID), user(devserver.ServiceUserID), user(seeds[1].UserID), user(rest[0]), user(rest[1]), "chat" + strconv.FormatInt(chat, 10)}
		if !slices.Equal(seen, want) {
			t.Errorf("dialogs paged %v; want %v", seen, want)
		}
		// A position alone (no offset_peer): after 777000's top message (id 2).
		ds, err := page(&tdtg.MessagesGetDialogsRequest{OffsetPeer: &tdtg.InputPeerEmpty{}, OffsetID: 2, OffsetDate: dates[2], Limit: 1})
		if err != nil {
			return err
		}
		if len(ds.Dialogs) != 1 || ds.Dialogs[0].(*tdtg.Dialog).TopMessage != 1 {
			t.Errorf("page after message 2: %+v; want seeds[1]'s dialog (top message 1)", ds.Dialogs)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
