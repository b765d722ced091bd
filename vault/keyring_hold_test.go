package vault

import (
	"errors"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/storage"
)

// fakeAgent is a fake tgvault agent: a keyring that also takes an expiry.
type fakeAgent struct {
	*fakeKeyring
	until time.Time
}

func (a *fakeAgent) SetUntil(service, user, secret string, expires time.Time) error {
	a.until = expires
	return a.Set(service, user, secret)
}

func (a *fakeAgent) PID() (int, error) { return 4242, nil }

var _ expiringKeyring = (*fakeAgent)(nil)

// noBus is what the OS keyring says on a host without D-Bus.
var noBus = &KeyringError{Op: "get", Cause: CauseNoDBus, Err: errors.New("no bus")}

// lockedCollection is a keyring that exists but is locked.
var lockedCollection = &KeyringError{Op: "get", Cause: CauseLocked, Err: errors.New("locked")}

func holderVault(t *testing.T) (*testVault, *fakeAgent) {
	t.Helper()
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	if err := tv.Lock(); err != nil {
		t.Fatal(err)
	}
	return tv, &fakeAgent{fakeKeyring: newFakeKeyring()}
}

// TestUnlockFallsBackToAgent: where the OS keyring fails, Unlock puts the
// key into the agent; every later command finds it there; Lock empties it.
func TestUnlockFallsBackToAgent(t *testing.T) {
	for _, cause := range []error{noBus, lockedCollection} {
		t.Run(string(cause.(*KeyringError).Cause), func(t *testing.T) {
			tv, agent := holderVault(t)
			kr := newFakeKeyring()
			kr.err = cause
			v := tv.reopen(t, Options{Keyring: kr, Agent: agent})
			if err := v.Unlock(testPass, time.Hour); err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			// The key, and beside it the format anchor (format.go), each
			// with the expiry.
			if agent.Len() != 2 || agent.until.IsZero() {
				t.Fatalf("agent holds %d secrets, expiry %v; want the key and the format anchor with its expiry", agent.Len(), agent.until)
			}
			if s, err := agent.Get(KeyringService, v.ID()+formatAnchorSuffix); err != nil || s != "2" {
				t.Fatalf("the agent's format anchor: %q, %v", s, err)
			}
			st, err := v.Status()
			if err != nil || st.UnlockedBy != HeldByAgent || st.Expires == nil || st.Accounts != 1 {
				t.Fatalf("Status = %+v, %v", st, err)
			}
			if _, err := v.List(); err != nil {
				t.Fatalf("List through the agent: %v", err)
			}
			if err := v.Lock(); cause == noBus && err != nil {
				t.Fatalf("Lock with no keyring here: %v", err)
			}
			if agent.Len() != 0 {
				t.Fatal("Lock left the key in the agent")
			}
		})
	}
}

// TestKeyringFirst: where the keyring works it takes the key, and the
// agent forgets an older copy (one key, one place).
func TestKeyringFirst(t *testing.T) {
	tv, agent := holderVault(t)
	kr := newFakeKeyring()
	v := tv.reopen(t, Options{Keyring: kr, Agent: agent})
	if err := agent.Set(KeyringService, v.ID(), "stale"); err != nil {
		t.Fatal(err)
	}
	if err := v.Unlock(testPass, 0); err != nil {
		t.Fatal(err)
	}
	// The keyring holds the key and beside it the format anchor
	// (format.go); the agent nothing.
	if kr.Len() != 2 || agent.Len() != 0 {
		t.Fatalf("keyring %d, agent %d secrets; want 2 (key, format anchor), 0", kr.Len(), agent.Len())
	}
	if s, err := kr.Get(KeyringService, v.ID()+formatAnchorSuffix); err != nil || s != "2" {
		t.Fatalf("the keyring's format anchor: %q, %v", s, err)
	}
	if st, _ := v.Status(); st.UnlockedBy != HeldByKeyring {
		t.Fatalf("unlocked by %q", st.UnlockedBy)
	}
}

