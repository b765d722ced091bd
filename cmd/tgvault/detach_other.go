//go:build !unix

package main

import "syscall"

// detached: the agent does not run here (agent.Supported is false).
func detached() *syscall.SysProcAttr { return nil }
