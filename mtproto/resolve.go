package mtproto

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"strings"

	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/storage"
)

// Names returns the names of the pool's accounts, sorted.
func (p *Pool) Names() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]string, 0, len(p.accounts))
	for name := range p.accounts {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// ResolvePeer finds a peer as Pyrogram's resolve_peer does: "me"/"self",
// a marked id, a phone number ("+" and digits), or a username (with or
// without "@"), from the peer cache first and through
// contacts.resolveUsername or contacts.resolvePhone when the cache misses
// or the username expired (the result refills the cache).
func (c *Client) ResolvePeer(ctx context.Context, query string) (storage.Peer, error) {
	store := c.sess.store
	q := strings.TrimSpace(query)
	switch strings.ToLower(q) {
	case "me", "self":
		id, err := c.Self(ctx)
		if err != nil {
			return storage.Peer{}, err
		}
		return store.PeerByID(id.UserID)
	}
	if phone, ok := strings.CutPrefix(q, "+"); ok {
		return c.resolvePhone(ctx, strings.Join(strings.Fields(phone), ""))
	}
	if id, err := strconv.ParseInt(q, 10, 64); err == nil {
		return store.PeerByID(id)
	}
	name := strings.ToLower(strings.TrimPrefix(q, "@"))
	p, err := store.PeerByUsername(name)
	if err == nil {
		return p, nil
	}
	if !errors.Is(err, storage.ErrNotFound) && !errors.Is(err, storage.ErrUsernameExpired) {
		return storage.Peer{}, err
	}
	if _, err := c.API().ContactsResolveUsername(ctx, &tdtg.ContactsResolveUsernameRequest{Username: name}); err != nil {
		if isUsernameMissing(err) {
			return storage.Peer{}, fmt.Errorf("mtproto: resolve username: %w", storage.ErrNotFound)
		}
		return storage.Peer{}, fmt.Errorf("mtproto: resolve username: %w", sessionErr(err))
	}
	return store.PeerByUsername(name)
}

// resolvePhone finds a peer by phone number (digits, without "+"): the
// peer cache first, then contacts.resolvePhone (which refills it).
func (c *Client) resolvePhone(ctx context.Context, phone string) (storage.Peer, error) {
	store := c.sess.store
	p, err := store.PeerByPhone(phone)
	if err == nil || !errors.Is(err, storage.ErrNotFound) {
		return p, err
	}
	if _, err := c.API().ContactsResolvePhone(ctx, phone); err != nil {
		if tdtgerr.Is(err, "PHONE_NOT_OCCUPIED", "PHONE_NUMBER_INVALID") {
			return storage.Peer{}, fmt.Errorf("mtproto: resolve phone: %w", storage.ErrNotFound)
		}
		return storage.Peer{}, fmt.Errorf("mtproto: resolve phone: %w", sessionErr(err))
	}
	return store.PeerByPhone(phone)
}

func isUsernameMissing(err error) bool {
	return tdtgerr.Is(err, "USERNAME_NOT_OCCUPIED", "USERNAME_INVALID")
}
