package vault

import (
	"encoding/binary"
	"errors"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
)

// The index is a compact binary record (it is listed on every `tgvault
// list`, and JSON made that 30 times slower at 10,000 accounts):
//
//	magic "TGVI", version 2, vault id (string), migrated_to (string, "" if
//	the vault was not migrated), uvarint count, then per account: name, id
//	(strings), flags uint8 (see idx*), user_id varint (if known), dc
//	uvarint, api_id varint (if known), auth key id (8 bytes, little endian,
//	if known), status, reason (strings), peers uvarint, revision uvarint,
//	source (string), created and updated (varint unix seconds, uvarint
//	nanoseconds).
//
// Version 1 (before one key, one account) has no migrated_to and no key
// ids; it is read, and written back as version 2 by the next write
// (upgradeIndex fills the key ids in).
//
// Strings are uvarint length + bytes. The index is sealed, so damage shows
// as a failure to open; the decoder is still strict and bounded.
const (
	indexMagic     = "TGVI"
	indexVersionV1 = 1
	indexVersion   = 2

	idxUser    = 1 << 0
	idxBotK    = 1 << 1
	idxBot     = 1 << 2
	idxTestK   = 1 << 3
	idxTest    = 1 << 4
	idxAPI     = 1 << 5
	idxKeyID   = 1 << 6 // version 2
	idxKnownV1 = 1<<6 - 1
	idxKnown   = 1<<7 - 1
	maxIdxLen  = 1 << 30
)

var errIndexFormat = errors.New("vault: index format")

func appendOptBool(b byte, o sessionstring.Opt[bool], known, val byte) byte {
	if v, ok := o.Get(); ok {
		b |= known
		if v {
			b |= val
		}
	}
	return b
}

func appendTime(b []byte, t time.Time) []byte {
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

func marshalIndex(x *index) []byte {
	b := make([]byte, 0, 64+len(x.Accounts)*160)
	b = append(b, indexMagic...)
	b = append(b, indexVersion)
	b = appendUvarintString(b, x.VaultID)
	b = appendUvarintString(b, x.MigratedTo)
	b = binary.AppendUvarint(b, uint64(len(x.Accounts)))
	for i := range x.Accounts {
		a := &x.Accounts[i]
		b = appendUvarintString(b, a.Name)
		b = appendUvarintString(b, a.ID)
		var fl byte
		if a.UserID.Known() {
			fl |= idxUser
		}
		if a.APIID.Known() {
			fl |= idxAPI
		}
		kid, kidOK := a.keyID()
		if kidOK {
			fl |= idxKeyID
		}
		fl = appendOptBool(fl, a.IsBot, idxBotK, idxBot)
		fl = appendOptBool(fl, a.TestMode, idxTestK, idxTest)
		b = append(b, fl)
		if v, ok := a.UserID.Get(); ok {
			b = binary.AppendVarint(b, v)
		}
		b = binary.AppendUvarint(b, uint64(a.DCID))
		if v, ok := a.APIID.Get(); ok {
			b = binary.AppendVarint(b, int64(v))
		}
		if kidOK {
			b = binary.LittleEndian.AppendUint64(b, uint64(kid))
		}
		b = appendUvarintString(b, string(a.Status))
		b = appendUvarintString(b, a.Reason)
		b = binary.AppendUvarint(b, uint64(a.Peers))
		b = binary.AppendUvarint(b, a.Revision)
		b = appendUvarintString(b, a.Source)
		b = appendTime(b, a.Created)
		b = appendTime(b, a.Updated)
	}
	return b
}

func (r *envReader) time() time.Time {
	s := r.varint()
	ns := r.uvarint()
	if ns >= 1e9 {
		r.err = errIndexFormat
	}
	if r.err != nil {
		return time.Time{}
	}
	return time.Unix(s, int64(ns)).UTC()
}

func unmarshalIndex(b []byte) (*index, error) {
	if len(b) > maxIdxLen {
		return nil, errIndexFormat
	}
	r := &envReader{b: b}
	if string(r.take(len(indexMagic))) != indexMagic {
		return nil, errIndexFormat
	}
	v := r.take(1)
	if r.err != nil || (v[0] != indexVersion && v[0] != indexVersionV1) {
		return nil, errIndexFormat
	}
	x := &index{Version: int(v[0]), VaultID: r.str()}
	known := byte(idxKnownV1)
	if x.Version >= 2 {
		x.MigratedTo = r.str()
		known = idxKnown
	}
	n := r.uvarint()
	if r.err != nil || n > uint64(len(r.b)) {
		return nil, errIndexFormat
	}
	x.Accounts = make([]Account, n)
	for i := range x.Accounts {
		a := &x.Accounts[i]
		a.Name = r.str()
		a.ID = r.str()
		fl := r.take(1)
		if r.err != nil {
			return nil, errIndexFormat
		}
		if fl[0]&^known != 0 {
			return nil, errIndexFormat
		}
		if fl[0]&idxUser != 0 {
			a.UserID = sessionstring.Some(r.varint())
		}
		dc := r.uvarint()
		if dc > 0xffff {
			return nil, errIndexFormat
		}
		a.DCID = int(dc)
		if fl[0]&idxAPI != 0 {
			a.APIID = sessionstring.Some(int32(r.varint()))
		}
		if fl[0]&idxKeyID != 0 {
			if k := r.take(8); r.err == nil {
				a.setKeyID(sessionstring.KeyID(binary.LittleEndian.Uint64(k)))
			}
		}
		if fl[0]&idxBotK != 0 {
			a.IsBot = sessionstring.Some(fl[0]&idxBot != 0)
		}
		if fl[0]&idxTestK != 0 {
			a.TestMode = sessionstring.Some(fl[0]&idxTest != 0)
		}
		a.Status = AccountStatus(r.str())
		a.Reason = r.str()
		a.Peers = int(r.uvarint() & (1<<31 - 1))
		a.Revision = r.uvarint()
		a.Source = r.str()
		a.Created = r.time()
		a.Updated = r.time()
		if r.err != nil {
			return nil, errIndexFormat
		}
	}
	if len(r.b) != 0 {
		return nil, errIndexFormat
	}
	return x, nil
}
