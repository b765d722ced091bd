package relay

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"fmt"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdexchange "github.com/gotd/td/exchange"
	tdmtproto "github.com/gotd/td/mtproto"
	tdcodec "github.com/gotd/td/proto/codec"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/sessionstring"
)

// Device is what Telegram is told about the account's one device in
// initConnection: the relay sends the account's stored parameters, never
// the relay client's, so that Telegram sees one device whatever program
// uses the account.
type Device struct {
	APIID          int
	DeviceModel    string
	SystemVersion  string
	AppVersion     string
	SystemLangCode string
	LangPack       string
	LangCode       string
}

// DialFunc opens a transport connection to DC dc of the account's server.
type DialFunc func(ctx context.Context, dc int) (tdtransport.Conn, error)

// upstreamConfig is what opens one upstream session.
type upstreamConfig struct {
	DC int
	// Key is the account's auth key for DC; zero makes a new one by a key
	// exchange (only for the account's keys for other DCs, which the
	// relay makes through export/import; never for the home DC).
	Key        sessionstring.AuthKey
	PublicKeys []*rsa.PublicKey
	Dial       DialFunc
	// OnUpdates gets the raw bytes of every message Telegram pushes that
	// is not an answer (an Updates object, in the session's layer). It is
	// called from gotd's goroutines, possibly concurrently.
	OnUpdates func(raw []byte)
	// Timeout bounds the connect (and a key exchange).
	Timeout time.Duration
}

// ErrUpstreamKeyUnknown reports that the server does not know the key an
// upstream session used (transport error -404). The relay never makes a
// new key in its place: the account's pool notices the lost key itself.
var ErrUpstreamKeyUnknown = errors.New("relay: the server does not know the account's key")

// ErrUpstreamClosed reports a call on an upstream session that has ended.
var ErrUpstreamClosed = errors.New("relay: upstream session closed")

// upstream is one MTProto session with the server on one of the account's
// keys: a gotd low-level connection (new session id, same key), raw bytes
// in and out.
type upstream struct {
	conn   *tdmtproto.Conn
	cancel context.CancelFunc
	done   chan struct{} // closed when the connection's Run returned
	key    tdcrypto.AuthKey

	mu  sync.Mutex
	err error // why Run returned
}

// dialUpstream connects and returns once the session is ready, or with
// the reason it could not be.
func dialUpstream(ctx context.Context, cfg upstreamConfig) (*upstream, error) {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 30 * time.Second
	}
	opts := tdmtproto.Options{
		DC:              cfg.DC,
		Handler:         upstreamHandler{on: cfg.OnUpdates},
		DialTimeout:     cfg.Timeout,
		ExchangeTimeout: cfg.Timeout,
		// Results may be large (a file part): compress nothing we send,
		// the client's bytes go as they came.
		CompressThreshold: -1,
		// The relay passes the client's own retries through; gotd's
		// resend of an unacknowledged request stays (same msg_id).
		RequestTimeout: func(uint32) time.Duration { return cfg.Timeout },
	}
	for _, k := range cfg.PublicKeys {
		opts.PublicKeys = append(opts.PublicKeys, tdexchange.PublicKey{RSA: k})
	}
	var first tdtransport.Conn // the connection of a key exchange, used first
	if cfg.Key.IsZero() {
		// A new key for another DC: the exchange runs here, before gotd
		// starts, so that the key is known (and kept) before any call.
		c, res, err := exchangeKey(ctx, cfg, opts.PublicKeys)
		if err != nil {
			return nil, err
		}
		first, opts.Key, opts.Salt = c, res.AuthKey, res.ServerSalt
	} else {
		var k tdcrypto.Key
		copy(k[:], cfg.Key.Bytes())
		opts.Key = k.WithID()
	}
	var dialMu sync.Mutex
	dial := func(ctx context.Context) (tdtransport.Conn, error) {
		dialMu.Lock()
		c := first
		first = nil
		dialMu.Unlock()
		if c == nil {
			var err error
			if c, err = cfg.Dial(ctx, cfg.DC); err != nil {
				return nil, err
			}
		}
		return keyGuard{Conn: c}, nil
	}
	u := &upstream{done: make(chan struct{}), key: opts.Key}
	u.conn = tdmtproto.New(dial, opts)
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	u.cancel = cancel
	ready := make(chan struct{})
	go func() {
		defer close(u.done)
		err := u.conn.Run(runCtx, func(ctx context.Context) error {
			close(ready)
			<-ctx.Done()
			return ctx.Err()
		})
		u.mu.Lock()
		u.err = err
		u.mu.Unlock()
	}()
	timer := time.NewTimer(cfg.Timeout)
	defer timer.Stop()
	select {
	case <-ready:
		return u, nil
	case <-u.done:
		return nil, u.failure()
	case <-ctx.Done():
		u.Close()
		return nil, ctx.Err()
	case <-timer.C:
		u.Close()
		return nil, fmt.Errorf("relay: upstream connect: no answer within %s", cfg.Timeout)
	}
}

