package vault

import (
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// The hand-off envelope is the plaintext of a sealed export: a small
// versioned binary record, so that the sealed string stays short enough
// for a chat message.
//
//	magic "TGVH", version 1
//	flags uint16 (big endian), see envFlag*
//	dc uint16
//	api_id int32 (if known), user_id int64 (if known)
//	auth key, 256 bytes
//	host: uint8 length + bytes, port uint16 (if envHasServer)
//	account name: uvarint length + bytes (if envHasName; strings made
//	  before names travelled have none, and import names them as before)
//	peers (if envHasPeers): uvarint length + raw DEFLATE of the peer records:
//	  uvarint count, then per peer: varint id, varint access_hash,
//	  uint8 type, uvarint length + username, uvarint length + phone,
//	  varint last_update_on
//
// Unknown flag bits are an error: a newer writer's envelope is refused, not
// misread.
const (
	envMagic   = "TGVH"
	envVersion = 1

	envAPIID     = 1 << 0
	envUserID    = 1 << 1
	envIsBotK    = 1 << 2
	envIsBot     = 1 << 3
	envTestK     = 1 << 4
	envTest      = 1 << 5
	envHasServer = 1 << 6
	envHasPeers  = 1 << 7
	envHasName   = 1 << 8
	envKnown     = 1<<9 - 1

	maxEnvName = 256 // checkName's limit

	maxEnvPeers   = 1 << 20
	maxEnvInflate = 64 << 20
)

var peerTypes = []storage.PeerType{storage.PeerUser, storage.PeerBot, storage.PeerGroup, storage.PeerChannel, storage.PeerSupergroup}

// envelope is what a hand-off carries.
type envelope struct {
	Session sessionstring.Session
	// Name is the account's name on the sending side ("" in strings made
	// before names travelled).
	Name  string
	Peers []storage.Peer
}

func appendUvarintString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// marshalEnvelope encodes e. The result holds the key: clear it after use.
//
// Long: one pass over the envelope's fields in the order they lie in it
// (the flags first, then each present field); in one piece it reads
// against unmarshalEnvelope line by line.
func marshalEnvelope(e *envelope) ([]byte, error) {
	s := e.Session
	if s.AuthKey.IsZero() {
		return nil, errors.New("vault: the session has no auth key")
	}
	if s.DCID < 0 || s.DCID > 0xffff {
		return nil, errors.New("vault: dc id out of range")
	}
	var flags uint16
	if s.APIID.Known() {
		flags |= envAPIID
	}
	if s.UserID.Known() {
		flags |= envUserID
	}
	if v, ok := s.IsBot.Get(); ok {
		flags |= envIsBotK
		if v {
			flags |= envIsBot
		}
	}
	if v, ok := s.TestMode.Get(); ok {
		flags |= envTestK
		if v {
			flags |= envTest
		}
	}
	host, hok := s.Host.Get()
	port, pok := s.Port.Get()
	if hok && pok && len(host) <= 255 && port >= 0 && port <= 0xffff {
		flags |= envHasServer
	}
	if e.Peers != nil {
		flags |= envHasPeers
	}
	if e.Name != "" {
		if len(e.Name) > maxEnvName {
			return nil, errors.New("vault: account name too long for a hand-off")
		}
		flags |= envHasName
	}
	b := make([]byte, 0, 300)
	b = append(b, envMagic...)
	b = append(b, envVersion)
	b = binary.BigEndian.AppendUint16(b, flags)
	b = binary.BigEndian.AppendUint16(b, uint16(s.DCID))
	if v, ok := s.APIID.Get(); ok {
		b = binary.BigEndian.AppendUint32(b, uint32(v))
	}
	if v, ok := s.UserID.Get(); ok {
		b = binary.BigEndian.AppendUint64(b, uint64(v))
	}
	b = s.AuthKey.AppendTo(b)
	if flags&envHasServer != 0 {
		b = append(b, byte(len(host)))
		b = append(b, host...)
		b = binary.BigEndian.AppendUint16(b, uint16(port))
	}
	if flags&envHasName != 0 {
		b = appendUvarintString(b, e.Name)
	}
	if flags&envHasPeers != 0 {
		var raw []byte
		raw = binary.AppendUvarint(raw, uint64(len(e.Peers)))
		for _, p := range e.Peers {
			t := -1
			for i, pt := range peerTypes {
				if pt == p.Type {
					t = i
				}
			}
			if t < 0 {
				return nil, fmt.Errorf("vault: peer of unknown type %q", p.Type)
			}
			raw = binary.AppendVarint(raw, p.ID)
			raw = binary.AppendVarint(raw, p.AccessHash)
			raw = append(raw, byte(t))
			raw = appendUvarintString(raw, p.Username)
			raw = appendUvarintString(raw, p.Phone)
			raw = binary.AppendVarint(raw, p.LastUpdateOn)
		}
		var z bytes.Buffer
		w, _ := flate.NewWriter(&z, flate.BestCompression)
		_, _ = w.Write(raw)
		if err := w.Close(); err != nil {
			return nil, err
		}
		b = binary.AppendUvarint(b, uint64(z.Len()))
		b = append(b, z.Bytes()...)
	}
	return b, nil
}

var errEnvelope = fmt.Errorf("%w: not a tgvault hand-off envelope", ErrBadInput)

type envReader struct {
	b   []byte
	err error
}

func (r *envReader) take(n int) []byte {
	if r.err != nil || n < 0 || len(r.b) < n {
		r.err = errEnvelope
		return nil
	}
	p := r.b[:n]
	r.b = r.b[n:]
	return p
}

func (r *envReader) uvarint() uint64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.err = errEnvelope
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *envReader) varint() int64 {
	if r.err != nil {
		return 0
	}
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.err = errEnvelope
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *envReader) str() string {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.err = errEnvelope
		return ""
	}
	return string(r.take(int(n)))
}

