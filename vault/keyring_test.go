package vault_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	gokeyring "github.com/zalando/go-keyring"

	"github.com/tgvault/tgvault/internal/secretservicetest"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/keyringtest"
)

// testSecret looks like what the vault stores: an age identity.
const testSecret = "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQ"

// headlessWays are what every keyring error must tell the user about.
var headlessWays = []string{"TGVAULT_PASSPHRASE_FILE", "TGVAULT_IDENTITY", "--identity FILE", "tgvault init --no-keyring"}

func checkKeyringError(t *testing.T, err error, op string, cause vault.KeyringCause) *vault.KeyringError {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error, want a %s keyring error", op, cause)
	}
	ke, ok := errors.AsType[*vault.KeyringError](err)
	if !ok {
		t.Fatalf("%s: error %v (%T) is not a *vault.KeyringError", op, err, err)
	}
	if ke.Op != op || ke.Cause != cause {
		t.Errorf("%s: Op, Cause = %q, %q; want %q, %q (%v)", op, ke.Op, ke.Cause, op, cause, err)
	}
	if !errors.Is(err, vault.ErrKeyring) {
		t.Errorf("%s: errors.Is(err, ErrKeyring) = false", op)
	}
	if errors.Is(err, vault.ErrKeyringNotFound) {
		t.Errorf("%s: a failure matches ErrKeyringNotFound", op)
	}
	msg := err.Error()
	for _, want := range headlessWays {
		if !strings.Contains(msg, want) {
			t.Errorf("%s: message does not name %q: %s", op, want, msg)
		}
	}
	if strings.Contains(msg, testSecret) {
		t.Errorf("%s: message contains the secret: %s", op, msg)
	}
	return ke
}

func TestKeyringWatchdogTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 200 * time.Millisecond
	fake := keyringtest.New()
	k := vault.NewWatchdogKeyringForTest(fake, timeout)
	if err := k.Set("svc", "user", testSecret); err != nil {
		t.Fatal(err)
	}
	fake.Block()
	defer fake.Unblock()

	calls := []struct {
		op string
		do func() error
	}{
		{"get", func() error { _, err := k.Get("svc", "user"); return err }},
		{"set", func() error { return k.Set("svc", "user", testSecret) }},
		{"delete", func() error { return k.Delete("svc", "user") }},
	}
	// Each call times out on its own clock, also while the earlier,
	// abandoned calls are still blocked.
	for _, c := range calls {
		start := time.Now()
		err := c.do()
		elapsed := time.Since(start)
		checkKeyringError(t, err, c.op, vault.CauseTimeout)
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("%s: errors.Is(err, context.DeadlineExceeded) = false", c.op)
		}
		if elapsed < timeout || elapsed > timeout+time.Second {
			t.Errorf("%s: timed out after %v, want about %v", c.op, elapsed, timeout)
		}
		t.Logf("%s: timed out after %v: %v", c.op, elapsed, err)
	}
	// Only the first call reached the keyring; the others waited for it.
	if n := fake.Calls(); n != 2 {
		t.Errorf("the blocked keyring got %d calls, want 2 (Set, then one stranded Get)", n)
	}

	// Once the keyring answers again, the stranded call finishes and
	// later calls work.
	fake.Unblock()
	deadline := time.Now().Add(5 * time.Second)
	for {
		got, err := k.Get("svc", "user")
		if err == nil {
			if got != testSecret {
				t.Fatalf("Get after unblock = %q", got)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Get after unblock: %v", err)
		}
	}
}

func TestKeyringWatchdogPassesResults(t *testing.T) {
	t.Parallel()
	fake := keyringtest.New()
	k := vault.NewWatchdogKeyringForTest(fake, time.Second)

	if _, err := k.Get("svc", "user"); !errors.Is(err, vault.ErrKeyringNotFound) || errors.Is(err, vault.ErrKeyring) {
		t.Fatalf("Get of a missing secret: %v, want ErrKeyringNotFound only", err)
	}
	if err := k.Delete("svc", "user"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Delete of a missing secret: %v, want ErrKeyringNotFound", err)
	}
	if err := k.Set("svc", "user", testSecret); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get("svc", "user"); err != nil || got != testSecret {
		t.Fatalf("Get = %q, %v", got, err)
	}

	// A plain error from an inner keyring becomes a *KeyringError that
	// still leads to it.
	boom := errors.New("boom")
	fake.Fail(boom)
	err := k.Set("svc", "user", testSecret)
	checkKeyringError(t, err, "set", vault.CauseOther)
	if !errors.Is(err, boom) {
		t.Errorf("errors.Is(err, boom) = false")
	}
	// A *KeyringError passes unchanged.
	inner := &vault.KeyringError{Op: "get", Cause: vault.CauseLocked}
	fake.Fail(inner)
	if _, err := k.Get("svc", "user"); err != inner {
		t.Errorf("Get = %v, want the inner *KeyringError itself", err)
	}
	fake.Fail(nil)
	if err := k.Delete("svc", "user"); err != nil {
		t.Fatal(err)
	}
}

