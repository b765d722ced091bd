package vault

import (
	"errors"
	"io"

	"github.com/tgvault/tgvault/storage/foreign"
)

// MaxSourceSize is the largest source import reads, from a file
// (ImportFile, ImportFiles) or a stream (ReadStream): the largest foreign
// session file the storage package reads.
const MaxSourceSize = foreign.MaxSize

// ErrSourceTooLarge: a source read from a stream (ReadStream) is larger
// than MaxSourceSize, so no session.
var ErrSourceTooLarge = errors.New("vault: import: the source is larger than any session")

// ReadStream reads a source import is given as a stream (stdin): all of
// r, or ErrSourceTooLarge once it passes MaxSourceSize bytes (a file of
// that size is refused before it is read).
func ReadStream(r io.Reader) ([]byte, error) {
	return readStream(r, MaxSourceSize)
}

func readStream(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		clear(data) // part of a session string may have come
		return nil, err
	}
	if int64(len(data)) > limit {
		clear(data)
		return nil, ErrSourceTooLarge
	}
	return data, nil
}
