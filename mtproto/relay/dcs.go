package relay

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/mtproto/tlschema"
	"github.com/tgvault/tgvault/sessionstring"
)

// Other DCs. Media lives on other DCs: a client told by the rewritten
// help.getConfig that DC n is at the relay makes a key there by a real key
// exchange with the relay (unbound), asks its home DC for
// auth.exportAuthorization(n) — answered by the relay with a token of its
// own, never passed on — and imports the token on DC n with
// auth.importAuthorization, which binds its key to its session. Its calls
// on DC n then go upstream on the account's own key for DC n, which the
// relay makes once (a real key exchange with Telegram's DC n, a real
// auth.exportAuthorization on the home key and auth.importAuthorization
// on the new one) and keeps through Account.SetDCKey.

// Constructor ids that the relay answers itself; the same in every
// embedded layer.
const (
	exportAuthorizationID   uint32 = 0xe5bfffcd // auth.exportAuthorization dc_id:int
	importAuthorizationID   uint32 = 0xa57a7dad // auth.importAuthorization id:long bytes:bytes
	exportedAuthorizationID uint32 = 0xb434e2b8 // auth.exportedAuthorization id:long bytes:bytes
)

// An export token is good for one import, on one DC, within exportTTL.
const (
	exportTTL  = 5 * time.Minute
	maxExports = 1024
)

// export is a token the relay gave for auth.exportAuthorization.
type export struct {
	sess    *Session
	dc      int
	token   []byte
	expires time.Time
}

// exportAuthorization answers auth.exportAuthorization(dc_id) of a bound
// client with a token for the relay's DC dc_id.
func (r *Relay) exportAuthorization(ctx context.Context, c *client, req *mtserver.Request) error {
	if len(req.Body) != 8 {
		return req.Error(ctx, 400, "INPUT_REQUEST_INVALID")
	}
	dc := int(int32(binary.LittleEndian.Uint32(req.Body[4:])))
	if dc <= 0 || dc > 1000 || dc == req.Conn.DC() {
		return req.Error(ctx, 400, "DC_ID_INVALID")
	}
	token := make([]byte, 32)
	if _, err := rand.Read(token); err != nil {
		return err
	}
	r.mu.Lock()
	if len(r.exports) >= maxExports {
		r.mu.Unlock()
		return req.Error(ctx, floodWaitCode, floodWait(time.Minute))
	}
	r.exports[string(token)] = &export{sess: c.key.sess, dc: dc, token: token, expires: time.Now().Add(exportTTL)}
	r.mu.Unlock()
	var b tdbin.Buffer
	b.PutID(exportedAuthorizationID)
	b.PutLong(c.acc.Identity().UserID)
	b.PutBytes(token)
	return req.Result(ctx, b.Buf)
}

// importAuthorization binds an unbound key (made by a key exchange with
// the relay's DC) to the session whose token it imports, and answers
// auth.authorization with the account's user, as the client's layer
// encodes it.
func (r *Relay) importAuthorization(ctx context.Context, req *mtserver.Request) error {
	if req.Layer == 0 {
		return req.Error(ctx, 400, errNoLayer)
	}
	n, err := r.schema.DecodeObject(req.Body)
	if err != nil {
		return req.Error(ctx, 400, "INPUT_REQUEST_INVALID")
	}
	id, _ := n.Long(req.Body, "id")
	tok := n.Field("bytes")
	token := tlBytes(req.Body, tok)
	dc := req.Conn.DC()
	r.mu.Lock()
	var e *export
	for k, x := range r.exports {
		if subtle.ConstantTimeCompare([]byte(k), token) == 1 {
			e = x
			delete(r.exports, k)
			break
		}
	}
	k, known := r.keys[req.KeyID]
	ok := e != nil && e.dc == dc && time.Now().Before(e.expires) && known && k.sess == nil && k.dc == dc
	if ok {
		if _, live := r.sessions[e.sess.ID]; !live {
			ok = false
		}
	}
	if ok {
		k.sess = e.sess
		r.unbound--
	}
	r.mu.Unlock()
	if !ok {
		return req.Error(ctx, 400, "AUTH_BYTES_INVALID")
	}
	c, err := r.clientOf(ctx, req.Conn, req.KeyID)
	if err != nil {
		return err
	}
	if c == nil || id != c.acc.Identity().UserID {
		return req.Error(ctx, 400, "AUTH_BYTES_INVALID")
	}
	r.log.Info("relay key bound on another DC", "session", e.sess.ID, "account", e.sess.Account, "dc", dc)
	select {
	case c.inflight <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	}
	go func() {
		defer func() { <-c.inflight }()
		c.answerImport(ctx, req)
	}()
	return nil
}

// answerImport answers an import with auth.authorization{user}: the user
// as Telegram gives it on this DC in the client's layer (users.getUsers of
// itself, passed through the account's session there).
func (c *client) answerImport(ctx context.Context, req *mtserver.Request) {
	r := c.r
	authID, err := authorizationID(req.Layer)
	if err != nil {
		_ = req.Error(ctx, 400, errNoLayer)
		return
	}
	up, err := c.upstream(ctx)
	if err != nil {
		if ctx.Err() == nil {
			r.log.Warn("relay: upstream connect failed", "dc", c.dc, "err", err)
			_ = req.Error(ctx, 500, errUpstream)
		}
		return
	}
	var q tdbin.Buffer
	if err := (&tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}}).Encode(&q); err != nil {
		_ = req.Error(ctx, 500, errUpstream)
		return
	}
	d := c.acc.Device()
	raw, err := up.Invoke(ctx, wrapQuery(req.Layer, &d, false, q.Buf))
	if err != nil || len(raw) < 8 || binary.LittleEndian.Uint32(raw) != tlschema.VectorID || binary.LittleEndian.Uint32(raw[4:]) != 1 {
		if ctx.Err() == nil {
			r.log.Warn("relay: no user for an import", "dc", c.dc, "err", err)
			_ = req.Error(ctx, 500, errUpstream)
		}
		return
	}
	c.inited.Store(true)
	var b tdbin.Buffer
	b.PutID(authID)
	b.PutUint32(0) // flags: no password setup, no relogin days, no tmp sessions, no future token
	b.Put(raw[8:])
	_ = req.Result(ctx, b.Buf)
}

