package mtproto

import (
	"bytes"
	"crypto/md5" // #nosec G501: Telegram Desktop's file checksum, not a security check
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"sync"

	tdsession "github.com/gotd/td/session"
	tdtdesktop "github.com/gotd/td/session/tdesktop"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// Telegram Desktop (tdata) errors. None of them carries the passcode or key
// material.
var (
	// ErrNotTData reports a directory that has no key_data file: not a
	// Telegram Desktop tdata folder.
	ErrNotTData = errors.New("mtproto: not a Telegram Desktop tdata folder (no key_data file)")
	// ErrTDataPasscode reports a tdata folder protected by a local passcode
	// when none was given.
	ErrTDataPasscode = errors.New("mtproto: the tdata folder has a local passcode")
	// ErrTDataWrongPasscode reports a passcode that does not open the
	// tdata folder.
	ErrTDataWrongPasscode = errors.New("mtproto: wrong tdata passcode")
	// ErrTDataCorrupt reports a tdata folder whose files are truncated,
	// tampered with or hold no usable account.
	ErrTDataCorrupt = errors.New("mtproto: corrupt tdata folder")
)

// MaxTDataFile bounds the size of one tdata file ReadTData reads: key_data
// and an account's data file are a few hundred bytes, its config a few KiB.
const MaxTDataFile = 1 << 20

// SourceTData is the source name of sessions read from a tdata folder.
const SourceTData = "tdesktop"

// IsTData reports whether dir looks like a Telegram Desktop tdata folder
// (it has a key_data file in one of Telegram Desktop's three variants).
func IsTData(dir string) bool {
	_, err := keyDataName(os.DirFS(dir))
	return err == nil
}

func keyDataName(fsys fs.FS) (string, error) {
	for _, suf := range []string{"s", "0", "1"} {
		n := "key_data" + suf
		if st, err := fs.Stat(fsys, n); err == nil && st.Mode().IsRegular() {
			return n, nil
		}
	}
	return "", ErrNotTData
}

// ReadTData reads the accounts of the Telegram Desktop tdata folder dir,
// one Session per account, in Telegram Desktop's account order. passcode is
// the local passcode (empty when the folder has none).
//
// What a tdata folder carries: the user id, the main DC and its auth key
// (keys for other DCs are dropped: tgvault keeps the main one), and, when
// the account has a config file, the environment (test or production) and
// the main DC's address. Telegram Desktop logs in users only, so IsBot is
// false. It does not carry the api_id (the official app's is 2040, but
// forks use their own): APIID is unknown. Without a config file TestMode,
// Host and Port are unknown; they are never guessed from gotd's built-in
// DC table.
func ReadTData(dir string, passcode crypto.Passphrase) ([]sessionstring.Session, error) {
	return ReadTDataFS(os.DirFS(dir), passcode)
}

// ReadTDataFS is ReadTData over a file system whose root is the tdata
// folder.
func ReadTDataFS(fsys fs.FS, passcode crypto.Passphrase) (_ []sessionstring.Session, err error) {
	name, err := keyDataName(fsys)
	if err != nil {
		return nil, err
	}
	kd, err := readLimited(fsys, name)
	if err != nil {
		return nil, err
	}
	if err := checkKeyData(kd); err != nil {
		return nil, err
	}
	rec := &recordFS{inner: fsys}
	defer func() {
		// gotd's reader indexes decrypted data without bounds checks; a
		// crafted folder (whose checksums and hashes were recomputed)
		// must not crash the caller.
		if r := recover(); r != nil {
			err = fmt.Errorf("%w: malformed account data", ErrTDataCorrupt)
		}
	}()
	accounts, err := tdtdesktop.ReadFS(rec, passcode)
	if err != nil {
		switch {
		case errors.Is(err, tdtdesktop.ErrNoAccounts):
			return nil, fmt.Errorf("%w: it holds no accounts", ErrTDataCorrupt)
		case rec.pastKeyData():
			// The local key opened, so the passcode is right; an
			// account's files are bad.
			return nil, fmt.Errorf("%w: an account's data file is missing or damaged", ErrTDataCorrupt)
		case errors.Is(err, tdtdesktop.ErrKeyInfoDecrypt):
			return nil, fmt.Errorf("%w: key_data is damaged", ErrTDataCorrupt)
		case len(passcode) == 0:
			// key_data's checksum is right (checkKeyData) but its
			// local key did not decrypt without a passcode.
			return nil, ErrTDataPasscode
		}
		return nil, ErrTDataWrongPasscode
	}
	out := make([]sessionstring.Session, 0, len(accounts))
	for i, a := range accounts {
		// gotd ignores a config it cannot read and leaves the zero
		// config; a config that was read has non-zero limits.
		config := a.Config.ChatSizeMax != 0 || len(a.Config.DCOptions.Options) > 0
		s, err := tdataSession(a, config)
		if err != nil {
			return nil, fmt.Errorf("account %d: %w", i+1, err)
		}
		out = append(out, s)
	}
	return out, nil
}

func tdataSession(a tdtdesktop.Account, config bool) (sessionstring.Session, error) {
	d, err := tdsession.TDesktopSession(a)
	if err != nil {
		return sessionstring.Session{}, fmt.Errorf("%w: no auth key for the main DC", ErrTDataCorrupt)
	}
	defer clear(d.AuthKey)
	key, err := sessionstring.NewAuthKey(d.AuthKey)
	if err != nil {
		return sessionstring.Session{}, fmt.Errorf("%w: bad auth key", ErrTDataCorrupt)
	}
	for dc, k := range a.Authorization.Keys {
		clear(k[:])
		a.Authorization.Keys[dc] = k
	}
	uid := a.Authorization.UserID
	if uid == 0 || uid > 1<<62 || d.DC <= 0 {
		return sessionstring.Session{}, fmt.Errorf("%w: bad user id or DC", ErrTDataCorrupt)
	}
	s := sessionstring.Session{
		DCID:    d.DC,
		AuthKey: key,
		UserID:  sessionstring.Some(int64(uid)),
		IsBot:   sessionstring.Some(false),
	}
	if config {
		s.TestMode = sessionstring.Some(a.Config.Environment.Test())
		for _, o := range a.Config.DCOptions.Options {
			if int(o.ID) == d.DC && !o.IPv6() && !o.MediaOnly() && !o.CDN() && !o.TCPOOnly() && o.IP != "" {
				s.Host = sessionstring.Some(o.IP)
				s.Port = sessionstring.Some(int(o.Port))
				break
			}
		}
	}
	return s, nil
}

// checkKeyData checks key_data's frame (magic and MD5 checksum) and the
// shape of its salt and encrypted key, so that a failure to decrypt what
// passes means a wrong passcode, not damage.
func checkKeyData(b []byte) error {
	corrupt := fmt.Errorf("%w: key_data is truncated or damaged", ErrTDataCorrupt)
	if len(b) < 8+16 || !bytes.Equal(b[:4], []byte("TDF$")) {
		return corrupt
	}
	version, data, sum := b[4:8], b[8:len(b)-16], b[len(b)-16:]
	h := md5.New() // #nosec G401
	h.Write(data)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(data)))
	h.Write(n[:])
	h.Write(version)
	h.Write([]byte("TDF$"))
	if !bytes.Equal(h.Sum(nil), sum) {
		return corrupt
	}
	salt, rest, ok := qtArray(data)
	if !ok || len(salt) != 32 {
		return corrupt
	}
	key, _, ok := qtArray(rest)
	if !ok || len(key) < 32 || len(key)%16 != 0 {
		return corrupt
	}
	return nil
}

