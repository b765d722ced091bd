package daemon

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"log/slog"
	"strings"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/mtproto/relay"
)

// The MTProto relay (package mtproto/relay): run serves one unless
// Config.NoRelay or a fleet worker (whose accounts it would not serve:
// mtproto.ErrRelayFleet). It listens on loopback only once a session is
// minted (tgvault relay, exec --relay, through the local API), and is
// closed before the pool stops, so that its upstream connections on the
// accounts' keys end first.

// relayKey starts making the relay's RSA key (up to a second of CPU on a
// loaded machine) while the accounts open; nil when no relay is served.
func (d *daemon) relayKey() <-chan *rsa.PrivateKey {
	if d.cfg.NoRelay || d.fleet != nil {
		return nil
	}
	ch := make(chan *rsa.PrivateKey, 1)
	go func() {
		k, err := mtserver.GenerateKey(rand.Reader) // one whose fingerprint every client library finds (mtcute)
		if err != nil {
			d.warnf("MTProto relay: making its RSA key: %v; the relay is off", err)
			k = nil
		}
		ch <- k
	}()
	return ch
}

// startRelay makes the relay over the pool once its key is made (d.relay
// stays nil when key is nil or the key failed).
func (d *daemon) startRelay(key <-chan *rsa.PrivateKey) error {
	if key == nil {
		return nil
	}
	k := <-key
	if k == nil {
		return nil
	}
	rl, err := relay.New(relay.Config{Accounts: d.pool.RelayAccounts(), Refuser: d.cfg.Methods, Logger: slog.New(sentences{h: d.log.Handler()}), PrivateKey: k})
	if err != nil {
		return err
	}
	d.relay = rl
	return nil
}

// stopRelay ends every relay session and connection, and waits for them.
func (d *daemon) stopRelay() {
	if d.relay == nil {
		return
	}
	if err := d.relay.Close(); err != nil {
		d.warnf("MTProto relay: %v", err)
	}
}

// sentences hands the relay's records to run's log as the one sentence
// each that Config.Log receives: the relay logs structured records (a
// message, then session=, account=, method=, ...), and a handler that
// shows only the message (the CLI's) would drop what the record is
// about. The attributes are written into the message and kept as
// attributes too.
type sentences struct {
	h     slog.Handler
	attrs []slog.Attr
}

var _ slog.Handler = sentences{}

func (s sentences) Enabled(ctx context.Context, l slog.Level) bool { return s.h.Enabled(ctx, l) }

func (s sentences) Handle(ctx context.Context, r slog.Record) error {
	attrs := append([]slog.Attr(nil), s.attrs...)
	r.Attrs(func(a slog.Attr) bool { attrs = append(attrs, a); return true })
	msg := r.Message
	if len(attrs) > 0 {
		parts := make([]string, len(attrs))
		for i, a := range attrs {
			parts[i] = a.Key + "=" + a.Value.Resolve().String()
		}
		msg += " (" + strings.Join(parts, ", ") + ")"
	}
	out := slog.NewRecord(r.Time, r.Level, msg, r.PC)
	out.AddAttrs(attrs...)
	return s.h.Handle(ctx, out)
}

func (s sentences) WithAttrs(attrs []slog.Attr) slog.Handler {
	return sentences{h: s.h, attrs: append(append([]slog.Attr(nil), s.attrs...), attrs...)}
}

func (s sentences) WithGroup(string) slog.Handler { return s }
