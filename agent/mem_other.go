//go:build !unix

package agent

// lockedBuf is plain heap memory here (the agent is not supported on this
// OS; the type exists so that the package builds everywhere).
type lockedBuf struct {
	b      []byte
	locked bool
}

func newLockedBuf(n int) *lockedBuf { return &lockedBuf{b: make([]byte, n)} }

func (l *lockedBuf) free() {
	if l != nil {
		clear(l.b)
		l.b = nil
	}
}
