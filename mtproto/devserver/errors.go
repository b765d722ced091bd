package devserver

import "errors"

// ErrUnknownKey reports a key id the server does not know.
var ErrUnknownKey = errors.New("devserver: unknown auth key")