func TestKeyringErrorTranslation(t *testing.T) {
	t.Parallel()
	for _, err := range []error{gokeyring.ErrNotFound, fmt.Errorf("wrapped: %w", gokeyring.ErrNotFound)} {
		got := vault.TranslateKeyringErrorForTest("get", err)
		if got != vault.ErrKeyringNotFound {
			t.Errorf("translate(%v) = %v, want ErrKeyringNotFound itself", err, got)
		}
	}
	if got := vault.TranslateKeyringErrorForTest("get", nil); got != nil {
		t.Errorf("translate(nil) = %v", got)
	}
	// Anything else is a *KeyringError that errors.As sees through.
	dial := &net.OpError{Op: "dial", Net: "unix", Err: os.ErrNotExist}
	err := vault.TranslateKeyringErrorForTest("set", dial)
	if _, ok := errors.AsType[*net.OpError](err); !ok {
		t.Errorf("errors.As does not reach the *net.OpError in %v", err)
	}
	checkKeyringError(t, vault.TranslateKeyringErrorForTest("get", gokeyring.ErrSetDataTooBig), "get", vault.CauseOther)
}

func TestKeyringErrorMessage(t *testing.T) {
	t.Parallel()
	words := map[vault.KeyringCause]string{
		vault.CauseNoDBus:          "no D-Bus session bus",
		vault.CauseNoSecretService: "no Secret Service",
		vault.CauseLocked:          "locked",
		vault.CauseTimeout:         "did not answer in time",
		vault.CauseOther:           "keyring failed",
	}
	for cause, want := range words {
		t.Run(string(cause), func(t *testing.T) {
			t.Parallel()
			err := error(&vault.KeyringError{Op: "get", Cause: cause, Err: errors.New("underlying")})
			checkKeyringError(t, err, "get", cause)
			msg := err.Error()
			if !strings.HasPrefix(msg, "vault: keyring get: ") || !strings.Contains(msg, want) || !strings.Contains(msg, "underlying") {
				t.Errorf("message %q lacks the prefix, %q or the underlying error", msg, want)
			}
		})
	}
	if msg := (&vault.KeyringError{Op: "set", Cause: vault.CauseOther}).Error(); strings.Contains(msg, "<nil>") {
		t.Errorf("message with no underlying error: %q", msg)
	}
}

// TestKeyringErrorsNeverHoldTheSecret drives every failure path of the
// watchdog with the secret in hand.
func TestKeyringErrorsNeverHoldTheSecret(t *testing.T) {
	t.Parallel()
	fake := keyringtest.New()
	k := vault.NewWatchdogKeyringForTest(fake, 100*time.Millisecond)
	fake.Fail(errors.New("backend failure"))
	errs := []error{k.Set("svc", "user", testSecret)}
	fake.Fail(nil)
	fake.Block()
	errs = append(errs, k.Set("svc", "user", testSecret))
	fake.Unblock()
	for _, err := range errs {
		if err == nil || strings.Contains(err.Error(), testSecret) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), testSecret) {
			t.Errorf("error %v: nil or holds the secret", err)
		}
	}
}

// The real Secret Service: the test binary's private gnome-keyring on a
// private D-Bus (internal/secretservicetest), started on first use.

const realKeyringService = "tgvault-test"

// realKeyring returns the system keyring, pointed at the test binary's
// real Secret Service. Where dbus-daemon and gnome-keyring are not
// installed the test is skipped loudly (a failure under
// TGVAULT_REQUIRE_REAL=1, as in CI).
func realKeyring(t *testing.T) vault.Keyring {
	t.Helper()
	secretservicetest.Start(t)
	k := vault.SystemKeyring()
	start := time.Now()
	_, err := k.Get(realKeyringService, "probe-"+randomHex(t))
	if !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("the real Secret Service does not answer: %v", err)
	}
	t.Logf("first call (connect + probe) took %v", time.Since(start))
	return k
}

func randomHex(t *testing.T) string {
	b := make([]byte, 8)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func TestKeyringRealRoundTrip(t *testing.T) {
	k := realKeyring(t)
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	secret := id.String()
	if len(secret) != 74 {
		t.Fatalf("age identity is %d characters, want 74", len(secret))
	}
	user := "vault-" + randomHex(t)
	t.Cleanup(func() { _ = k.Delete(realKeyringService, user) })

	timed := func(what string, f func() error) error {
		start := time.Now()
		err := f()
		t.Logf("%s: %v", what, time.Since(start))
		if err != nil && strings.Contains(err.Error(), secret) {
			t.Errorf("%s: error holds the secret: %v", what, err)
		}
		return err
	}
	var got string
	if err := timed("get (missing)", func() (err error) { got, err = k.Get(realKeyringService, user); return }); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Get before Set = %q, %v; want ErrKeyringNotFound", got, err)
	}
	if err := timed("set", func() error { return k.Set(realKeyringService, user, secret) }); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := timed("get", func() (err error) { got, err = k.Get(realKeyringService, user); return }); err != nil || got != secret {
		t.Fatalf("Get after Set: %v (value matches: %v)", err, got == secret)
	}
	// Set again replaces (unlock after a new identity, e.g. rekey).
	id2, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	if err := timed("set (replace)", func() error { return k.Set(realKeyringService, user, id2.String()) }); err != nil {
		t.Fatalf("second Set: %v", err)
	}
	if err := timed("get (replaced)", func() (err error) { got, err = k.Get(realKeyringService, user); return }); err != nil || got != id2.String() {
		t.Fatalf("Get after second Set: %v (value matches: %v)", err, got == id2.String())
	}
	if err := timed("delete", func() error { return k.Delete(realKeyringService, user) }); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if err := timed("get (deleted)", func() (err error) { got, err = k.Get(realKeyringService, user); return }); !errors.Is(err, vault.ErrKeyringNotFound) || errors.Is(err, vault.ErrKeyring) {
		t.Fatalf("Get after Delete = %v; want ErrKeyringNotFound only", err)
	}
	if err := timed("delete (deleted)", func() error { return k.Delete(realKeyringService, user) }); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Delete after Delete = %v; want ErrKeyringNotFound", err)
	}
}
