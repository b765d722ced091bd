//go:build (dragonfly && cgo) || (freebsd && cgo) || linux || netbsd || openbsd

package vault

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/internal/secretservicetest"
)

func TestKeyringClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  error
		want KeyringCause
	}{
		{"service unknown", dbus.Error{Name: "org.freedesktop.DBus.Error.ServiceUnknown", Body: []any{"The name is not activatable"}}, CauseNoSecretService},
		{"service unknown pointer", dbus.NewError("org.freedesktop.DBus.Error.ServiceUnknown", nil), CauseNoSecretService},
		{"name has no owner", dbus.Error{Name: "org.freedesktop.DBus.Error.NameHasNoOwner"}, CauseNoSecretService},
		{"activation failed", dbus.Error{Name: "org.freedesktop.DBus.Error.Spawn.ChildExited"}, CauseNoSecretService},
		{"is locked", dbus.Error{Name: "org.freedesktop.Secret.Error.IsLocked"}, CauseLocked},
		{"disconnected", dbus.Error{Name: "org.freedesktop.DBus.Error.Disconnected"}, CauseNoDBus},
		{"other dbus error", dbus.Error{Name: "org.freedesktop.Secret.Error.NoSuchObject"}, CauseOther},
		// A message that reads like another cause does not change the class.
		{"dbus error by name only", dbus.Error{Name: "org.freedesktop.DBus.Error.Failed", Body: []any{"ServiceUnknown locked"}}, CauseOther},
		{"dial refused", &net.OpError{Op: "dial", Net: "unix", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}, CauseNoDBus},
		{"wrapped dial", fmt.Errorf("x: %w", &net.OpError{Op: "dial", Net: "unix", Err: os.ErrNotExist}), CauseNoDBus},
		{"no dbus-launch", &exec.Error{Name: "dbus-launch", Err: exec.ErrNotFound}, CauseNoDBus},
		{"connection closed", dbus.ErrClosed, CauseNoDBus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := classifyKeyringError(tt.err); got != tt.want {
				t.Errorf("classify(%v) = %s, want %s", tt.err, got, tt.want)
			}
		})
	}
}

// childResult is what the re-executed test binary reports.
type childResult struct {
	Cause   KeyringCause
	Message string
	Elapsed time.Duration
	Err     string // not a *KeyringError
}

const childMarker = "TGVAULT-KEYRING-CHILD:"

// childHangTimeout is the watchdog's limit in the "hang" child.
const childHangTimeout = 500 * time.Millisecond

// TestKeyringChild is the child half of the tests that need a fresh
// process (godbus caches the session bus connection per process): it
// makes one keyring Get and prints the outcome. TGVAULT_KEYRING_CHILD=1
// uses SystemKeyring; =hang first takes the name org.freedesktop.secrets
// on the bus with a connection that never answers a call, then uses a
// watchdog of childHangTimeout.
func TestKeyringChild(t *testing.T) {
	mode := os.Getenv("TGVAULT_KEYRING_CHILD")
	if mode == "" {
		t.Skip("helper process for TestKeyringNoDBus and the real keyring tests")
	}
	k := SystemKeyring()
	if mode == "hang" {
		conn, err := dbus.Connect(os.Getenv("DBUS_SESSION_BUS_ADDRESS"), dbus.WithHandler(blackHole{}))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if reply, err := conn.RequestName(secretsName, dbus.NameFlagDoNotQueue); err != nil || reply != dbus.RequestNameReplyPrimaryOwner {
			t.Fatalf("taking %s: %v, %v", secretsName, reply, err)
		}
		k = newWatchdogKeyring(systemKeyring{}, childHangTimeout)
	}
	start := time.Now()
	_, err := k.Get("tgvault-test", "child")
	r := childResult{Elapsed: time.Since(start)}
	if ke, ok := errors.AsType[*KeyringError](err); ok {
		r.Cause, r.Message = ke.Cause, ke.Error()
	} else {
		r.Err = fmt.Sprint(err)
	}
	b, _ := json.Marshal(r)
	fmt.Println(childMarker + string(b))
}

