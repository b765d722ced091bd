//go:build !linux && !freebsd

package agent

import (
	"errors"
	"net"
)

// supported: no peer credentials the agent reads here (macOS and Windows
// keep the vault key in their own keyring).
const supported = false

func peerUID(*net.UnixConn) (int, error) {
	return -1, errors.New("agent: no peer credentials on this OS")
}