// qtArray splits a Qt QByteArray (big-endian length, then bytes) off b.
func qtArray(b []byte) (arr, rest []byte, ok bool) {
	if len(b) < 4 {
		return nil, nil, false
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) > uint64(len(b)-4) {
		return nil, nil, false
	}
	return b[4 : 4+n], b[4+n:], true
}

func readLimited(fsys fs.FS, name string) ([]byte, error) {
	f, err := fsys.Open(name)
	if err != nil {
		return nil, fmt.Errorf("%w: cannot open %s", ErrTDataCorrupt, name)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTDataFile+1))
	if err != nil {
		return nil, fmt.Errorf("%w: cannot read %s", ErrTDataCorrupt, name)
	}
	if len(b) > MaxTDataFile {
		return nil, fmt.Errorf("%w: %s is too large", ErrTDataCorrupt, name)
	}
	return b, nil
}

// recordFS notes which files gotd's reader looks at (to tell a wrong
// passcode from a damaged account file without reading error messages)
// and refuses files larger than MaxTDataFile.
type recordFS struct {
	inner fs.FS

	mu    sync.Mutex
	other bool // a file other than key_data was looked at
}

var (
	_ fs.FS     = (*recordFS)(nil)
	_ fs.StatFS = (*recordFS)(nil)
)

func (r *recordFS) note(name string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if strings.HasPrefix(name, "key_data") {
		return
	}
	r.other = true
}

func (r *recordFS) Stat(name string) (fs.FileInfo, error) {
	// gotd stats an account's files only once the local key opened:
	// the attempt counts, found or not.
	r.note(name)
	return fs.Stat(r.inner, name)
}

func (r *recordFS) Open(name string) (fs.File, error) {
	r.note(name)
	f, err := r.inner.Open(name)
	if err != nil {
		return nil, err
	}
	st, err := f.Stat()
	if err != nil || st.Size() > MaxTDataFile {
		f.Close()
		return nil, fmt.Errorf("%w: %s is too large", ErrTDataCorrupt, name)
	}
	return f, nil
}

func (r *recordFS) pastKeyData() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.other
}
