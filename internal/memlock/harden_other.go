//go:build !unix

package memlock

// Harden does nothing here: Windows writes no core files; crash dumps
// through Windows Error Reporting are a system setting.
func Harden() {}
