package mtproto

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tljson"
)

// updateBuffer is how many updates a subscriber may lag behind before it
// is dropped.
const updateBuffer = 256

// sseKeepAlive is how often an idle update stream gets a comment line, so
// that proxies and clients see the stream alive.
const sseKeepAlive = 30 * time.Second

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
	dropSlow     = "slow"     // the subscriber fell updateBuffer updates behind
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

// updatesHandler streams an account's updates as server-sent events:
// "event: update" with the update as JSON, and a final "event: dropped"
// with {"reason": "slow"} when the client fell too far behind,
// {"reason": "shutdown"} from CloseStreams, {"reason": "removed"} from
// Pool.Remove, or the account's final state
// ({"reason": "unauthorized"}) when it reaches one.
func updatesHandler(pool *Pool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		name := r.PathValue("name")
		hub, err := pool.updates(name)
		if err != nil {
			writeError(w, err)
			return
		}
		fl, ok := w.(http.Flusher)
		if !ok {
			writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "streaming unsupported"})
			return
		}
		sub := hub.subscribe(updateBuffer)
		defer hub.unsubscribe(sub)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, ": subscribed\n\n")
		fl.Flush()
		tick := time.NewTicker(sseKeepAlive)
		defer tick.Stop()
		for {
			select {
			case <-r.Context().Done():
				return
			case b := <-sub.ch:
				if _, err := fmt.Fprintf(w, "event: update\ndata: %s\n\n", b); err != nil {
					return
				}
			case <-sub.dropped:
				// What was buffered before the drop still goes out.
			drain:
				for {
					select {
					case b := <-sub.ch:
						fmt.Fprintf(w, "event: update\ndata: %s\n\n", b)
					default:
						break drain
					}
				}
				fmt.Fprintf(w, "event: dropped\ndata: {\"reason\":%q}\n\n", sub.reason)
				fl.Flush()
				return
			case <-tick.C:
				fmt.Fprint(w, ": keep-alive\n\n")
			}
			fl.Flush()
		}
	}
}

// CloseStreams ends every update stream of the local API with a final
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