// authorizationID is auth.authorization's constructor id in a layer: the
// layer's own when embedded, else the nearest embedded layer's below it.
func authorizationID(layer int) (uint32, error) {
	best := 0
	for _, l := range tlschema.Layers() {
		if l <= layer && l > best {
			best = l
		}
	}
	if best == 0 {
		return 0, fmt.Errorf("relay: layer %d is older than every embedded one", layer)
	}
	s, _, err := tlschema.Layer(best)
	if err != nil {
		return 0, err
	}
	c := s.ByName("auth.authorization")
	if c == nil {
		return 0, errors.New("relay: no auth.authorization in the schema")
	}
	return c.ID, nil
}

// tlBytes returns the content of the TL bytes at v.
func tlBytes(buf []byte, v *tlschema.Value) []byte {
	return []byte(tlString(buf, v))
}

// dcKey returns the account's auth key for DC dc, making it the first
// time: a real key exchange with the server's DC dc, a real
// auth.exportAuthorization on the home key and auth.importAuthorization on
// the new key; it is kept (Account.SetDCKey) only once imported.
func (r *Relay) dcKey(ctx context.Context, account string, acc Account, dc int) (sessionstring.AuthKey, error) {
	mu := r.makingLock(account, dc)
	mu.Lock()
	defer mu.Unlock()
	key, err := acc.DCKey(dc)
	if err != nil || !key.IsZero() {
		return key, err
	}
	dev := acc.Device()
	up, err := dialUpstream(ctx, upstreamConfig{DC: dc, PublicKeys: acc.PublicKeys(), Dial: r.dialer(account, acc), Timeout: r.cfg.UpstreamTimeout})
	if err != nil {
		return sessionstring.AuthKey{}, err
	}
	defer up.Close()
	homeDC, homeKey := acc.Home()
	home, err := dialUpstream(ctx, upstreamConfig{DC: homeDC, Key: homeKey, Dial: r.dialer(account, acc), Timeout: r.cfg.UpstreamTimeout})
	if err != nil {
		return sessionstring.AuthKey{}, err
	}
	defer home.Close()
	var q tdbin.Buffer
	if err := (&tdtg.AuthExportAuthorizationRequest{DCID: dc}).Encode(&q); err != nil {
		return sessionstring.AuthKey{}, err
	}
	raw, err := home.Invoke(ctx, wrapQuery(tdtg.Layer, &dev, false, q.Buf))
	if err != nil {
		return sessionstring.AuthKey{}, fmt.Errorf("relay: auth.exportAuthorization(%d): %w", dc, err)
	}
	var exp tdtg.AuthExportedAuthorization
	if err := exp.Decode(&tdbin.Buffer{Buf: raw}); err != nil {
		return sessionstring.AuthKey{}, fmt.Errorf("relay: auth.exportAuthorization(%d): %w", dc, err)
	}
	q.Reset()
	if err := (&tdtg.AuthImportAuthorizationRequest{ID: exp.ID, Bytes: exp.Bytes}).Encode(&q); err != nil {
		return sessionstring.AuthKey{}, err
	}
	if _, err := up.Invoke(ctx, wrapQuery(tdtg.Layer, &dev, false, q.Buf)); err != nil {
		return sessionstring.AuthKey{}, fmt.Errorf("relay: auth.importAuthorization on DC %d: %w", dc, err)
	}
	key, err = up.Key()
	if err != nil {
		return sessionstring.AuthKey{}, err
	}
	if err := acc.SetDCKey(dc, key); err != nil {
		return sessionstring.AuthKey{}, err
	}
	r.log.Info("relay made the account's key for another DC", "account", account, "dc", dc, "key_id", key.ID())
	return key, nil
}

// makingLock is the lock that makes one account's key for one DC once.
func (r *Relay) makingLock(account string, dc int) *sync.Mutex {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.accounts[account]
	if !ok {
		a = &accountState{}
		r.accounts[account] = a
	}
	if a.making == nil {
		a.making = map[int]*sync.Mutex{}
	}
	mu, ok := a.making[dc]
	if !ok {
		mu = &sync.Mutex{}
		a.making[dc] = mu
	}
	return mu
}

// dialer dials the account's DCs: the home DC at the address the account's
// settings name, another at the address the server's help.getConfig gave
// (when the relay saw one).
func (r *Relay) dialer(account string, acc Account) DialFunc {
	return func(ctx context.Context, dc int) (tdtransport.Conn, error) {
		homeDC, _ := acc.Home()
		addr := ""
		if dc != homeDC {
			addr = r.realAddr(account, dc)
		}
		return acc.Dial(ctx, dc, addr)
	}
}

// realAddr is DC dc's address from the account's server's help.getConfig,
// "" when the relay has none.
func (r *Relay) realAddr(account string, dc int) string {
	r.mu.Lock()
	defer r.mu.Unlock()
	a, ok := r.accounts[account]
	if !ok {
		return ""
	}
	for _, o := range a.real {
		if o.DC == dc && !o.Media {
			return net.JoinHostPort(o.Host, strconv.Itoa(o.Port))
		}
	}
	return ""
}
