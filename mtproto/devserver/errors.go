package devserver

import (
	"errors"
	"fmt"
)

// ErrUnknownKey reports a key id the server does not know.
var ErrUnknownKey = errors.New("devserver: unknown auth key")

// ErrNotConnected reports a push to a user with no open connection.
var ErrNotConnected = errors.New("devserver: the user has no open connection")

// ErrUnknownUser reports a user id the server does not know.
var ErrUnknownUser = errors.New("devserver: unknown user")

func errorf(format string, args ...any) error {
	return fmt.Errorf("devserver: "+format, args...)
}
