package mtproto

import (
	"context"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/mtproto/relay"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// ErrRelayFleet reports a relay session asked of an account a fleet
// worker serves: the relay's upstream connections carry no dead-man
// switch (DeadMan), so a paused worker's would outlive its lease.
var ErrRelayFleet = errors.New("mtproto: the relay does not serve a fleet worker's accounts (its upstream connections carry no dead-man switch)")

// RelayAccounts returns the pool's accounts as the MTProto relay (package
// mtproto/relay) uses them: Account waits until the named account is ready,
// then gives the relay what its upstream sessions need. The home key is
// the one the account's store holds (it never leaves the process); the
// device and api id are those the pool's own connection sends, so
// Telegram sees one device; Dial connects as the pool does (the account's
// server, proxy or MTProxy, and fleet fence), without a new key ever: the
// relay handles a lost key itself and never makes one in its place. The
// account's keys for other DCs, which the relay makes once, are kept in
// the account's store under MetaDCKeys (sealed with the account), written
// through the store like every other setting. An account's relay sessions
// end (Done) when the pool stops serving it: removed, in a final state, or
// the pool stopping.
func (p *Pool) RelayAccounts() relay.Accounts { return relayAccounts{p} }

type relayAccounts struct{ p *Pool }

var _ relay.Accounts = relayAccounts{}

// Account waits (up to ctx) until the account is ready and returns it.
func (ra relayAccounts) Account(ctx context.Context, name string) (relay.Account, error) {
	p := ra.p
	var ready *Client
	if err := p.Do(ctx, name, func(_ context.Context, c *Client) error { ready = c; return nil }); err != nil {
		return nil, err
	}
	p.mu.Lock()
	a, ok := p.accounts[name]
	if !ok || a.removing || a.client != ready || a.done == nil {
		p.mu.Unlock()
		return nil, fmt.Errorf("%w: %s left the pool", ErrUnknownAccount, name)
	}
	opts := p.opts.Client
	if a.opts != nil {
		opts = *a.opts
	}
	store, done := a.store, a.done
	p.mu.Unlock()
	if opts.DeadMan != (DeadMan{}) {
		return nil, ErrRelayFleet
	}
	row, err := store.Session()
	if err != nil {
		return nil, err
	}
	if row.AuthKey.IsZero() {
		return nil, ErrNoSession
	}
	dev := opts.Device.config()
	dev.SetDefaults() // what gotd sends for a zero Device
	return &relayAccount{
		store: store, opts: opts, done: done, dcKeys: &a.dcKeysMu,
		home: row.DCID, key: row.AuthKey,
		id: relay.Identity{UserID: row.UserID.Or(0), Bot: row.IsBot.Or(false), Test: opts.Server.TestMode, APIID: int(opts.APIID)},
		device: relay.Device{
			APIID: int(opts.APIID), DeviceModel: dev.DeviceModel, SystemVersion: dev.SystemVersion, AppVersion: dev.AppVersion,
			SystemLangCode: dev.SystemLangCode, LangPack: dev.LangPack, LangCode: dev.LangCode,
		},
	}, nil
}

// relayAccount is one ready account of the pool, as the relay uses it.
type relayAccount struct {
	store  storage.Storage
	opts   Options
	done   <-chan struct{}
	dcKeys *sync.Mutex // the account's, around MetaDCKeys' read-modify-write
	home   int
	key    sessionstring.AuthKey
	id     relay.Identity
	device relay.Device
}

var _ relay.Account = (*relayAccount)(nil)

func (a *relayAccount) Home() (int, sessionstring.AuthKey) { return a.home, a.key }
func (a *relayAccount) Identity() relay.Identity           { return a.id }
func (a *relayAccount) Device() relay.Device               { return a.device }
func (a *relayAccount) PublicKeys() []*rsa.PublicKey       { return a.opts.Server.PublicKeys }
func (a *relayAccount) Done() <-chan struct{}              { return a.done }

// Dial connects to DC dc as the pool connects the account: through its
// proxy or MTProxy, behind its fence. addr, when given, is the DC's
// address from the server's help.getConfig; else the home DC is the
// account's server, and another DC is found in Telegram's table (a
// custom server's other DCs need their address).
func (a *relayAccount) Dial(ctx context.Context, dc int, addr string) (tdtransport.Conn, error) {
	o := a.opts
	var dialFn tddcs.DialFunc
	if o.Dial != nil {
		dialFn = o.Dial
	}
	if o.Fence != nil {
		dialFn = fenceDial(dialFn, o.Fence)
	}
	if o.MTProxy != nil {
		r, err := o.MTProxy.Resolver(dialFn, o.Server.TestMode)
		if err != nil {
			return nil, err
		}
		return r.Primary(ctx, dc, tddcs.List{Test: o.Server.TestMode})
	}
	list, err := a.dcList(dc, addr)
	if err != nil {
		return nil, err
	}
	return tddcs.Plain(tddcs.PlainOptions{Dial: dialFn}).Primary(ctx, dc, list)
}

// dcList is where DC dc is, for Dial.
func (a *relayAccount) dcList(dc int, addr string) (tddcs.List, error) {
	o := a.opts
	if addr == "" && dc == a.home && o.Server.Addr != "" {
		addr = o.Server.Addr
	}
	if addr == "" {
		if o.Server.Addr != "" {
			return tddcs.List{}, fmt.Errorf("mtproto: no address of DC %d of the account's server", dc)
		}
		if o.Server.TestMode {
			return tddcs.Test(), nil
		}
		return tddcs.Prod(), nil
	}
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return tddcs.List{}, fmt.Errorf("mtproto: address of DC %d: %w", dc, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port <= 0 || port > 65535 {
		return tddcs.List{}, fmt.Errorf("mtproto: address of DC %d: bad port %q", dc, portStr)
	}
	return tddcs.List{Options: []tdtg.DCOption{{ID: dc, IPAddress: host, Port: port}}, Test: o.Server.TestMode}, nil
}

// DCKey returns the account's key for DC dc that the relay made before
// (kept under MetaDCKeys), or the zero key.
func (a *relayAccount) DCKey(dc int) (sessionstring.AuthKey, error) {
	keys, err := loadDCKeys(a.store)
	if err != nil {
		return sessionstring.AuthKey{}, err
	}
	return keys[dc], nil
}

// SetDCKey keeps the account's key for DC dc under MetaDCKeys.
func (a *relayAccount) SetDCKey(dc int, key sessionstring.AuthKey) error {
	if dc == a.home {
		return fmt.Errorf("mtproto: DC %d is the account's home DC: its key is the session's", dc)
	}
	a.dcKeys.Lock()
	defer a.dcKeys.Unlock()
	keys, err := loadDCKeys(a.store)
	if err != nil {
		return err
	}
	keys[dc] = key
	return saveDCKeys(a.store, keys)
}

// loadDCKeys reads MetaDCKeys: a JSON object from DC id to the key in
// standard base64.
func loadDCKeys(r MetaReader) (map[int]sessionstring.AuthKey, error) {
	keys := map[int]sessionstring.AuthKey{}
	b, ok, err := r.Meta(MetaDCKeys)
	if err != nil || !ok {
		return keys, err
	}
	var raw map[string]string
	if err := json.Unmarshal(b, &raw); err != nil {
		return nil, &SettingsError{Key: MetaDCKeys, Detail: "the stored keys of other DCs are unreadable"}
	}
	for dcStr, enc := range raw {
		dc, err := strconv.Atoi(dcStr)
		kb, err2 := base64.StdEncoding.DecodeString(enc)
		if err != nil || err2 != nil || dc <= 0 {
			return nil, &SettingsError{Key: MetaDCKeys, Detail: "the stored keys of other DCs are unreadable"}
		}
		k, err := sessionstring.NewAuthKey(kb)
		if err != nil {
			return nil, &SettingsError{Key: MetaDCKeys, Detail: "the stored keys of other DCs are unreadable"}
		}
		keys[dc] = k
	}
	return keys, nil
}

func saveDCKeys(w MetaWriter, keys map[int]sessionstring.AuthKey) error {
	raw := make(map[string]string, len(keys))
	for dc, k := range keys {
		raw[strconv.Itoa(dc)] = base64.StdEncoding.EncodeToString(k.Bytes())
	}
	b, err := json.Marshal(raw)
	if err != nil {
		return err
	}
	return w.SetMeta(MetaDCKeys, b)
}