// TestLockedWithoutHolder: a locked vault says what to do, by what exists.
func TestLockedWithoutHolder(t *testing.T) {
	tv, agent := holderVault(t)
	for _, c := range []struct {
		name      string
		opts      Options
		kerr      error
		want      error
		unlock    bool // the message advises tgvault unlock
		keyringIs bool // the error matches ErrKeyring
	}{
		{"no bus, agent possible", Options{Agent: agent}, noBus, ErrLocked, true, false},
		{"locked collection, agent possible", Options{Agent: agent}, lockedCollection, ErrKeyring, false, true},
		{"no bus, no agent", Options{}, noBus, ErrKeyring, false, true},
		{"nothing at all", Options{}, nil, ErrLocked, false, false},
		{"empty keyring and agent", Options{Agent: agent}, ErrKeyringNotFound, ErrLocked, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			if c.kerr != nil {
				kr := newFakeKeyring()
				if c.kerr != ErrKeyringNotFound {
					kr.err = c.kerr
				}
				o.Keyring = kr
			}
			_, err := tv.reopen(t, o).List()
			if !errors.Is(err, c.want) || errors.Is(err, ErrKeyring) != c.keyringIs {
				t.Fatalf("List = %v, want %v (ErrKeyring %v)", err, c.want, c.keyringIs)
			}
			if got := strings.Contains(err.Error(), "tgvault unlock"); got != c.unlock && c.want == ErrLocked {
				t.Errorf("advises unlock %v, want %v: %v", got, c.unlock, err)
			}
		})
	}
}

// TestNoKeyringVaultUsesAgent: a --no-keyring vault never touches the OS
// keyring, but unlock puts its key into the agent.
func TestNoKeyringVaultUsesAgent(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	dir := filepath.Join(t.TempDir(), "v")
	kr := newFakeKeyring()
	v, err := Init(InitOptions{Options: Options{Dir: dir}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	agent := &fakeAgent{fakeKeyring: newFakeKeyring()}
	v2, err := Open(Options{Dir: v.Dir(), Keyring: kr, Agent: agent})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.List(); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), "tgvault unlock") {
		t.Fatalf("List before unlock = %v", err)
	}
	if err := v2.Unlock(testPass, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := v2.List(); err != nil {
		t.Fatal(err)
	}
	if kr.Len() != 0 || agent.Len() != 2 {
		t.Fatalf("keyring %d, agent %d secrets; want 0, 2 (key, format anchor)", kr.Len(), agent.Len())
	}
	v3, _ := Open(Options{Dir: v.Dir(), Keyring: kr})
	if err := v3.Unlock(testPass, 0); !errors.Is(err, ErrKeyring) {
		t.Fatalf("Unlock without an agent = %v", err)
	}
}

// TestRekeyFollowsTheHolder: rekey puts the new key where the old one was.
func TestRekeyFollowsTheHolder(t *testing.T) {
	tv, agent := holderVault(t)
	kr := newFakeKeyring()
	kr.err = noBus
	v := tv.reopen(t, Options{Keyring: kr, Agent: agent})
	if err := v.Unlock(testPass, 0); err != nil {
		t.Fatal(err)
	}
	before, _ := agent.Get(KeyringService, v.ID())
	if err := v.Rekey(testPass); err != nil {
		t.Fatal(err)
	}
	after, err := agent.Get(KeyringService, v.ID())
	if err != nil || after == before {
		t.Fatalf("the agent does not hold the new key (%v)", err)
	}
	if _, err := v.List(); err != nil {
		t.Fatal(err)
	}
}

func TestProbeHolders(t *testing.T) {
	agent := &fakeAgent{fakeKeyring: newFakeKeyring()}
	broken := newFakeKeyring()
	broken.err = noBus
	for _, c := range []struct {
		name string
		opts Options
		want string
	}{
		{"keyring", Options{Keyring: newFakeKeyring(), Agent: agent}, HeldByKeyring},
		{"agent", Options{Keyring: broken, Agent: agent}, HeldByAgent},
		{"agent, no keyring", Options{Agent: agent}, HeldByAgent},
		{"neither", Options{Keyring: broken}, ""},
	} {
		if got := probeHolders(c.opts).Use(); got != c.want {
			t.Errorf("%s: %q, want %q", c.name, got, c.want)
		}
	}
	if h := probeHolders(Options{Keyring: broken}); !errors.Is(h.Keyring, ErrKeyring) {
		t.Errorf("the probe does not say why: %v", h.Keyring)
	}
}

// TestHoldersChoose: an agent that cannot be used is an error only when
// the keyring cannot hold the key either.
func TestHoldersChoose(t *testing.T) {
	t.Parallel()
	bad := errors.New("the socket directory is another user's")
	for _, c := range []struct {
		name string
		h    Holders
		want string
		err  error
	}{
		{"keyring", Holders{}, HeldByKeyring, nil},
		{"keyring, agent broken", Holders{AgentErr: bad}, HeldByKeyring, nil},
		{"agent", Holders{Keyring: ErrKeyring, Agent: true}, HeldByAgent, nil},
		{"neither", Holders{Keyring: ErrKeyring}, "", nil},
		{"neither, agent broken", Holders{Keyring: ErrKeyring, AgentErr: bad}, "", bad},
	} {
		got, err := c.h.Choose()
		if got != c.want || !errors.Is(err, c.err) || (c.err == nil) != (err == nil) {
			t.Errorf("%s: %q, %v; want %q, %v", c.name, got, err, c.want, c.err)
		}
	}
}

// TestDoctorNeverAdvisesUnlockInVain: Doctor recommends tgvault unlock
// only where the keyring or an agent can hold the key.
func TestDoctorNeverAdvisesUnlockInVain(t *testing.T) {
	tv, agent := holderVault(t)
	broken := newFakeKeyring()
	broken.err = noBus
	for _, c := range []struct {
		name   string
		opts   Options
		unlock bool
	}{
		{"keyring works", Options{Keyring: newFakeKeyring()}, true},
		{"agent possible", Options{Keyring: broken, Agent: agent}, true},
		{"no keyring, no agent", Options{Keyring: broken}, false},
		{"nothing", Options{}, false},
	} {
		var fix string
		names := map[string]bool{}
		for _, ch := range tv.reopen(t, c.opts).Doctor() {
			names[ch.Name] = true
			if ch.Name == "unlock" {
				fix = ch.Fix
			}
		}
		if !names["keyring"] || !names["agent"] || fix == "" {
			t.Errorf("%s: checks %v, unlock fix %q", c.name, names, fix)
		}
		if got := fix == "tgvault unlock"; got != c.unlock {
			t.Errorf("%s: unlock fix %q", c.name, fix)
		}
	}
}

// Len is the number of secrets held.
func (k *fakeKeyring) Len() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return len(k.m)
}

