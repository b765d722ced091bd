//go:build !linux

package storage

import "unsafe"

func hugePages(unsafe.Pointer, uintptr) {}
