package devserver

import (
	"context"
	"errors"
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
		return true, r.result(ctx, s.dialogs(self, req.Limit))
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

// dialogs lists every chat and channel, then the other users, up to limit
// (100 when not positive).
func (s *Server) dialogs(self *User, limit int) *tdtg.MessagesDialogsSlice {
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &tdtg.MessagesDialogsSlice{Messages: []tdtg.MessageClass{}, Chats: []tdtg.ChatClass{}, Users: []tdtg.UserClass{tgUser(self, true)}}
	add := func(p tdtg.PeerClass) {
		out.Dialogs = append(out.Dialogs, &tdtg.Dialog{Peer: p, NotifySettings: tdtg.PeerNotifySettings{}})
	}
	for _, c := range s.st.Chats {
		out.Count++
		if len(out.Dialogs) < limit {
			add(peerOf(c))
			out.Chats = append(out.Chats, tgChat(c))
		}
	}
	for _, u := range s.st.Users {
		if u.ID == self.ID {
			continue
		}
		out.Count++
		if len(out.Dialogs) < limit {
			add(&tdtg.PeerUser{UserID: u.ID})
			out.Users = append(out.Users, contact(u))
			if m := s.lastMessageLocked(self.ID, u.ID); m != nil {
				out.Dialogs[len(out.Dialogs)-1].(*tdtg.Dialog).TopMessage = m.ID
				out.Messages = append(out.Messages, tgMessage(self.ID, m))
			}
		}
	}
	if out.Dialogs == nil {
		out.Dialogs = []tdtg.DialogClass{}
	}
	return out
}
