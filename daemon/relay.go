package daemon

import (
	"crypto/rand"
	"crypto/rsa"

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
	if d.cfg.NoRelay || d.cfg.Fleet != nil {
		return nil
	}
	ch := make(chan *rsa.PrivateKey, 1)
	go func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
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
	rl, err := relay.New(relay.Config{Accounts: d.pool.RelayAccounts(), Refuser: d.cfg.Methods, Logger: d.log, PrivateKey: k})
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
