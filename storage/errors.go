package storage

import (
	"errors"
	"fmt"
)

var (
	// ErrNotFound reports a peer that is not in the cache.
	ErrNotFound = errors.New("storage: not found")
	// ErrUsernameExpired reports a username row older (or newer) than the
	// 8-hour TTL: the caller should resolve it again.
	ErrUsernameExpired = errors.New("storage: username expired")
	// ErrClosed reports use of a closed store.
	ErrClosed = errors.New("storage: closed")
	// ErrBinding reports a sealed file bound to another vault or account,
	// or at another revision than expected (a swap or a rollback).
	ErrBinding = errors.New("storage: binding mismatch")
	// ErrCorrupt reports a file that is not a session database we can read.
	ErrCorrupt = errors.New("storage: corrupt session database")
	// ErrUnsupported reports a session database of an unknown dialect.
	ErrUnsupported = errors.New("storage: unsupported session database")
)

// PeerTypeError reports a peers.type value that maps to no InputPeer.
type PeerTypeError struct{ Type string }

func (e *PeerTypeError) Error() string {
	return fmt.Sprintf("storage: peer type %q has no input peer", e.Type)
}
