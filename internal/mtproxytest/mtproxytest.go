// Package mtproxytest is a small MTProxy for tests of code that connects
// through one. It does the real obfuscation: it accepts obfuscated2 client
// connections (gotd's server side, mtproxy/obfuscated2.Accept) for a plain
// 16-byte secret, a "dd" secret (padded intermediate only) and an "ee"
// fake-TLS secret (the ClientHello digest checked, a ServerHello signed
// with the secret, the stream carried in TLS application records). It reads
// the DC id from the obfuscated header, looks the DC up in its table and
// forwards the de-obfuscated MTProto stream to it, prefixed with the
// transport tag the client asked for, as an unobfuscated client would send
// it. It counts relayed and refused connections and the DC ids asked for.
// It is for tests only.
package mtproxytest

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	tdobfs2 "github.com/gotd/td/mtproxy/obfuscated2"

	"github.com/tgvault/tgvault/internal/loopserver"
)

// Server is a running MTProxy on loopback.
type Server struct {
	// Addr, Close, and Refused: the clients refused (wrong secret, bad
	// header, unknown DC).
	*loopserver.Server

	secret []byte // the 16 key bytes
	kind   byte   // 0 plain, 0xdd, 0xee
	dcs    map[int]string

	relayed  atomic.Int64
	mu       sync.Mutex
	asked    []int
	upstream []string // local addresses of the connections to the DCs
}

// Start starts a proxy on 127.0.0.1 with the decoded secret (16 bytes,
// dd+16 or ee+16+domain) that forwards DC id n (or -n) to dcs[n].
func Start(secret []byte, dcs map[int]string) (*Server, error) {
	s := &Server{dcs: dcs}
	switch {
	case len(secret) == 16:
		s.secret = secret
	case len(secret) == 17 && secret[0] == 0xdd:
		s.kind, s.secret = 0xdd, secret[1:]
	case len(secret) > 17 && secret[0] == 0xee:
		s.kind, s.secret = 0xee, secret[1:17]
	default:
		return nil, errors.New("mtproxytest: unsupported secret")
	}
	s.secret = append([]byte(nil), s.secret...)
	srv, err := loopserver.Start(s.handle)
	if err != nil {
		return nil, err
	}
	s.Server = srv
	return s, nil
}

// Relayed is the number of client connections forwarded to a DC.
func (s *Server) Relayed() int64 { return s.relayed.Load() }

// DCs are the DC ids asked for by accepted clients, in order.
func (s *Server) DCs() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]int(nil), s.asked...)
}

// Upstream are the local addresses of the proxy's connections to the DCs:
// the addresses the DC sees its clients come from.
func (s *Server) Upstream() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.upstream...)
}

var errRefused = errors.New("mtproxytest: client refused")

var (
	abridged = [4]byte{0xef, 0xef, 0xef, 0xef}
	interm   = [4]byte{0xee, 0xee, 0xee, 0xee}
	padded   = [4]byte{0xdd, 0xdd, 0xdd, 0xdd}
)

func (s *Server) handle(c net.Conn) error {
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	var client io.ReadWriter = c
	if s.kind == 0xee {
		tc, err := s.acceptTLS(c)
		if err != nil {
			return err
		}
		client = tc
	}
	rw, meta, err := tdobfs2.Accept(client, s.secret)
	if err != nil {
		return errRefused
	}
	_ = c.SetReadDeadline(time.Time{})
	var tag []byte
	switch meta.Protocol {
	case abridged:
		tag = abridged[:1]
	case interm:
		tag = interm[:]
	case padded:
		tag = padded[:]
	default:
		// A wrong secret decrypts the header to noise.
		return errRefused
	}
	if s.kind != 0 && meta.Protocol != padded {
		// dd and ee proxies speak padded intermediate only.
		return errRefused
	}
	dc := int(int16(meta.DC))
	if dc < 0 {
		dc = -dc
	}
	addr, ok := s.dcs[dc]
	if !ok {
		return errRefused
	}
	up, err := net.Dial("tcp", addr)
	if err != nil {
		return err
	}
	if !s.Track(up) {
		return net.ErrClosed
	}
	defer s.Untrack(up)
	s.mu.Lock()
	s.asked = append(s.asked, int(int16(meta.DC)))
	s.upstream = append(s.upstream, up.LocalAddr().String())
	s.mu.Unlock()
	if _, err := up.Write(tag); err != nil {
		return err
	}
	s.relayed.Add(1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(rw, up)
		_ = c.Close()
	}()
	_, _ = io.Copy(up, rw)
	_ = up.Close()
	<-done
	return nil
}

