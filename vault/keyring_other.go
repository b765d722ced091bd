// Everywhere go-keyring does not use the Secret Service (macOS, Windows,
// and its unsupported-platform fallback).
//go:build !((dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd)

package vault

// busReady: there is no D-Bus to reach.
func busReady() error { return nil }

// classifyKeyringError: the Keychain and the Credential Manager fail with
// errors that carry no cause we tell apart (go-keyring runs
// /usr/bin/security on macOS and wraps Win32 errors on Windows).
func classifyKeyringError(error) KeyringCause { return CauseOther }

// keyringLocked: no way to ask.
func keyringLocked() bool { return false }
