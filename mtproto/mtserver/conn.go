package mtserver

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"net"
	"sync"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdmt "github.com/gotd/td/mt"
	tdproto "github.com/gotd/td/proto"
	tdcodec "github.com/gotd/td/proto/codec"
	tdtg "github.com/gotd/td/tg"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/sessionstring"
)

// Conn is one client connection.
type Conn struct {
	s      *Server
	nc     net.Conn
	tc     tdtransport.Conn
	info   transportInfo
	ctx    context.Context    // ends when the connection closes
	cancel context.CancelFunc // ends ctx (the server's Close)

	// Under s.mu.
	bound sessionstring.KeyID // the key in use, 0 before the first encrypted message
	dup   bool                // bound while another connection used the key
	layer int                 // the last layer the connection announced
	init  *InitConnection     // the last initConnection of the connection

	wmu  sync.Mutex // serializes writes, and guards the sessions' sequence numbers
	last *session   // the session of the last message, for pushes; under wmu

	pmu  sync.Mutex
	ping *time.Timer // ping_delay_disconnect's timer; under pmu
	done bool        // the connection ended: no timer any more; under pmu
}

// session is one MTProto session of one key on one connection.
type session struct {
	c     *Conn
	key   tdcrypto.AuthKey
	keyID sessionstring.KeyID
	id    int64
	salt  int64
	seq   int32 // content-related messages sent; under c.wmu
}

type sessionKey struct {
	key sessionstring.KeyID
	id  int64
}

// KeyID returns the auth key the connection uses (0 before its first
// encrypted message).
func (c *Conn) KeyID() sessionstring.KeyID {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.bound
}

// Duplicate reports whether the connection started using its key while
// another open connection was using it.
func (c *Conn) Duplicate() bool {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.dup
}

// Layer returns the layer the connection announced with invokeWithLayer;
// before it announced one, the last one its key announced on another
// connection; 0 when neither did.
func (c *Conn) Layer() int {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	if c.layer != 0 {
		return c.layer
	}
	return c.s.layers[c.bound]
}

// Init returns the connection's last initConnection, nil before one.
func (c *Conn) Init() *InitConnection {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.init
}

// DC returns the DC id of the server the connection is to.
func (c *Conn) DC() int { return c.s.dc }

// Context returns a context that ends when the connection closes.
func (c *Conn) Context() context.Context { return c.ctx }

// Transport returns the connection's transport.
func (c *Conn) Transport() Transport { return c.info.transport }

// Obfuscated reports whether the transport runs inside obfuscated2.
func (c *Conn) Obfuscated() bool { return c.info.obfuscated }

// ObfuscatedDC returns the DC id the client put in its obfuscated2 header
// (negative for a media DC, plus 10000 for a test DC), 0 without one.
func (c *Conn) ObfuscatedDC() int { return c.info.dc }

// RemoteAddr returns the client's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// Close closes the connection.
func (c *Conn) Close() error { return c.nc.Close() }

// Push sends body (a TL object: Updates, say) as a message from the server,
// as Telegram sends updates, on the session of the connection's last
// message. It returns ErrNoSession before the first message.
func (c *Conn) Push(ctx context.Context, body []byte) error {
	c.wmu.Lock()
	sess := c.last
	c.wmu.Unlock()
	if sess == nil {
		return ErrNoSession
	}
	return sess.send(ctx, tdproto.MessageFromServer, true, body)
}

// send encrypts body as one message of the session and writes it.
func (sess *session) send(ctx context.Context, t tdproto.MessageType, content bool, body []byte) error {
	c := sess.c
	c.wmu.Lock()
	defer c.wmu.Unlock()
	seq := sess.seq * 2
	if content {
		seq++
		sess.seq++
	}
	data := tdcrypto.EncryptedMessageData{
		Salt:                   sess.salt,
		SessionID:              sess.id,
		MessageID:              c.s.msgID.New(t),
		SeqNo:                  seq,
		MessageDataLen:         int32(len(body)),
		MessageDataWithPadding: body,
	}
	var out tdbin.Buffer
	if err := c.s.cipher.Encrypt(sess.key, data, &out); err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	if err := c.tc.Send(wctx, &out); err != nil {
		// A client that does not read within the timeout, or a broken
		// connection: it ends here, its reader sees the close.
		_ = c.nc.Close()
		return ErrClosed
	}
	return nil
}

// sendObj encodes obj and sends it.
func (sess *session) sendObj(ctx context.Context, t tdproto.MessageType, content bool, obj tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := obj.Encode(&b); err != nil {
		return err
	}
	return sess.send(ctx, t, content, b.Buf)
}

func (c *Conn) sendTransportError(ctx context.Context, code int32) error {
	var b tdbin.Buffer
	b.PutInt32(-code)
	wctx, cancel := context.WithTimeout(ctx, c.s.timeout)
	defer cancel()
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.tc.Send(wctx, &b)
}