// TestKeyringNoDBus runs a keyring call where there is no session bus, in
// a child process: the call fails fast with CauseNoDBus and tells the way
// in without a keyring. It needs no Secret Service, so it runs everywhere.
func TestKeyringNoDBus(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()

	// A socket file nobody listens on: connection refused.
	refused := filepath.Join(dir, "refused.sock")
	l, err := net.ListenUnix("unix", &net.UnixAddr{Name: refused, Net: "unix"})
	if err != nil {
		t.Fatal(err)
	}
	l.SetUnlinkOnClose(false)
	l.Close()

	cases := []struct {
		name string
		addr string // "" = unset
	}{
		{"dead socket", "unix:path=" + refused},
		{"missing socket", "unix:path=" + filepath.Join(dir, "missing.sock")},
		{"unset", ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			if c.addr == "" {
				// With no address godbus looks for /run/user/<uid>/bus;
				// where one exists (a desktop) this is not "no D-Bus".
				if u, err := user.Current(); err == nil {
					if _, err := os.Stat("/run/user/" + u.Uid + "/bus"); err == nil {
						t.Skip("a session bus exists at /run/user/" + u.Uid + "/bus")
					}
				}
			}
			r := runKeyringChild(t, c.addr, "1")
			t.Logf("call failed after %v: %s", r.Elapsed, r.Message)
			if r.Cause != CauseNoDBus {
				t.Errorf("cause = %s, want %s: %s", r.Cause, CauseNoDBus, r.Message)
			}
			if r.Elapsed >= KeyringTimeout {
				t.Errorf("took %v, want under %v", r.Elapsed, KeyringTimeout)
			}
			if !strings.Contains(r.Message, "TGVAULT_PASSPHRASE_FILE") {
				t.Errorf("message does not name TGVAULT_PASSPHRASE_FILE: %s", r.Message)
			}
		})
	}
}

// blackHole is a D-Bus service that never answers: every call waits for
// ever, as the Secret Service does while its unlock prompt is unanswered.
type blackHole struct{}

func (blackHole) LookupObject(dbus.ObjectPath) (dbus.ServerObject, bool) { select {} }

