//go:build !unix

package main

// harden does nothing here: Windows writes no core files; crash dumps
// through Windows Error Reporting are a system setting.
func harden() {}
