//go:build !unix

package pgtest

import "syscall"

// unprivileged returns nil: outside unix there is no root to step down
// from here (PostgreSQL on Windows refuses an administrator itself).
func unprivileged(paths ...string) (*syscall.SysProcAttr, error) { return nil, nil }
