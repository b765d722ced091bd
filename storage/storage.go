package storage

import (
	"strings"

	"github.com/tgvault/tgvault/sessionstring"
)

// SessionRow is Pyrogram's one-row `sessions` table. A NULL column is an
// unknown Opt (or the zero AuthKey).
type SessionRow struct {
	DCID     int
	APIID    sessionstring.Opt[int32]
	TestMode sessionstring.Opt[bool]
	AuthKey  sessionstring.AuthKey
	Date     int64
	UserID   sessionstring.Opt[int64]
	IsBot    sessionstring.Opt[bool]
}

// Empty reports whether Pyrogram would call this session empty and throw
// its key away: any of test_mode, auth_key, user_id or is_bot is NULL.
func (r SessionRow) Empty() bool {
	return !r.TestMode.Known() || r.AuthKey.IsZero() || !r.UserID.Known() || !r.IsBot.Known()
}

// PeerType is the text Pyrogram stores in peers.type.
type PeerType string

// The peer types Pyrogram writes.
const (
	PeerUser       PeerType = "user"
	PeerBot        PeerType = "bot"
	PeerGroup      PeerType = "group"
	PeerChannel    PeerType = "channel"
	PeerSupergroup PeerType = "supergroup"
)

// Peer is one row of Pyrogram's `peers` table. ID is the marked (Bot API)
// id: users as is, basic groups -id, channels -(10^12 + id). Username and
// Phone are "" for NULL; Username is lowercase, Phone is digits without '+'.
// LastUpdateOn is unix seconds, set by the store when the row is written.
type Peer struct {
	ID           int64
	AccessHash   int64
	Type         PeerType
	Username     string
	Phone        string
	LastUpdateOn int64
}

// ChannelOffset is the marking offset of channel ids (the "-100..." form):
// a channel's marked id is -(ChannelOffset + id).
const ChannelOffset = 1_000_000_000_000

// UserPeer builds the row Pyrogram's fetch_peers writes for a User: type bot
// or user, username lowercased (or else usernames[0]), phone as given.
func UserPeer(id, accessHash int64, bot bool, username string, usernames []string, phone string) Peer {
	t := PeerUser
	if bot {
		t = PeerBot
	}
	return Peer{ID: id, AccessHash: accessHash, Type: t, Username: pickUsername(username, usernames), Phone: strings.TrimPrefix(phone, "+")}
}

// ChatPeer builds the row for a basic group (Chat or ChatForbidden).
func ChatPeer(chatID int64) Peer {
	return Peer{ID: -chatID, Type: PeerGroup}
}

// ChannelPeer builds the row for a Channel or ChannelForbidden: type channel
// when broadcast, else supergroup; marked id -(10^12 + id).
func ChannelPeer(channelID, accessHash int64, broadcast bool, username string, usernames []string) Peer {
	t := PeerSupergroup
	if broadcast {
		t = PeerChannel
	}
	return Peer{ID: -(ChannelOffset + channelID), AccessHash: accessHash, Type: t, Username: pickUsername(username, usernames)}
}

func pickUsername(username string, usernames []string) string {
	if username == "" && len(usernames) > 0 {
		username = usernames[0]
	}
	return strings.ToLower(username)
}

// InputPeerKind says which InputPeer constructor a row maps to.
type InputPeerKind int

// The InputPeer kinds of Pyrogram's get_input_peer.
const (
	InputUser InputPeerKind = iota + 1
	InputChat
	InputChannel
)

// InputPeer is what Pyrogram's get_input_peer builds from a row: the raw
// (unmarked) id and the access hash (0 for chats).
type InputPeer struct {
	Kind       InputPeerKind
	ID         int64
	AccessHash int64
}

// InputPeer builds the InputPeer for the row, as Pyrogram's get_input_peer
// does. Channel ids above 2^31 work (Pyrogram's get_peer_type rejects them,
// its stored-row lookup does not).
func (p Peer) InputPeer() (InputPeer, error) {
	switch p.Type {
	case PeerUser, PeerBot:
		return InputPeer{Kind: InputUser, ID: p.ID, AccessHash: p.AccessHash}, nil
	case PeerGroup:
		return InputPeer{Kind: InputChat, ID: -p.ID}, nil
	case PeerChannel, PeerSupergroup, "direct", "forum", "community":
		return InputPeer{Kind: InputChannel, ID: -ChannelOffset - p.ID, AccessHash: p.AccessHash}, nil
	}
	return InputPeer{}, &PeerTypeError{Type: string(p.Type)}
}

// UpdateState is one row of the update state (pts/qts/date/seq). ID 0 is
// the account; other rows are channels by marked id, with only Pts meaningful.
type UpdateState struct {
	ID   int64
	Pts  sessionstring.Opt[int64]
	Qts  sessionstring.Opt[int64]
	Date sessionstring.Opt[int64]
	Seq  sessionstring.Opt[int64]
}
