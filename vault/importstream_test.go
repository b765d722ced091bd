package vault

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
)

// TestReadStream: a stream is read whole up to the cap, one byte more is
// ErrSourceTooLarge (not a truncated source), and a read error is the
// stream's; a file over the same cap is no session.
func TestReadStream(t *testing.T) {
	t.Parallel()
	readErr := errors.New("the pipe broke")
	tests := []struct {
		name    string
		r       io.Reader
		limit   int64
		want    []byte
		wantErr error
	}{
		{"empty", bytes.NewReader(nil), 4, []byte{}, nil},
		{"under", bytes.NewReader([]byte("abc")), 4, []byte("abc"), nil},
		{"at the cap", bytes.NewReader([]byte("abcd")), 4, []byte("abcd"), nil},
		{"over the cap", bytes.NewReader([]byte("abcde")), 4, nil, ErrSourceTooLarge},
		{"one byte at a time, over", iotest.OneByteReader(bytes.NewReader([]byte("abcdef"))), 4, nil, ErrSourceTooLarge},
		{"read error", iotest.ErrReader(readErr), 4, nil, readErr},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := readStream(tt.r, tt.limit)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && !bytes.Equal(got, tt.want) {
				t.Errorf("read %q, want %q", got, tt.want)
			}
		})
	}

	// ReadStream's cap (MaxSourceSize, not read here: 256 MiB under -race
	// take 20 s) is a file's: one byte more is no session.
	big := filepath.Join(t.TempDir(), "big.session")
	if err := os.WriteFile(big, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(big, MaxSourceSize+1); err != nil {
		t.Fatal(err)
	}
	if _, err := readSource(big); !errors.Is(err, ErrNotSession) {
		t.Errorf("readSource of a file of MaxSourceSize+1 bytes: %v, want ErrNotSession", err)
	}
}