// TLS record types.
const (
	recChangeCipher = 0x14
	recHandshake    = 0x16
	recApplication  = 0x17
)

// acceptTLS checks a fake-TLS ClientHello (its random is the HMAC-SHA256,
// keyed with the secret, of the record with the random zeroed, the last 4
// bytes XORed with the time), answers a ServerHello signed the same way
// and returns the stream inside the application records.
func (s *Server) acceptTLS(c net.Conn) (io.ReadWriter, error) {
	br := bufio.NewReader(c)
	h, hello, err := readRecord(br)
	if err != nil || h[0] != recHandshake || len(hello) < 6+32 {
		return nil, errRefused
	}
	record := append(h[:], hello...)
	const off = 5 + 6 // record header, handshake type+length, version
	var random [32]byte
	copy(random[:], record[off:off+32])
	clear(record[off : off+32])
	mac := hmac.New(sha256.New, s.secret)
	mac.Write(record)
	want := mac.Sum(nil)
	if !hmac.Equal(want[:28], random[:28]) {
		return nil, errRefused
	}
	ts := binary.LittleEndian.Uint32(want[28:]) ^ binary.LittleEndian.Uint32(random[28:])
	if d := time.Since(time.Unix(int64(ts), 0)); d > 10*time.Minute || d < -10*time.Minute {
		return nil, errRefused
	}

	// ServerHello: handshake type 2, length, version, random (signed
	// below), an empty session id, a cipher suite and no compression.
	body := []byte{0x02, 0, 0, 0, 0x03, 0x03}
	body = append(body, make([]byte, 32)...)
	body = append(body, 0x00, 0x13, 0x01, 0x00)
	body[3] = byte(len(body) - 4)
	var resp []byte
	resp = appendRecord(resp, recHandshake, body)
	resp = appendRecord(resp, recChangeCipher, []byte{0x01})
	cert := make([]byte, 1024)
	_, _ = rand.Read(cert)
	resp = appendRecord(resp, recApplication, cert)
	mac = hmac.New(sha256.New, s.secret)
	mac.Write(random[:])
	mac.Write(resp)
	copy(resp[off:off+32], mac.Sum(nil))
	if _, err := c.Write(resp); err != nil {
		return nil, err
	}
	return &tlsStream{r: br, w: c}, nil
}

// readRecord reads a TLS record: its 5-byte header and its data.
func readRecord(r io.Reader) ([5]byte, []byte, error) {
	var h [5]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return h, nil, err
	}
	if h[1] != 0x03 {
		return h, nil, errRefused
	}
	b := make([]byte, binary.BigEndian.Uint16(h[3:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return h, nil, err
	}
	return h, b, nil
}

func appendRecord(b []byte, typ byte, data []byte) []byte {
	b = append(b, typ, 0x03, 0x03)
	b = binary.BigEndian.AppendUint16(b, uint16(len(data)))
	return append(b, data...)
}

// tlsStream is the byte stream inside TLS application records.
type tlsStream struct {
	r   io.Reader
	w   io.Writer
	buf bytes.Buffer
}

func (t *tlsStream) Read(p []byte) (int, error) {
	for t.buf.Len() == 0 {
		h, b, err := readRecord(t.r)
		if err != nil {
			return 0, err
		}
		switch h[0] {
		case recChangeCipher:
		case recApplication:
			t.buf.Write(b)
		default:
			return 0, errRefused
		}
	}
	return t.buf.Read(p)
}

func (t *tlsStream) Write(p []byte) (int, error) {
	const maxRecord = 1 << 14
	var out []byte
	for rest := p; len(rest) > 0; {
		n := min(len(rest), maxRecord)
		out = appendRecord(out, recApplication, rest[:n])
		rest = rest[n:]
	}
	if _, err := t.w.Write(out); err != nil {
		return 0, err
	}
	return len(p), nil
}