// isEnvelope reports whether b starts like an envelope.
func isEnvelope(b []byte) bool { return bytes.HasPrefix(b, []byte(envMagic)) }

// unmarshalEnvelope decodes an envelope. Every error matches ErrBadInput
// and holds nothing from the input.
//
// Long: the mirror of marshalEnvelope, field by field in the same order.
func unmarshalEnvelope(b []byte) (*envelope, error) {
	r := &envReader{b: b}
	if string(r.take(len(envMagic))) != envMagic {
		return nil, errEnvelope
	}
	if v := r.take(1); r.err == nil && v[0] != envVersion {
		return nil, fmt.Errorf("%w: hand-off envelope version %d is not supported", ErrBadInput, v[0])
	}
	hdr := r.take(4)
	if r.err != nil {
		return nil, r.err
	}
	flags := binary.BigEndian.Uint16(hdr)
	if flags&^envKnown != 0 {
		return nil, fmt.Errorf("%w: hand-off envelope has unknown flags", ErrBadInput)
	}
	var s sessionstring.Session
	s.DCID = int(binary.BigEndian.Uint16(hdr[2:]))
	if flags&envAPIID != 0 {
		if p := r.take(4); r.err == nil {
			s.APIID = sessionstring.Some(int32(binary.BigEndian.Uint32(p)))
		}
	}
	if flags&envUserID != 0 {
		if p := r.take(8); r.err == nil {
			s.UserID = sessionstring.Some(int64(binary.BigEndian.Uint64(p)))
		}
	}
	if flags&envIsBotK != 0 {
		s.IsBot = sessionstring.Some(flags&envIsBot != 0)
	} else if flags&envIsBot != 0 {
		return nil, errEnvelope
	}
	if flags&envTestK != 0 {
		s.TestMode = sessionstring.Some(flags&envTest != 0)
	} else if flags&envTest != 0 {
		return nil, errEnvelope
	}
	key := r.take(sessionstring.AuthKeySize)
	if r.err != nil {
		return nil, r.err
	}
	var err error
	if s.AuthKey, err = sessionstring.NewAuthKey(key); err != nil {
		return nil, fmt.Errorf("%w: the hand-off holds an invalid auth key", ErrBadInput)
	}
	if flags&envHasServer != 0 {
		n := r.take(1)
		if r.err == nil {
			host := string(r.take(int(n[0])))
			p := r.take(2)
			if r.err == nil {
				s.Host = sessionstring.Some(host)
				s.Port = sessionstring.Some(int(binary.BigEndian.Uint16(p)))
			}
		}
	}
	e := &envelope{Session: s}
	if flags&envHasName != 0 {
		n := r.uvarint()
		if n == 0 || n > maxEnvName {
			return nil, errEnvelope
		}
		e.Name = string(r.take(int(n)))
		if r.err == nil && checkName(e.Name) != nil {
			return nil, fmt.Errorf("%w: the hand-off's account name is invalid", ErrBadInput)
		}
	}
	if flags&envHasPeers != 0 {
		n := r.uvarint()
		if n > uint64(len(r.b)) {
			return nil, errEnvelope
		}
		z := r.take(int(n))
		if r.err != nil {
			return nil, r.err
		}
		raw, err := io.ReadAll(io.LimitReader(flate.NewReader(bytes.NewReader(z)), maxEnvInflate+1))
		if err != nil || len(raw) > maxEnvInflate {
			return nil, errEnvelope
		}
		if e.Peers, err = readPeers(raw); err != nil {
			return nil, err
		}
	}
	if r.err != nil {
		return nil, r.err
	}
	if len(r.b) != 0 {
		return nil, fmt.Errorf("%w: trailing data after the hand-off envelope", ErrBadInput)
	}
	return e, nil
}

func readPeers(raw []byte) ([]storage.Peer, error) {
	r := &envReader{b: raw}
	n := r.uvarint()
	if r.err != nil || n > maxEnvPeers || n > uint64(len(raw)) {
		return nil, errEnvelope
	}
	peers := make([]storage.Peer, 0, n)
	for range n {
		var p storage.Peer
		p.ID = r.varint()
		p.AccessHash = r.varint()
		t := r.take(1)
		if r.err != nil {
			return nil, r.err
		}
		if int(t[0]) >= len(peerTypes) {
			return nil, errEnvelope
		}
		p.Type = peerTypes[t[0]]
		p.Username = r.str()
		p.Phone = r.str()
		p.LastUpdateOn = r.varint()
		if r.err != nil {
			return nil, r.err
		}
		peers = append(peers, p)
	}
	if len(r.b) != 0 {
		return nil, errEnvelope
	}
	return peers, nil
}