// runKeyringChild runs TestKeyringChild in a new process whose
// DBUS_SESSION_BUS_ADDRESS is addr (unset when ""), in mode "1" or "hang".
func runKeyringChild(t *testing.T, addr, mode string) childResult {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestKeyringChild$", "-test.v")
	cmd.Env = append(withoutEnv(os.Environ(), "DBUS_SESSION_BUS_ADDRESS"), "TGVAULT_KEYRING_CHILD="+mode)
	if addr != "" {
		cmd.Env = append(cmd.Env, "DBUS_SESSION_BUS_ADDRESS="+addr)
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	_, line, ok := strings.Cut(string(out), childMarker)
	if !ok {
		t.Fatalf("child printed no result:\n%s", out)
	}
	line, _, _ = strings.Cut(line, "\n")
	var r childResult
	if err := json.Unmarshal([]byte(line), &r); err != nil {
		t.Fatalf("child result %q: %v", line, err)
	}
	if r.Err != "" {
		t.Fatalf("error is not a *KeyringError: %s", r.Err)
	}
	return r
}

func withoutEnv(env []string, name string) []string {
	var out []string
	for _, kv := range env {
		if !strings.HasPrefix(kv, name+"=") {
			out = append(out, kv)
		}
	}
	return out
}

// TestKeyringRealNoSecretService runs a keyring call on a real session bus
// that has no Secret Service and cannot start one (a private dbus-daemon
// with no service directories).
func TestKeyringRealNoSecretService(t *testing.T) {
	addr := startPrivateBus(t)
	r := runKeyringChild(t, addr, "1")
	t.Logf("call failed after %v: %s", r.Elapsed, r.Message)
	if r.Cause != CauseNoSecretService {
		t.Errorf("cause = %s, want %s: %s", r.Cause, CauseNoSecretService, r.Message)
	}
	if !strings.Contains(r.Message, "TGVAULT_PASSPHRASE_FILE") {
		t.Errorf("message does not name TGVAULT_PASSPHRASE_FILE: %s", r.Message)
	}
}

// startPrivateBus starts a session bus daemon with no service files (so
// nothing can be activated on it) and returns its address.
func startPrivateBus(t *testing.T) string {
	t.Helper()
	daemon := realpart.LookPath(t, "dbus-daemon", "apt-get install dbus")
	dir := t.TempDir()
	config := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(config, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:tmpdir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(daemon, "--config-file="+config, "--nofork", "--print-address")
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil {
		t.Fatalf("dbus-daemon printed no address: %v", err)
	}
	return strings.TrimSpace(addr)
}

// TestKeyringRealHang runs the real go-keyring against a Secret Service
// that never answers (a black-hole connection owning its name on a private
// bus): the watchdog returns CauseTimeout on time, abandoning the call.
func TestKeyringRealHang(t *testing.T) {
	r := runKeyringChild(t, startPrivateBus(t), "hang")
	t.Logf("call failed after %v: %s", r.Elapsed, r.Message)
	if r.Cause != CauseTimeout {
		t.Errorf("cause = %s, want %s: %s", r.Cause, CauseTimeout, r.Message)
	}
	if r.Elapsed < childHangTimeout || r.Elapsed > childHangTimeout+2*time.Second {
		t.Errorf("timed out after %v, want about %v", r.Elapsed, childHangTimeout)
	}
}

// secretsName is the bus name of a Secret Service.
const secretsName = "org.freedesktop.secrets"

// TestKeyringRealLocked locks the login collection of the test binary's
// real Secret Service: with no prompter that can be shown the unlock prompt
// is dismissed, and every call fails with CauseLocked. The collection is
// unlocked again with its password.
func TestKeyringRealLocked(t *testing.T) {
	secretservicetest.Start(t)
	k := SystemKeyring()
	user := fmt.Sprintf("locked-%d", time.Now().UnixNano())
	const secret = "AGE-SECRET-KEY-1LOCKEDLOCKEDLOCKEDLOCKEDLOCKEDLOCKEDLOCKEDLOCKEDLOCKEDLOCKE"
	if err := k.Set("tgvault-test", user, secret); err != nil {
		t.Fatalf("Set: %v", err)
	}
	if err := secretservicetest.LockLogin(); err != nil {
		t.Fatal(err)
	}
	unlocked := false
	unlock := func() {
		if unlocked {
			return
		}
		unlocked = true
		if err := secretservicetest.UnlockLogin(); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(unlock)

	calls := []struct {
		op string
		do func() error
	}{
		{"get", func() error { _, err := k.Get("tgvault-test", user); return err }},
		{"set", func() error { return k.Set("tgvault-test", user, secret) }},
		{"delete", func() error { return k.Delete("tgvault-test", user) }},
	}
	for _, c := range calls {
		start := time.Now()
		err := c.do()
		elapsed := time.Since(start)
		t.Logf("%s on a locked collection failed after %v: %v", c.op, elapsed, err)
		ke, ok := errors.AsType[*KeyringError](err)
		if !ok {
			t.Fatalf("%s: %v (%T), want a *KeyringError", c.op, err, err)
		}
		if ke.Cause != CauseLocked || ke.Op != c.op {
			t.Errorf("%s: Op, Cause = %s, %s; want %s, %s", c.op, ke.Op, ke.Cause, c.op, CauseLocked)
		}
		if !errors.Is(err, ErrKeyring) || strings.Contains(err.Error(), secret) {
			t.Errorf("%s: not ErrKeyring, or holds the secret: %v", c.op, err)
		}
	}

	unlock()
	if got, err := k.Get("tgvault-test", user); err != nil || got != secret {
		t.Fatalf("Get after unlocking again: %v (value matches: %v)", err, got == secret)
	}
	if err := k.Delete("tgvault-test", user); err != nil {
		t.Fatalf("Delete after unlocking again: %v", err)
	}
}