// delayDisconnect (re)arms the connection's ping_delay_disconnect timer:
// unless another such ping comes first, the server closes the connection
// after delay seconds.
func (c *Conn) delayDisconnect(delay int) {
	c.s.countPingDelay(delay)
	c.pmu.Lock()
	defer c.pmu.Unlock()
	if c.done {
		return
	}
	if c.ping != nil {
		c.ping.Stop()
	}
	c.ping = time.AfterFunc(time.Duration(delay)*time.Second, func() {
		c.pmu.Lock()
		defer c.pmu.Unlock()
		if c.done {
			return
		}
		c.done = true
		c.s.countPingDisconnect()
		_ = c.nc.Close()
	})
}

// stopPingTimer ends the connection's ping_delay_disconnect timer.
func (c *Conn) stopPingTimer() {
	c.pmu.Lock()
	defer c.pmu.Unlock()
	c.done = true
	if c.ping != nil {
		c.ping.Stop()
	}
}

// replayConn gives back the first frame again, for the key exchange.
type replayConn struct {
	tdtransport.Conn
	first []byte
}

func (c *replayConn) Recv(ctx context.Context, b *tdbin.Buffer) error {
	if c.first != nil {
		b.ResetTo(c.first)
		c.first = nil
		return nil
	}
	return c.Conn.Recv(ctx, b)
}

func (s *Server) serveConn(ctx context.Context, nc net.Conn) {
	_ = nc.SetReadDeadline(time.Now().Add(s.timeout))
	tc, info, err := detect(nc)
	if err != nil {
		return
	}
	_ = nc.SetReadDeadline(time.Time{})
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	c := &Conn{s: s, nc: nc, tc: tc, info: info, ctx: ctx, cancel: cancel}
	defer s.unbind(c)
	defer c.stopPingTimer()

	sessions := map[sessionKey]*session{}
	var zero [8]byte
	b := new(tdbin.Buffer)
	for {
		b.Reset()
		rctx, rcancel := context.WithTimeout(ctx, s.timeout)
		err := tc.Recv(rctx, b)
		rcancel()
		if err != nil {
			return
		}
		var raw [8]byte
		if err := b.PeekN(raw[:], len(raw)); err != nil {
			return
		}
		if raw == zero {
			if err := s.exchange(ctx, c, b.Copy()); err != nil {
				return
			}
			continue
		}
		key, id, ok := s.lookupKey(raw)
		if !ok {
			// The transport error that makes clients create a new key.
			if err := c.sendTransportError(ctx, tdcodec.CodeAuthKeyNotFound); err != nil {
				return
			}
			continue
		}
		s.bind(c, id)
		var m tdcrypto.EncryptedMessage
		if err := m.DecodeWithoutCopy(b); err != nil {
			return
		}
		msg, err := s.cipher.Decrypt(key, &m)
		if err != nil {
			return
		}
		sk := sessionKey{key: id, id: msg.SessionID}
		sess, ok := sessions[sk]
		if !ok {
			sess = &session{c: c, key: key, keyID: id, id: msg.SessionID, salt: randInt64()}
			sessions[sk] = sess
			if err := sess.sendObj(ctx, tdproto.MessageFromServer, true, &tdmt.NewSessionCreated{
				FirstMsgID: msg.MessageID,
				UniqueID:   randInt64(),
				ServerSalt: sess.salt,
			}); err != nil {
				return
			}
		}
		c.wmu.Lock()
		c.last = sess
		c.wmu.Unlock()
		p := &packet{sess: sess}
		if err := c.handle(ctx, p, msg.MessageID, msg.Data()); err != nil {
			return
		}
		if err := p.ack(ctx); err != nil {
			return
		}
	}
}

// packet is what one encrypted message from the client brought.
type packet struct {
	sess *session
	rpcs []*Request // to acknowledge unless answered by the end of the packet
}

