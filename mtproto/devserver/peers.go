package devserver

import (
	"cmp"
	"context"
	"errors"
	"slices"
	"strings"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
)

// Chat is a basic group or a channel on the dev server.
type Chat struct {
	ID         int64  `json:"id"`
	Title      string `json:"title"`
	Channel    bool   `json:"channel,omitempty"`
	Broadcast  bool   `json:"broadcast,omitempty"` // a channel, not a supergroup
	AccessHash int64  `json:"access_hash,omitempty"`
	Username   string `json:"username,omitempty"`
}

// AddChat creates a basic group and returns its id.
func (s *Server) AddChat(title string) (int64, error) {
	return s.addChat(&Chat{Title: title})
}

// AddChannel creates a channel (broadcast) or a supergroup and returns its
// id.
func (s *Server) AddChannel(title, username string, broadcast bool) (int64, error) {
	return s.addChat(&Chat{Title: title, Channel: true, Broadcast: broadcast, AccessHash: randInt64(), Username: username})
}

func (s *Server) addChat(c *Chat) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.Username != "" && s.usernameTakenLocked(c.Username) {
		return 0, errors.New("devserver: username taken")
	}
	c.ID = s.st.NextUserID
	s.st.NextUserID++
	if s.st.Chats == nil {
		s.st.Chats = map[int64]*Chat{}
	}
	s.st.Chats[c.ID] = c
	if err := s.st.save(s.dir); err != nil {
		return 0, err
	}
	return c.ID, nil
}

func (s *Server) usernameTakenLocked(name string) bool {
	name = strings.ToLower(name)
	for _, u := range s.st.Users {
		if strings.ToLower(u.Username) == name {
			return true
		}
	}
	for _, c := range s.st.Chats {
		if strings.ToLower(c.Username) == name {
			return true
		}
	}
	return false
}

func tgChat(c *Chat) tdtg.ChatClass {
	if !c.Channel {
		return &tdtg.Chat{ID: c.ID, Title: c.Title, Photo: &tdtg.ChatPhotoEmpty{}, ParticipantsCount: 1, Date: 1, Version: 1}
	}
	return &tdtg.Channel{
		ID: c.ID, AccessHash: c.AccessHash, Title: c.Title, Username: c.Username,
		Photo: &tdtg.ChatPhotoEmpty{}, Date: 1, Broadcast: c.Broadcast, Megagroup: !c.Broadcast,
	}
}

func peerOf(c *Chat) tdtg.PeerClass {
	if c.Channel {
		return &tdtg.PeerChannel{ChannelID: c.ID}
	}
	return &tdtg.PeerChat{ChatID: c.ID}
}

// contact is another user as a contact sees it: with the phone number.
func contact(u *User) *tdtg.User {
	out := tgUser(u, false)
	out.Phone = u.Phone
	out.Contact = u.Phone != ""
	return out
}

// peerCall answers contacts.resolveUsername, contacts.resolvePhone and
// messages.getDialogs for an authorized user (every other user is a
// contact, with its phone); ok is false for any other method.
func (s *Server) peerCall(ctx context.Context, r *reply, id uint32, b *tdbin.Buffer, self *User) (ok bool, err error) {
	switch id {
	case tdtg.ContactsResolveUsernameRequestTypeID:
		var req tdtg.ContactsResolveUsernameRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		res, found := s.resolve(self, req.Username)
		if !found {
			return true, r.rpcError(ctx, 400, "USERNAME_NOT_OCCUPIED")
		}
		return true, r.result(ctx, res)
	case tdtg.ContactsResolvePhoneRequestTypeID:
		var req tdtg.ContactsResolvePhoneRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		s.mu.Lock()
		u := s.userByPhoneLocked(strings.TrimPrefix(req.Phone, "+"))
		s.mu.Unlock()
		if u == nil {
			return true, r.rpcError(ctx, 400, "PHONE_NOT_OCCUPIED")
		}
		return true, r.result(ctx, &tdtg.ContactsResolvedPeer{
			Peer: &tdtg.PeerUser{UserID: u.ID}, Chats: []tdtg.ChatClass{}, Users: []tdtg.UserClass{contact(u)},
		})
	case tdtg.MessagesGetDialogsRequestTypeID:
		var req tdtg.MessagesGetDialogsRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		return true, r.result(ctx, s.dialogs(self, &req))
	}
	return false, nil
}

