package devserver

import "errors"

// ErrUnknownKey reports a key id the server does not know.
var ErrUnknownKey = errors.New("devserver: unknown auth key")

// ErrNotConnected reports a push to a user with no open connection.
var ErrNotConnected = errors.New("devserver: the user has no open connection")
