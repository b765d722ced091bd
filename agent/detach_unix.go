//go:build unix

package agent

import "syscall"

// detached makes a child the leader of a new session: no controlling
// terminal, and no signal from the shell that started its parent.
func detached() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setsid: true} }
