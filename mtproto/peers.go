package mtproto

import (
	"context"
	"reflect"

	tdbin "github.com/gotd/td/bin"
	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/storage"
)

// peerFeeder is a gotd middleware that writes the users and chats of every
// RPC result to the account's peer cache, with Pyrogram's rules
// (storage.UserPeer/ChatPeer/ChannelPeer; min objects skipped). A failed
// cache write never fails the call: the cache is a cache.
func peerFeeder(store storage.Storage) tdtelegram.Middleware {
	return tdtelegram.MiddlewareFunc(func(next tdtg.Invoker) tdtelegram.InvokeFunc {
		return func(ctx context.Context, input tdbin.Encoder, output tdbin.Decoder) error {
			if err := next.Invoke(ctx, input, output); err != nil {
				return err
			}
			if peers := PeersOf(output); len(peers) > 0 {
				_ = store.UpdatePeers(peers)
			}
			return nil
		}
	})
}

type (
	usersGetter interface{ GetUsers() []tdtg.UserClass }
	chatsGetter interface{ GetChats() []tdtg.ChatClass }
	userGetter  interface{ GetUser() tdtg.UserClass }
)

// PeersOf returns the peer rows Pyrogram's fetch_peers would write for a
// decoded RPC result (or an Updates value): its users and chats. Boxes
// (gotd's *XBox wrappers), user vectors and the results of raw calls
// (InvokeTL) are unwrapped.
func PeersOf(v any) []storage.Peer {
	if r, ok := v.(*tljson.Result); ok { // a raw call of the local API
		if v = r.Value(); v == nil {
			return nil
		}
	}
	v = unbox(v)
	var out []storage.Peer
	switch r := v.(type) {
	case *tdtg.UserClassVector:
		out = appendUsers(out, r.Elems)
	case []tdtg.UserClass:
		out = appendUsers(out, r)
	case *tdtg.User:
		out = appendUsers(out, []tdtg.UserClass{r})
	}
	if g, ok := v.(usersGetter); ok {
		out = appendUsers(out, g.GetUsers())
	}
	if g, ok := v.(userGetter); ok {
		out = appendUsers(out, []tdtg.UserClass{g.GetUser()})
	}
	if g, ok := v.(chatsGetter); ok {
		out = appendChats(out, g.GetChats())
	}
	return out
}

// unbox returns the value inside a gotd box: a pointer to a struct whose
// only field is an interface (MessagesDialogsBox{Dialogs: ...}).
func unbox(v any) any {
	rv := reflect.ValueOf(v)
	if rv.Kind() != reflect.Pointer || rv.IsNil() || rv.Elem().Kind() != reflect.Struct {
		return v
	}
	s := rv.Elem()
	if s.NumField() != 1 || s.Field(0).Kind() != reflect.Interface || s.Field(0).IsNil() || !s.Type().Field(0).IsExported() {
		return v
	}
	return s.Field(0).Interface()
}

func appendUsers(out []storage.Peer, users []tdtg.UserClass) []storage.Peer {
	for _, uc := range users {
		u, ok := uc.(*tdtg.User)
		if !ok || u.Min {
			continue
		}
		var names []string
		for _, n := range u.Usernames {
			names = append(names, n.Username)
		}
		out = append(out, storage.UserPeer(u.ID, u.AccessHash, u.Bot, u.Username, names, u.Phone))
	}
	return out
}

func appendChats(out []storage.Peer, chats []tdtg.ChatClass) []storage.Peer {
	for _, cc := range chats {
		switch c := cc.(type) {
		case *tdtg.Chat:
			out = append(out, storage.ChatPeer(c.ID))
		case *tdtg.ChatForbidden:
			out = append(out, storage.ChatPeer(c.ID))
		case *tdtg.Channel:
			if c.Min {
				continue
			}
			var names []string
			for _, n := range c.Usernames {
				names = append(names, n.Username)
			}
			out = append(out, storage.ChannelPeer(c.ID, c.AccessHash, c.Broadcast, c.Username, names))
		case *tdtg.ChannelForbidden:
			out = append(out, storage.ChannelPeer(c.ID, c.AccessHash, c.Broadcast, "", nil))
		}
	}
	return out
}
