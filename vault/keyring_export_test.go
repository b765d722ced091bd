package vault

import "time"

// Hooks for the keyring tests in package vault_test (which can import
// vault/keyringtest; package vault's own tests cannot: import cycle).

// NewWatchdogKeyringForTest bounds every call of k by timeout.
func NewWatchdogKeyringForTest(k Keyring, timeout time.Duration) Keyring {
	return newWatchdogKeyring(k, timeout)
}

// TranslateKeyringErrorForTest maps a go-keyring error.
var TranslateKeyringErrorForTest = translateKeyringError