// exchangeKey dials DC cfg.DC and makes a new auth key with the server.
func exchangeKey(ctx context.Context, cfg upstreamConfig, keys []tdexchange.PublicKey) (tdtransport.Conn, tdexchange.ClientExchangeResult, error) {
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	c, err := cfg.Dial(ctx, cfg.DC)
	if err != nil {
		return nil, tdexchange.ClientExchangeResult{}, err
	}
	if len(keys) == 0 {
		return nil, tdexchange.ClientExchangeResult{}, errors.New("relay: no server keys for a key exchange")
	}
	res, err := tdexchange.NewExchanger(c, cfg.DC).WithRand(rand.Reader).WithTimeout(cfg.Timeout).Client(keys).Run(ctx)
	if err != nil {
		_ = c.Close()
		return nil, tdexchange.ClientExchangeResult{}, fmt.Errorf("relay: key exchange with DC %d: %w", cfg.DC, err)
	}
	return c, res, nil
}

// Key returns the session's auth key (a new one after an exchange).
func (u *upstream) Key() (sessionstring.AuthKey, error) {
	return sessionstring.NewAuthKey(u.key.Value[:])
}

// failure is why the session ended (ErrUpstreamKeyUnknown for -404).
func (u *upstream) failure() error {
	u.mu.Lock()
	defer u.mu.Unlock()
	if errors.Is(u.err, ErrUpstreamKeyUnknown) {
		return ErrUpstreamKeyUnknown
	}
	if u.err == nil {
		return ErrUpstreamClosed
	}
	return fmt.Errorf("%w: %w", ErrUpstreamClosed, u.err)
}

// Done is closed when the session has ended.
func (u *upstream) Done() <-chan struct{} { return u.done }

// Invoke sends the raw query and returns the raw result (gzip_packed
// unpacked). An rpc_error from the server is a *tgerr.Error.
func (u *upstream) Invoke(ctx context.Context, query tdbin.Encoder) ([]byte, error) {
	var out rawResult
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-u.done:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := u.conn.Invoke(ctx, query, &out); err != nil {
		if rpcErr, ok := tdtgerr.As(err); ok {
			return nil, rpcErr
		}
		select {
		case <-u.done:
			return nil, u.failure()
		default:
		}
		return nil, err
	}
	return out, nil
}

// Close ends the session and waits for its goroutines.
func (u *upstream) Close() {
	u.cancel()
	<-u.done
}

// upstreamHandler passes pushed messages on as raw bytes.
type upstreamHandler struct{ on func([]byte) }

func (h upstreamHandler) OnMessage(b *tdbin.Buffer) error {
	if h.on != nil {
		h.on(b.Copy())
	}
	return nil
}

func (upstreamHandler) OnSession(tdmtproto.Session) error { return nil }

// keyGuard turns the transport error -404 (the server does not know the
// key) into ErrUpstreamKeyUnknown: gotd would make a new key in place,
// which for the account's key would replace its login.
type keyGuard struct{ tdtransport.Conn }

func (c keyGuard) Recv(ctx context.Context, b *tdbin.Buffer) error {
	err := c.Conn.Recv(ctx, b)
	var pe *tdcodec.ProtocolErr
	if err != nil && errors.As(err, &pe) && pe.Code == tdcodec.CodeAuthKeyNotFound {
		return ErrUpstreamKeyUnknown
	}
	return err
}

// rawQuery is a query already encoded (the client's bytes).
type rawQuery []byte

func (q rawQuery) Encode(b *tdbin.Buffer) error {
	b.Put(q)
	return nil
}

func (q rawQuery) Decode(*tdbin.Buffer) error {
	return errors.New("relay: a raw query is not decoded")
}

// rawResult keeps a result's bytes as they came.
type rawResult []byte

func (r *rawResult) Decode(b *tdbin.Buffer) error {
	*r = append((*r)[:0], b.Buf...)
	b.Skip(b.Len())
	return nil
}

// wrapQuery puts the client's query into invokeWithLayer(layer, …) and,
// for the session's first call, initConnection(the account's device, …);
// withoutUpdates keeps the client's invokeWithoutUpdates.
func wrapQuery(layer int, init *Device, withoutUpdates bool, query []byte) tdbin.Object {
	var q tdbin.Object = rawQuery(query)
	if withoutUpdates {
		q = &tdtg.InvokeWithoutUpdatesRequest{Query: q}
	}
	if init != nil {
		q = &tdtg.InitConnectionRequest{
			APIID:          init.APIID,
			DeviceModel:    init.DeviceModel,
			SystemVersion:  init.SystemVersion,
			AppVersion:     init.AppVersion,
			SystemLangCode: init.SystemLangCode,
			LangPack:       init.LangPack,
			LangCode:       init.LangCode,
			Query:          q,
		}
	}
	return &tdtg.InvokeWithLayerRequest{Layer: layer, Query: q}
}
