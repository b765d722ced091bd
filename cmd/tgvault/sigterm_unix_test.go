//go:build unix

package main

import "syscall"

var sigTERM = syscall.SIGTERM
