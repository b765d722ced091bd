package devserver

import (
	"context"
	"errors"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
)

// ServiceUserID is the id of Telegram's service account, which sends login
// codes.
const ServiceUserID = 777000

// Message is a private message as one of its two users keeps it.
type Message struct {
	ID   int    `json:"id"`   // in the owner's message sequence
	Peer int64  `json:"peer"` // the other user
	Out  bool   `json:"out,omitempty"`
	Date int    `json:"date"`
	Text string `json:"text"`
	Pts  int    `json:"pts"` // the owner's pts after it
}

// SendMessage sends a private message from one user to another, as
// Telegram does: both keep it in their history (messages.getHistory,
// messages.getDialogs, updates.getDifference), and it is pushed as an
// updateShortMessage to the open connections of both (the sender's marked
// out). It returns how many of the recipient's connections it was pushed
// to (0 when none is open: the message is kept all the same).
func (s *Server) SendMessage(ctx context.Context, fromUserID, toUserID int64, text string) (int, error) {
	s.mu.Lock()
	from, ok1 := s.st.Users[fromUserID]
	to, ok2 := s.st.Users[toUserID]
	if !ok1 || !ok2 || fromUserID == toUserID {
		s.mu.Unlock()
		return 0, ErrUnknownUser
	}
	now := int(time.Now().Unix())
	in := s.addMessageLocked(to, from.ID, false, now, text)
	var out *Message
	if !from.Service {
		out = s.addMessageLocked(from, to.ID, true, now, text)
	}
	err := s.st.save(s.dir)
	s.mu.Unlock()
	if err != nil {
		return 0, err
	}
	if out != nil {
		_, _ = s.pushUser(ctx, from.ID, shortMessage(out))
	}
	n, err := s.pushUser(ctx, to.ID, shortMessage(in))
	if errors.Is(err, ErrNotConnected) {
		return 0, nil
	}
	return n, err
}

// ServiceMessage sends a message from Telegram's service account (777000,
// made on first use) to the user: a login code, say.
func (s *Server) ServiceMessage(ctx context.Context, toUserID int64, text string) (int, error) {
	s.mu.Lock()
	if _, ok := s.st.Users[ServiceUserID]; !ok {
		s.st.Users[ServiceUserID] = &User{ID: ServiceUserID, AccessHash: randInt64(), FirstName: "Telegram", Service: true}
	}
	s.mu.Unlock()
	return s.SendMessage(ctx, ServiceUserID, toUserID, text)
}

// addMessageLocked appends a message to owner's history. s.mu must be
// held.
func (s *Server) addMessageLocked(owner *User, peer int64, out bool, date int, text string) *Message {
	if s.st.Messages == nil {
		s.st.Messages = map[int64][]*Message{}
	}
	owner.Pts = max(owner.Pts, 1) + 1
	owner.LastMsgID++
	m := &Message{ID: owner.LastMsgID, Peer: peer, Out: out, Date: date, Text: text, Pts: owner.Pts}
	s.st.Messages[owner.ID] = append(s.st.Messages[owner.ID], m)
	return m
}

func shortMessage(m *Message) *tdtg.UpdateShortMessage {
	return &tdtg.UpdateShortMessage{Out: m.Out, ID: m.ID, UserID: m.Peer, Message: m.Text, Pts: m.Pts, PtsCount: 1, Date: m.Date}
}

// tgMessage is m as its owner sees it.
func tgMessage(owner int64, m *Message) *tdtg.Message {
	from := m.Peer
	if m.Out {
		from = owner
	}
	return &tdtg.Message{Out: m.Out, ID: m.ID, FromID: &tdtg.PeerUser{UserID: from}, PeerID: &tdtg.PeerUser{UserID: m.Peer}, Date: m.Date, Message: m.Text}
}

// ptsOf is the user's pts (1 before any update).
func ptsOf(u *User) int { return max(u.Pts, 1) }

// messageCall answers messages.getHistory and updates.getDifference for
// an authorized user; ok is false for any other method.
func (s *Server) messageCall(ctx context.Context, r *reply, id uint32, b *tdbin.Buffer, self *User) (ok bool, err error) {
	switch id {
	case tdtg.MessagesGetHistoryRequestTypeID:
		var req tdtg.MessagesGetHistoryRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		res, msg := s.history(self, &req)
		if msg != "" {
			return true, r.rpcError(ctx, 400, msg)
		}
		return true, r.result(ctx, res)
	case tdtg.UpdatesGetDifferenceRequestTypeID:
		var req tdtg.UpdatesGetDifferenceRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		return true, r.result(ctx, s.difference(self, req.Pts))
	}
	return false, nil
}

// history is messages.getHistory with a user: newest first.
func (s *Server) history(self *User, req *tdtg.MessagesGetHistoryRequest) (*tdtg.MessagesMessages, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var peer *User
	switch p := req.Peer.(type) {
	case *tdtg.InputPeerSelf:
		peer = self
	case *tdtg.InputPeerUser:
		if u, ok := s.st.Users[p.UserID]; ok && u.AccessHash == p.AccessHash {
			peer = u
		}
	}
	if peer == nil {
		return nil, "PEER_ID_INVALID"
	}
	limit := req.Limit
	if limit <= 0 || limit > 100 {
		limit = 100
	}
	out := &tdtg.MessagesMessages{Messages: []tdtg.MessageClass{}, Chats: []tdtg.ChatClass{}, Users: []tdtg.UserClass{tgUser(self, true)}}
	if peer.ID != self.ID {
		out.Users = append(out.Users, contact(peer))
	}
	msgs := s.st.Messages[self.ID]
	for i := len(msgs) - 1; i >= 0 && len(out.Messages) < limit; i-- {
		m := msgs[i]
		if m.Peer != peer.ID || (req.OffsetID > 0 && m.ID >= req.OffsetID) || (req.MaxID > 0 && m.ID >= req.MaxID) || m.ID <= req.MinID {
			continue
		}
		out.Messages = append(out.Messages, tgMessage(self.ID, m))
	}
	return out, ""
}

// difference is updates.getDifference from pts: the messages since.
func (s *Server) difference(self *User, pts int) tdtg.UpdatesDifferenceClass {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := int(time.Now().Unix())
	if pts >= ptsOf(self) {
		return &tdtg.UpdatesDifferenceEmpty{Date: now, Seq: 1}
	}
	out := &tdtg.UpdatesDifference{
		NewMessages: []tdtg.MessageClass{}, NewEncryptedMessages: []tdtg.EncryptedMessageClass{},
		OtherUpdates: []tdtg.UpdateClass{}, Chats: []tdtg.ChatClass{}, Users: []tdtg.UserClass{tgUser(self, true)},
		State: tdtg.UpdatesState{Pts: ptsOf(self), Date: now, Seq: 1},
	}
	seen := map[int64]bool{self.ID: true}
	for _, m := range s.st.Messages[self.ID] {
		if m.Pts <= pts {
			continue
		}
		out.NewMessages = append(out.NewMessages, tgMessage(self.ID, m))
		if u, ok := s.st.Users[m.Peer]; ok && !seen[u.ID] {
			seen[u.ID] = true
			out.Users = append(out.Users, contact(u))
		}
	}
	return out
}

// lastMessageLocked is the newest message of owner's history with peer,
// nil when none. s.mu must be held.
func (s *Server) lastMessageLocked(owner, peer int64) *Message {
	msgs := s.st.Messages[owner]
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Peer == peer {
			return msgs[i]
		}
	}
	return nil
}