// spyKeyring counts every call made to it.
type spyKeyring struct {
	*fakeKeyring
	calls atomic.Int32
}

func (k *spyKeyring) Get(service, user string) (string, error) {
	k.calls.Add(1)
	return k.fakeKeyring.Get(service, user)
}

func (k *spyKeyring) Set(service, user, secret string) error {
	k.calls.Add(1)
	return k.fakeKeyring.Set(service, user, secret)
}

func (k *spyKeyring) Delete(service, user string) error {
	k.calls.Add(1)
	return k.fakeKeyring.Delete(service, user)
}

// TestOpenNoKeyringNeverAsksKeyring: Open (and Init) of a --no-keyring
// vault drop the keyring they are given, so nothing the vault does asks
// it: the caller need not find out first what kind of vault it opens.
func TestOpenNoKeyringNeverAsksKeyring(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	kr := &spyKeyring{fakeKeyring: newFakeKeyring()}
	v, err := Init(InitOptions{Options: Options{Dir: filepath.Join(t.TempDir(), "v"), Keyring: kr}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Open(Options{Dir: v.Dir(), Keyring: kr, Passphrase: testPass})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := v2.CreateAccount("a", &storage.Snapshot{Session: storage.SessionRow{DCID: 2, AuthKey: variantKey(t, 1)}}, "login"); err != nil {
		t.Fatal(err)
	}
	if s, err := v2.Status(); err != nil || !s.Unlocked || s.UnlockedBy != "passphrase" {
		t.Fatalf("Status = %+v, %v", s, err)
	}
	if _, err := v2.Recipient(); err != nil {
		t.Fatal(err)
	}
	v2.Doctor()
	if err := v2.Unlock(testPass, 0); !errors.Is(err, ErrKeyring) {
		t.Fatalf("Unlock without an agent = %v", err)
	}
	_ = v2.Lock()
	locked, err := Open(Options{Dir: v.Dir(), Keyring: kr})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := locked.List(); !errors.Is(err, ErrLocked) {
		t.Fatalf("List, locked = %v", err)
	}
	if n := kr.calls.Load(); n != 0 {
		t.Fatalf("the keyring was asked %d times", n)
	}
}