func (s *Server) resolve(self *User, username string) (*tdtg.ContactsResolvedPeer, bool) {
	name := strings.ToLower(strings.TrimPrefix(username, "@"))
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.st.Users {
		if u.Username != "" && strings.ToLower(u.Username) == name {
			return &tdtg.ContactsResolvedPeer{
				Peer:  &tdtg.PeerUser{UserID: u.ID},
				Chats: []tdtg.ChatClass{},
				Users: []tdtg.UserClass{tgUser(u, u.ID == self.ID)},
			}, true
		}
	}
	for _, c := range s.st.Chats {
		if c.Channel && c.Username != "" && strings.ToLower(c.Username) == name {
			return &tdtg.ContactsResolvedPeer{
				Peer:  peerOf(c),
				Chats: []tdtg.ChatClass{tgChat(c)},
				Users: []tdtg.UserClass{},
			}, true
		}
	}
	return nil, false
}

// dialogEntry is one dialog of a user's list, in the list's order.
type dialogEntry struct {
	kind int // 0 user, 1 basic group, 2 channel: ties of date and id sort so
	id   int64
	chat *Chat
	user *User
	top  *Message // nil when the dialog has no message
}

func (e *dialogEntry) date() int {
	if e.top == nil {
		return 0
	}
	return e.top.Date
}

func (e *dialogEntry) topID() int {
	if e.top == nil {
		return 0
	}
	return e.top.ID
}

// dialogKey is the (kind, id) of a dialog an offset_peer names; ok is false
// for a peer that names no dialog (inputPeerEmpty, inputPeerSelf, …).
func dialogKey(p tdtg.InputPeerClass) (kind int, id int64, ok bool) {
	switch p := p.(type) {
	case *tdtg.InputPeerUser:
		return 0, p.UserID, true
	case *tdtg.InputPeerChat:
		return 1, p.ChatID, true
	case *tdtg.InputPeerChannel:
		return 2, p.ChannelID, true
	}
	return 0, 0, false
}

// dialogs answers messages.getDialogs as Telegram pages it: every chat,
// channel and other user, newest top message first (then by kind and id,
// so the order is stable), one page of up to limit (100 when not
// positive) starting after the dialog offset_peer names, or, when it names
// none, after the position (offset_date, offset_id). A page past the last
// dialog is empty: clients that page until then (mtcute's iterDialogs)
// end. Count is the whole list's length.
func (s *Server) dialogs(self *User, req *tdtg.MessagesGetDialogsRequest) *tdtg.MessagesDialogsSlice {
	limit := req.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var all []*dialogEntry
	for _, c := range s.st.Chats {
		kind := 1
		if c.Channel {
			kind = 2
		}
		all = append(all, &dialogEntry{kind: kind, id: c.ID, chat: c})
	}
	for _, u := range s.st.Users {
		if u.ID != self.ID {
			all = append(all, &dialogEntry{id: u.ID, user: u, top: s.lastMessageLocked(self.ID, u.ID)})
		}
	}
	slices.SortFunc(all, func(a, b *dialogEntry) int {
		return cmp.Or(cmp.Compare(b.date(), a.date()), cmp.Compare(b.topID(), a.topID()), cmp.Compare(a.kind, b.kind), cmp.Compare(a.id, b.id))
	})
	at := -1 // the dialog offset_peer names
	if kind, id, ok := dialogKey(req.OffsetPeer); ok {
		at = slices.IndexFunc(all, func(e *dialogEntry) bool { return e.kind == kind && e.id == id })
	}
	start := 0
	switch {
	case at >= 0:
		start = at + 1
	case req.OffsetDate != 0 || req.OffsetID != 0:
		start = slices.IndexFunc(all, func(e *dialogEntry) bool {
			return e.date() < req.OffsetDate || (e.date() == req.OffsetDate && e.topID() < req.OffsetID)
		})
		if start < 0 {
			start = len(all)
		}
	}
	page := all[start:]
	page = page[:min(len(page), limit)]
	out := &tdtg.MessagesDialogsSlice{
		Count: len(all), Dialogs: []tdtg.DialogClass{}, Messages: []tdtg.MessageClass{},
		Chats: []tdtg.ChatClass{}, Users: []tdtg.UserClass{tgUser(self, true)},
	}
	for _, e := range page {
		d := &tdtg.Dialog{NotifySettings: tdtg.PeerNotifySettings{}, TopMessage: e.topID()}
		if e.chat != nil {
			d.Peer = peerOf(e.chat)
			out.Chats = append(out.Chats, tgChat(e.chat))
		} else {
			d.Peer = &tdtg.PeerUser{UserID: e.id}
			out.Users = append(out.Users, contact(e.user))
		}
		if e.top != nil {
			out.Messages = append(out.Messages, tgMessage(self.ID, e.top))
		}
		out.Dialogs = append(out.Dialogs, d)
	}
	return out
}
