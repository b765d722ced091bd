package mtserver

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"

	tdobfs2 "github.com/gotd/td/mtproxy/obfuscated2"
	tdcodec "github.com/gotd/td/proto/codec"
	tdtransport "github.com/gotd/td/transport"
)

// Transport names the MTProto transport of a connection, as
// https://core.telegram.org/mtproto/mtproto-transports names them.
type Transport string

// The transports the server accepts. Obfuscated2 is the transport inside,
// with Obfuscated set on the connection.
const (
	Abridged           Transport = "abridged"
	Intermediate       Transport = "intermediate"
	PaddedIntermediate Transport = "padded-intermediate"
	Full               Transport = "full"
)

// prefixConn is a net.Conn whose reads come from r (bytes already read from
// the connection, then the rest) and whose writes go to w.
type prefixConn struct {
	net.Conn
	r io.Reader
	w io.Writer
}

func (c *prefixConn) Read(p []byte) (int, error)  { return c.r.Read(p) }
func (c *prefixConn) Write(p []byte) (int, error) { return c.w.Write(p) }

// oneConn is a listener that yields one connection: it lets gotd's
// transport package pick the codec of a connection already accepted.
type oneConn struct {
	c    net.Conn
	done bool
}

func (l *oneConn) Accept() (net.Conn, error) {
	if l.done {
		return nil, net.ErrClosed
	}
	l.done = true
	return l.c, nil
}
func (l *oneConn) Close() error   { return nil }
func (l *oneConn) Addr() net.Addr { return l.c.LocalAddr() }

// transportInfo is what the first bytes of a connection told.
type transportInfo struct {
	transport  Transport
	obfuscated bool
	dc         int // the DC id of an obfuscated2 header (0 without one)
}

// detect reads the first bytes of nc, tells the transport and returns the
// gotd transport connection that speaks it.
//
// The first byte 0xef is abridged; the first four 0xeeeeeeee intermediate
// and 0xdddddddd padded intermediate. Otherwise the connection is full
// (the first four bytes a length and the next four the sequence number 0)
// or obfuscated2, whose 64-byte header never has zero in bytes 4–8 (the
// clients draw it again until it has not).
func detect(nc net.Conn) (tdtransport.Conn, transportInfo, error) {
	var head [64]byte
	if _, err := io.ReadFull(nc, head[:1]); err != nil {
		return nil, transportInfo{}, err
	}
	plain := func(n int, t Transport) (tdtransport.Conn, transportInfo, error) {
		c := &prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(head[:n])), nc), w: nc}
		tc, err := tdtransport.Listen(&oneConn{c: c}).Accept()
		return tc, transportInfo{transport: t}, err
	}
	if head[0] == tdcodec.AbridgedClientStart[0] {
		return plain(1, Abridged)
	}
	if _, err := io.ReadFull(nc, head[1:8]); err != nil {
		return nil, transportInfo{}, err
	}
	switch [4]byte(head[:4]) {
	case tdcodec.IntermediateClientStart:
		return plain(8, Intermediate)
	case tdcodec.PaddedIntermediateClientStart:
		return plain(8, PaddedIntermediate)
	}
	if binary.LittleEndian.Uint32(head[4:8]) == 0 {
		return plain(8, Full)
	}
	if _, err := io.ReadFull(nc, head[8:]); err != nil {
		return nil, transportInfo{}, err
	}
	rw, md, err := tdobfs2.Accept(&prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(head[:])), nc), w: nc}, nil)
	if err != nil {
		return nil, transportInfo{}, fmt.Errorf("mtserver: obfuscated2: %w", err)
	}
	info := transportInfo{obfuscated: true, dc: int(int16(md.DC))}
	tag := md.Protocol[:]
	switch md.Protocol {
	case [4]byte{0xef, 0xef, 0xef, 0xef}:
		info.transport, tag = Abridged, tag[:1]
	case tdcodec.IntermediateClientStart:
		info.transport = Intermediate
	case tdcodec.PaddedIntermediateClientStart:
		info.transport = PaddedIntermediate
	default:
		return nil, transportInfo{}, fmt.Errorf("%w: obfuscated2 tag %x", ErrUnsupportedTransport, md.Protocol)
	}
	// The rest of the stream is read through rw, which de-obfuscates it
	// (nc itself is read by rw); the tag goes first so that gotd's
	// transport picks the codec.
	c := &prefixConn{Conn: nc, r: io.MultiReader(bytes.NewReader(bytes.Clone(tag)), rw), w: rw}
	tc, err := tdtransport.Listen(&oneConn{c: c}).Accept()
	return tc, info, err
}
