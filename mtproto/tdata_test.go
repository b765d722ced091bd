package mtproto

import (
	"bytes"
	"crypto/md5" // #nosec G501
	"encoding/binary"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"testing/fstest"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

const tdataVector = "testdata/tdata/tdata_from_mtcute"

// vectorFS loads the mtcute-made tdata folder into memory.
func vectorFS(t testing.TB) fstest.MapFS {
	t.Helper()
	m := fstest.MapFS{}
	err := filepath.WalkDir(tdataVector, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(tdataVector, p)
		m[filepath.ToSlash(rel)] = &fstest.MapFile{Data: b, Mode: 0o600}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// reframe rewrites a tdata file's MD5 trailer after its data changed, as a
// deliberate forger would.
func reframe(b []byte) []byte {
	data := b[8 : len(b)-16]
	h := md5.New() // #nosec G401
	h.Write(data)
	var n [4]byte
	binary.LittleEndian.PutUint32(n[:], uint32(len(data)))
	h.Write(n[:])
	h.Write(b[4:8])
	h.Write([]byte("TDF$"))
	return append(bytes.Clone(b[:len(b)-16]), h.Sum(nil)...)
}

func TestReadTDataVector(t *testing.T) {
	t.Parallel()
	ss, err := ReadTData(tdataVector, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ss) != 1 {
		t.Fatalf("%d accounts, want 1", len(ss))
	}
	s := ss[0]
	want := make([]byte, 256)
	for i := range want {
		want[i] = byte(i)
	}
	wantKey, err := sessionstring.NewAuthKey(want)
	if err != nil {
		t.Fatal(err)
	}
	// MANIFEST.md: user 123456789, DC 2, the key bytes(range(256)) (id
	// 32d1586ea457dfc8); mtcute writes no config, so test mode and the
	// address are unknown; Telegram Desktop has no bots.
	if s.DCID != 2 || s.UserID != sessionstring.Some[int64](123456789) || !s.AuthKey.Equal(wantKey) ||
		s.AuthKey.ID().String() != "32d1586ea457dfc8" {
		t.Fatalf("got dc %d user %v key %s", s.DCID, s.UserID, s.AuthKey.ID())
	}
	if s.IsBot != sessionstring.Some(false) || s.TestMode.Known() || s.APIID.Known() || s.Host.Known() || s.Port.Known() {
		t.Fatalf("got is_bot %v test %v api_id %v host %v port %v", s.IsBot, s.TestMode, s.APIID, s.Host, s.Port)
	}
	if !IsTData(tdataVector) || IsTData(t.TempDir()) {
		t.Fatal("IsTData is wrong")
	}
}

func TestReadTDataErrors(t *testing.T) {
	t.Parallel()
	const kd, acct = "key_datas", "D877F783D5D3EF8Cs"
	tests := []struct {
		name     string
		edit     func(m fstest.MapFS)
		passcode crypto.Passphrase
		want     error
	}{
		{"not tdata", func(m fstest.MapFS) { delete(m, kd) }, nil, ErrNotTData},
		{"wrong passcode", func(fstest.MapFS) {}, crypto.Passphrase("hunter2"), ErrTDataWrongPasscode},
		{"truncated key_data", func(m fstest.MapFS) { m[kd].Data = m[kd].Data[:100] }, nil, ErrTDataCorrupt},
		{"tampered key_data", func(m fstest.MapFS) { m[kd].Data[60] ^= 1 }, nil, ErrTDataCorrupt},
		{"re-checksummed key_data", func(m fstest.MapFS) {
			m[kd].Data[60] ^= 1
			m[kd].Data = reframe(m[kd].Data)
		}, nil, ErrTDataPasscode},
		{"missing account file", func(m fstest.MapFS) { delete(m, acct) }, nil, ErrTDataCorrupt},
		{"truncated account file", func(m fstest.MapFS) { m[acct].Data = m[acct].Data[:200] }, nil, ErrTDataCorrupt},
		{"tampered account file", func(m fstest.MapFS) {
			m[acct].Data[100] ^= 1
			m[acct].Data = reframe(m[acct].Data)
		}, nil, ErrTDataCorrupt},
		{"huge account file", func(m fstest.MapFS) { m[acct].Data = make([]byte, MaxTDataFile+1) }, nil, ErrTDataCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			m := vectorFS(t)
			tt.edit(m)
			ss, err := ReadTDataFS(m, tt.passcode)
			if !errors.Is(err, tt.want) || ss != nil {
				t.Fatalf("got %v, %d sessions; want %v", err, len(ss), tt.want)
			}
			if tt.passcode != nil && bytes.Contains([]byte(err.Error()), tt.passcode) {
				t.Fatal("the error shows the passcode")
			}
		})
	}
}

// FuzzReadTData: whatever key_data and account file hold, the reader
// returns sessions or one of its errors, and never panics.
func FuzzReadTData(f *testing.F) {
	m := vectorFS(f)
	f.Add(m["key_datas"].Data, m["D877F783D5D3EF8Cs"].Data)
	f.Add([]byte("TDF$"), []byte{})
	f.Fuzz(func(t *testing.T, kd, acct []byte) {
		fsys := fstest.MapFS{
			"key_datas":         {Data: kd},
			"D877F783D5D3EF8Cs": {Data: acct},
		}
		ss, err := ReadTDataFS(fsys, nil)
		if err == nil {
			for _, s := range ss {
				if s.AuthKey.IsZero() || !s.UserID.Known() {
					t.Fatal("a session without key or user")
				}
			}
			return
		}
		if !errors.Is(err, ErrTDataCorrupt) && !errors.Is(err, ErrTDataPasscode) && !errors.Is(err, ErrNotTData) {
			t.Fatalf("untyped error %v", err)
		}
	})
}
