package mtserver

import "errors"

// ErrClosed reports an answer or a push to a connection that has closed.
var ErrClosed = errors.New("mtserver: connection closed")

// ErrNoSession reports a push to a connection on which no session has
// sent an encrypted message yet.
var ErrNoSession = errors.New("mtserver: no session on the connection")

// ErrUnsupportedTransport reports a connection whose first bytes name no
// transport the server speaks (an obfuscated2 header with an unknown
// protocol tag, say).
var ErrUnsupportedTransport = errors.New("mtserver: unsupported transport")