// ack acknowledges the RPCs of the packet its handler did not answer yet,
// as Telegram does for a call that takes a while.
func (p *packet) ack(ctx context.Context) error {
	var ids []int64
	for _, r := range p.rpcs {
		if !r.answered.Load() {
			ids = append(ids, r.MsgID)
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return p.sess.sendObj(ctx, tdproto.MessageServerResponse, false, &tdmt.MsgsAck{MsgIDs: ids})
}

func (c *Conn) handle(ctx context.Context, p *packet, msgID int64, body []byte) error {
	b := &tdbin.Buffer{Buf: body}
	id, err := b.PeekID()
	if err != nil {
		return err
	}
	sess := p.sess
	switch id {
	case tdproto.MessageContainerTypeID:
		var cont tdproto.MessageContainer
		if err := cont.Decode(b); err != nil {
			return err
		}
		for _, m := range cont.Messages {
			if err := c.handle(ctx, p, m.ID, m.Body); err != nil {
				return err
			}
		}
		return nil
	case tdproto.GZIPTypeID:
		var gz tdproto.GZIP
		if err := gz.Decode(b); err != nil {
			return err
		}
		return c.handle(ctx, p, msgID, gz.Data)
	case tdmt.PingRequestTypeID:
		var req tdmt.PingRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		return sess.sendObj(ctx, tdproto.MessageServerResponse, true, &tdmt.Pong{MsgID: msgID, PingID: req.PingID})
	case tdmt.PingDelayDisconnectRequestTypeID:
		var req tdmt.PingDelayDisconnectRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		c.delayDisconnect(req.DisconnectDelay)
		return sess.sendObj(ctx, tdproto.MessageServerResponse, true, &tdmt.Pong{MsgID: msgID, PingID: req.PingID})
	case tdmt.GetFutureSaltsRequestTypeID:
		return sess.sendObj(ctx, tdproto.MessageServerResponse, true, &tdmt.FutureSalts{
			ReqMsgID: msgID,
			Now:      int(time.Now().Unix()),
			Salts:    []tdmt.FutureSalt{{ValidSince: 1, ValidUntil: 1<<31 - 1, Salt: sess.salt}},
		})
	case tdmt.DestroySessionRequestTypeID:
		var req tdmt.DestroySessionRequest
		if err := req.Decode(b); err != nil {
			return err
		}
		return sess.sendObj(ctx, tdproto.MessageServerResponse, true, &tdmt.DestroySessionOk{SessionID: req.SessionID})
	case tdmt.RPCDropAnswerRequestTypeID:
		var b2 tdbin.Buffer
		if err := (&tdmt.RPCAnswerUnknown{}).Encode(&b2); err != nil {
			return err
		}
		return sess.sendObj(ctx, tdproto.MessageServerResponse, true, &tdproto.Result{RequestMessageID: msgID, Result: b2.Buf})
	case tdmt.MsgsAckTypeID, tdmt.MsgsStateReqTypeID, tdmt.MsgResendReqTypeID, tdmt.HTTPWaitRequestTypeID:
		return nil
	}
	req, err := c.newRequest(sess, msgID, b)
	if err != nil {
		return err
	}
	p.rpcs = append(p.rpcs, req)
	return c.s.handler.ServeRPC(ctx, req)
}

// newRequest unwraps an RPC from invokeWithLayer, initConnection,
// invokeWithoutUpdates and gzip_packed, in any order.
func (c *Conn) newRequest(sess *session, msgID int64, b *tdbin.Buffer) (*Request, error) {
	req := &Request{Conn: c, KeyID: sess.keyID, SessionID: sess.id, MsgID: msgID, sess: sess}
	for {
		id, err := b.PeekID()
		if err != nil {
			return nil, err
		}
		switch id {
		case tdtg.InvokeWithLayerRequestTypeID:
			w := tdtg.InvokeWithLayerRequest{Query: peekID{}}
			if err := w.Decode(b); err != nil {
				return nil, err
			}
			req.Layer = w.Layer
			c.s.setLayer(c, w.Layer)
			continue
		case tdtg.InitConnectionRequestTypeID:
			w := tdtg.InitConnectionRequest{Query: peekID{}}
			if err := w.Decode(b); err != nil {
				return nil, err
			}
			req.Init = &InitConnection{
				APIID: w.APIID, DeviceModel: w.DeviceModel, SystemVersion: w.SystemVersion,
				AppVersion: w.AppVersion, SystemLangCode: w.SystemLangCode, LangPack: w.LangPack, LangCode: w.LangCode,
			}
			c.s.mu.Lock()
			c.init = req.Init
			c.s.mu.Unlock()
			continue
		case tdtg.InvokeWithoutUpdatesRequestTypeID:
			if err := (&tdtg.InvokeWithoutUpdatesRequest{Query: peekID{}}).Decode(b); err != nil {
				return nil, err
			}
			req.WithoutUpdates = true
			continue
		case tdproto.GZIPTypeID:
			var gz tdproto.GZIP
			if err := gz.Decode(b); err != nil {
				return nil, err
			}
			b = &tdbin.Buffer{Buf: gz.Data}
			continue
		}
		break
	}
	req.Body = b.Buf
	if req.Layer == 0 {
		req.Layer = c.Layer()
	}
	return req, nil
}

// peekID decodes nothing: it lets a wrapper be decoded up to its inner
// query.
type peekID struct{}

func (peekID) Decode(*tdbin.Buffer) error { return nil }
func (peekID) Encode(*tdbin.Buffer) error { return errPeekID }

func randInt64() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
}
