package localapi

import (
	"fmt"
	"path/filepath"

	"github.com/tgvault/tgvault/internal/privdir"
	"github.com/tgvault/tgvault/internal/userdirs"
)

// DefaultSocket is run's local API socket when no flag names one
// (userdirs.RunSocket): TGVAULT_SOCKET as getenv gives it, else run.sock
// in the user's runtime directory, which is made (0700) when missing and
// refused (an error matching privdir.ErrNotPrivate) when it is not the
// user's own private directory: another user who made it first could
// replace the socket. A socket the variable names is taken as it is.
func DefaultSocket(getenv func(string) string) (string, error) {
	sock, inRuntimeDir := userdirs.RunSocket(getenv)
	if inRuntimeDir {
		if err := privdir.Ensure(filepath.Dir(sock)); err != nil {
			return "", fmt.Errorf("socket directory: %w", err)
		}
	}
	return sock, nil
}
