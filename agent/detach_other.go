//go:build !unix

package agent

import "syscall"

// detached: the agent does not run here (agent.Supported is false).
func detached() *syscall.SysProcAttr { return nil }
