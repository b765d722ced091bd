package vault

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/testhooks"
)

// TestPlanHolder: the plan names the holder Unlock will use, says why the
// keyring offered is not it (never for a --no-keyring vault), and drops
// from the options a keyring that will not hold the key, so that nothing
// asks it again.
func TestPlanHolder(t *testing.T) {
	agent := &fakeAgent{fakeKeyring: newFakeKeyring()}
	badAgent := newFakeKeyring()
	badAgent.err = errors.New("the socket directory is another user's")
	for _, c := range []struct {
		name        string
		keyringErr  error // nil: a keyring that works
		agent       Keyring
		noKeyring   bool
		use         string
		why         bool // KeyringErr set
		keepKeyring bool // opts.Keyring left in place
		err         bool
	}{
		{"keyring", nil, agent, false, HeldByKeyring, false, true, false},
		{"agent", noBus, agent, false, HeldByAgent, true, false, false},
		{"no-keyring vault, agent", nil, agent, true, HeldByAgent, false, false, false},
		{"neither", noBus, nil, false, "", false, false, false},
		{"neither, agent broken", noBus, badAgent, false, "", false, false, true},
		{"keyring, agent broken", nil, badAgent, false, HeldByKeyring, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			kr := &spyKeyring{fakeKeyring: newFakeKeyring()}
			kr.err = c.keyringErr
			opts := Options{Keyring: kr, Agent: c.agent}
			p, err := planHolder(&opts, c.noKeyring)
			if (err != nil) != c.err {
				t.Fatalf("planHolder = %+v, %v", p, err)
			}
			if err != nil {
				return
			}
			if p.Holder != c.use || (p.KeyringErr != nil) != c.why || (opts.Keyring != nil) != c.keepKeyring {
				t.Fatalf("plan %+v, keyring kept %v; want %q, why %v, kept %v", p, opts.Keyring != nil, c.use, c.why, c.keepKeyring)
			}
			if c.why && !errors.Is(p.KeyringErr, ErrKeyring) {
				t.Errorf("KeyringErr %v is not the keyring's failure", p.KeyringErr)
			}
			// The reason is the keyring's cause in short, and nothing when
			// the keyring is not why.
			if got := p.KeyringReason(); c.why != (got != "") || c.why && !strings.HasPrefix(got, "no-dbus: ") {
				t.Errorf("KeyringReason %q", got)
			}
			if c.noKeyring && kr.calls.Load() != 0 {
				t.Errorf("a --no-keyring plan asked the keyring %d times", kr.calls.Load())
			}
		})
	}
}

// TestPlanInit: init is refused over a vault before any question, and
// where nothing can hold the key the vault is planned locked.
func TestPlanInit(t *testing.T) {
	tv := newTestVault(t)
	if err := CheckVacant(Options{Dir: tv.Dir()}); !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), tv.Dir()) {
		t.Fatalf("CheckVacant over a vault = %v, want ErrExists naming it", err)
	}
	if err := CheckVacant(Options{Dir: filepath.Join(t.TempDir(), "new")}); err != nil {
		t.Fatalf("CheckVacant of a new directory = %v", err)
	}
	broken := newFakeKeyring()
	broken.err = noBus
	for _, c := range []struct {
		name   string
		opts   InitOptions
		use    string
		locked bool
	}{
		{"keyring", InitOptions{Options: Options{Keyring: newFakeKeyring()}}, HeldByKeyring, false},
		{"agent", InitOptions{Options: Options{Keyring: broken, Agent: &fakeAgent{fakeKeyring: newFakeKeyring()}}}, HeldByAgent, false},
		{"nothing", InitOptions{Options: Options{Keyring: broken}}, "", true},
		{"no keyring", InitOptions{NoKeyring: true}, "", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			o := c.opts
			o.Dir = filepath.Join(t.TempDir(), "v")
			p, err := PlanInit(&o)
			if err != nil || p.Holder != c.use || o.LeaveLocked != c.locked {
				t.Fatalf("PlanInit = %+v, %v, LeaveLocked %v; want %q, %v", p, err, o.LeaveLocked, c.use, c.locked)
			}
		})
	}
}

// TestOpenForUnlock: unlock refuses, before the passphrase, where nothing
// can hold the key between processes; elsewhere the vault it opens
// unlocks into the planned holder.
func TestOpenForUnlock(t *testing.T) {
	tv, agent := holderVault(t)
	broken := newFakeKeyring()
	broken.err = noBus
	if _, _, err := OpenForUnlock(Options{Dir: tv.Dir(), Keyring: broken}); !errors.Is(err, ErrNoHolder) || !errors.Is(err, ErrKeyring) {
		t.Fatalf("OpenForUnlock with no holder = %v, want ErrNoHolder (an ErrKeyring)", err)
	}
	if _, _, err := OpenForUnlock(Options{Dir: filepath.Join(t.TempDir(), "none"), Keyring: newFakeKeyring()}); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("OpenForUnlock of no vault = %v, want ErrNotInitialized", err)
	}
	v, p, err := OpenForUnlock(Options{Dir: tv.Dir(), Keyring: broken, Agent: agent, Now: tv.clock.Now})
	if err != nil || p.Holder != HeldByAgent {
		t.Fatalf("OpenForUnlock = %+v, %v", p, err)
	}
	defer v.Close()
	if err := v.Unlock(testPass, time.Hour); err != nil {
		t.Fatal(err)
	}
	if st, err := v.Status(); err != nil || st.UnlockedBy != HeldByAgent {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	if broken.Len() != 0 {
		t.Error("the keyring that cannot hold the key got a secret")
	}
}

// TestOpenForUnlockNoKeyringVault: a --no-keyring vault plans the agent
// without asking the OS keyring, and without a word about it.
func TestOpenForUnlockNoKeyringVault(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	v, err := Init(InitOptions{Options: Options{Dir: filepath.Join(t.TempDir(), "v")}, NoKeyring: true}, testPass)
	if err != nil {
		t.Fatal(err)
	}
	kr := &spyKeyring{fakeKeyring: newFakeKeyring()}
	agent := &fakeAgent{fakeKeyring: newFakeKeyring()}
	v2, p, err := OpenForUnlock(Options{Dir: v.Dir(), Keyring: kr, Agent: agent})
	if err != nil || p.Holder != HeldByAgent || p.KeyringErr != nil {
		t.Fatalf("OpenForUnlock = %+v, %v", p, err)
	}
	defer v2.Close()
	if n := kr.calls.Load(); n != 0 {
		t.Fatalf("the keyring was asked %d times", n)
	}
}

// TestRecipientOrUnverified: unlocked, the recipient is derived from the
// key; locked, it is vault.json's copy, marked not verified.
func TestRecipientOrUnverified(t *testing.T) {
	tv := newTestVault(t)
	want, err := tv.Recipient()
	if err != nil {
		t.Fatal(err)
	}
	if r, verified, err := tv.RecipientOrUnverified(); r != want || !verified || err != nil {
		t.Fatalf("unlocked: %q, %v, %v", r, verified, err)
	}
	if err := tv.Lock(); err != nil {
		t.Fatal(err)
	}
	if r, verified, err := tv.RecipientOrUnverified(); r != want || verified || err != nil {
		t.Fatalf("locked: %q, %v, %v", r, verified, err)
	}
}
