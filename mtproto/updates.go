package mtproto

import (
	"context"
	"fmt"
	"sync"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tljson"
)

// UpdateBuffer is how many updates a subscriber may lag behind before it
// is dropped.
const UpdateBuffer = 256

// updateHub fans one account's updates out to its subscribers. A
// subscriber whose buffer is full is dropped (its dropped channel closed)
// rather than ever blocking the client that delivers updates.
type updateHub struct {
	mu   sync.Mutex
	subs map[*updateSub]struct{}
	gone string // set by shut: every subscriber is dropped with it at once
}

type updateSub struct {
	ch      chan []byte   // encoded updates
	dropped chan struct{} // closed when the hub dropped the subscriber
	reason  string        // why, set before dropped is closed
}

// Reasons for dropping a subscriber, in the final event's data; an
// account that reaches a final state drops its subscribers with the
// state's name ("unauthorized", "stopped", ...).
const (
	dropSlow     = "slow"     // the subscriber fell UpdateBuffer updates behind
	dropShutdown = "shutdown" // the local API is shutting down
	dropRemoved  = "removed"  // the account was removed from the pool
)

// drop removes s; the caller holds h.mu.
func (h *updateHub) drop(s *updateSub, reason string) {
	delete(h.subs, s)
	s.reason = reason
	close(s.dropped)
}

// closeAll drops every subscriber.
func (h *updateHub) closeAll(reason string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.drop(s, reason)
	}
}

// shut drops every subscriber for good: later ones are dropped as they
// subscribe (the hub of a removed account).
func (h *updateHub) shut(reason string) {
	h.mu.Lock()
	h.gone = reason
	h.mu.Unlock()
	h.closeAll(reason)
}

func newUpdateHub() *updateHub { return &updateHub{subs: map[*updateSub]struct{}{}} }

func (h *updateHub) subscribe(buf int) *updateSub {
	s := &updateSub{ch: make(chan []byte, buf), dropped: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.gone != "" {
		s.reason = h.gone
		close(s.dropped)
		return s
	}
	h.subs[s] = struct{}{}
	return s
}

func (h *updateHub) unsubscribe(s *updateSub) {
	h.mu.Lock()
	delete(h.subs, s)
	h.mu.Unlock()
}

// publish hands b to every subscriber without blocking.
func (h *updateHub) publish(b []byte) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.ch <- b:
		default:
			h.drop(s, dropSlow)
		}
	}
}

// handle is the client's update handler: it encodes every update of u
// (the users and chats it carries go to the peer cache) and publishes it.
func (h *updateHub) handle(ctx context.Context, u tdtg.UpdatesClass) error {
	h.mu.Lock()
	n := len(h.subs)
	h.mu.Unlock()
	if n == 0 {
		return nil
	}
	for _, obj := range splitUpdates(u) {
		b, err := updateJSON(obj)
		if err != nil {
			continue
		}
		h.publish(b)
	}
	return nil
}

// splitUpdates returns the updates of a container one by one; the short
// forms gotd does not convert stay whole.
func splitUpdates(u tdtg.UpdatesClass) []tdbin.Object {
	var list []tdtg.UpdateClass
	switch u := u.(type) {
	case *tdtg.UpdateShort:
		list = []tdtg.UpdateClass{u.Update}
	case *tdtg.Updates:
		list = u.Updates
	case *tdtg.UpdatesCombined:
		list = u.Updates
	default:
		return []tdbin.Object{u}
	}
	out := make([]tdbin.Object, 0, len(list))
	for _, x := range list {
		out = append(out, x)
	}
	return out
}

// updateJSON encodes one update for the update stream in TL JSON, the
// convention of invoke (package tljson): "_" names its constructor, fields
// carry the schema's names, long values are strings.
func updateJSON(obj tdbin.Object) ([]byte, error) {
	b, err := tljson.Encode(obj)
	if err != nil {
		return nil, fmt.Errorf("mtproto: encode update: %w", err)
	}
	return b, nil
}

// Subscription is one subscriber to an account's updates (Pool.Subscribe):
// every update in TL JSON on C, until Dropped is closed (then Reason says
// why: "slow", "shutdown", "removed" or the account's final state). Close
// it when done.
type Subscription struct {
	hub *updateHub
	sub *updateSub
}

// C delivers the account's updates, each one TL JSON object.
func (s *Subscription) C() <-chan []byte { return s.sub.ch }

// Dropped is closed when the pool dropped the subscriber; what C still
// holds was sent before.
func (s *Subscription) Dropped() <-chan struct{} { return s.sub.dropped }

// Reason is why the subscriber was dropped, once Dropped is closed.
func (s *Subscription) Reason() string { return s.sub.reason }

// Close ends the subscription.
func (s *Subscription) Close() { s.hub.unsubscribe(s.sub) }

// Subscribe subscribes to an account's updates, with room for
// UpdateBuffer of them before a slow subscriber is dropped. It fails for
// an unknown account (ErrUnknownAccount) or one in a final state.
func (p *Pool) Subscribe(name string) (*Subscription, error) {
	hub, err := p.updates(name)
	if err != nil {
		return nil, err
	}
	return &Subscription{hub: hub, sub: hub.subscribe(UpdateBuffer)}, nil
}

// CloseStreams ends every subscription (every update stream of the local API) with a final
// "dropped" event (reason "shutdown"). Register it with
// http.Server.RegisterOnShutdown: Shutdown waits for streams otherwise.
func (p *Pool) CloseStreams() {
	p.mu.Lock()
	hubs := make([]*updateHub, 0, len(p.accounts))
	for _, a := range p.accounts {
		hubs = append(hubs, a.hub)
	}
	p.mu.Unlock()
	for _, h := range hubs {
		h.closeAll(dropShutdown)
	}
}

// updates returns an account's update hub; it fails for an unknown
// account or one in a final state.
func (p *Pool) updates(name string) (*updateHub, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	a, ok := p.accounts[name]
	switch {
	case !ok || a.removing:
		return nil, ErrUnknownAccount
	case a.status.Final() && a.err != nil:
		return nil, fmt.Errorf("mtproto: account %s: %w", a.status, a.err)
	case a.status.Final():
		return nil, fmt.Errorf("mtproto: account %s", a.status)
	}
	return a.hub, nil
}
