package mtserver

import (
	"context"
	"encoding/binary"
	"errors"
	"sync/atomic"

	tdbin "github.com/gotd/td/bin"
	tdmt "github.com/gotd/td/mt"
	tdproto "github.com/gotd/td/proto"

	"github.com/tgvault/tgvault/sessionstring"
)

var errPeekID = errors.New("mtserver: peekID is not encodable")

// InitConnection is what a client said about itself in initConnection.
type InitConnection struct {
	APIID          int
	DeviceModel    string
	SystemVersion  string
	AppVersion     string
	SystemLangCode string
	LangPack       string
	LangCode       string
}

// Request is one RPC of a client.
//
// Its answer methods are safe for concurrent use; the first answer counts,
// later ones are sent too (as a confused server would) and the handler
// should not make them.
type Request struct {
	// Conn is the connection the RPC came on.
	Conn *Conn
	// KeyID is the auth key of the message.
	KeyID sessionstring.KeyID
	// SessionID is the client's MTProto session.
	SessionID int64
	// MsgID is the client's message id of the RPC; the answer names it.
	MsgID int64
	// Layer is the layer the RPC named in invokeWithLayer, else the one
	// the connection or, before it announced one, its key last announced
	// (Conn.Layer); 0 when none was ever announced.
	Layer int
	// Init is the initConnection the RPC came wrapped in, nil when none.
	Init *InitConnection
	// WithoutUpdates reports an RPC wrapped in invokeWithoutUpdates.
	WithoutUpdates bool
	// Body is the query: the TL bytes of the method call, unwrapped from
	// invokeWithLayer, initConnection, invokeWithoutUpdates and
	// gzip_packed, from its constructor id on. It stays valid after
	// ServeRPC returns; the handler must not change it.
	Body []byte

	sess     *session
	answered atomic.Bool
}

// TypeID returns the constructor id of the query (0 for a body shorter
// than one).
func (r *Request) TypeID() uint32 {
	if len(r.Body) < 4 {
		return 0
	}
	return binary.LittleEndian.Uint32(r.Body)
}

// Result answers the RPC with result, the TL bytes of the method's result
// (an rpc_error too, though Error says it more simply).
func (r *Request) Result(ctx context.Context, result []byte) error {
	r.answered.Store(true)
	var b tdbin.Buffer
	b.Buf = make([]byte, 0, 12+len(result))
	b.PutID(tdproto.ResultTypeID)
	b.PutLong(r.MsgID)
	b.Put(result)
	return r.sess.send(ctx, tdproto.MessageServerResponse, true, b.Buf)
}

// Encode answers the RPC with obj encoded.
func (r *Request) Encode(ctx context.Context, obj tdbin.Encoder) error {
	var b tdbin.Buffer
	if err := obj.Encode(&b); err != nil {
		return err
	}
	return r.Result(ctx, b.Buf)
}

// Error answers the RPC with rpc_error (code 400, message
// "USERNAME_INVALID", say).
func (r *Request) Error(ctx context.Context, code int, message string) error {
	return r.Encode(ctx, &tdmt.RPCError{ErrorCode: code, ErrorMessage: message})
}
