package vault

import (
	"testing"
	"time"
)

// runHolders is a backend whose accounts are held by the given processes.
type runHolders struct {
	Backend
	hs map[string]LockHolder
}

func (b runHolders) AccountHolders() (map[string]LockHolder, error) { return b.hs, nil }

// TestStatusReport: status's report names each held account's holder and says
// whether one of them serves (a run, a worker) rather than uses it for a
// moment (an export).
func TestStatusReport(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "pyrogram/session_string_v3.txt"), "", ImportOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	list, err := tv.List()
	if err != nil {
		t.Fatal(err)
	}
	since := time.Unix(1700000000, 0).UTC()
	for _, c := range []struct {
		name    string
		command string
		serving bool
	}{
		{"none", "", false},
		{"export", "tgvault export", false},
		{"run", "tgvault run", true},
		{"worker", "tgvault run --worker w1", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			hs := map[string]LockHolder{}
			if c.command != "" {
				hs[list[0].ID] = LockHolder{PID: 42, Command: c.command, Since: since}
			}
			v := tv.reopen(t, Options{Backend: runHolders{DirBackend(tv.Dir()), hs}, Keyring: tv.kr})
			r, err := v.StatusReport()
			if err != nil {
				t.Fatal(err)
			}
			if r.Serving != c.serving || len(r.Holders) != len(hs) || r.Accounts != 1 || !r.Unlocked {
				t.Fatalf("Report = %+v, want serving %v, %d holder(s)", r, c.serving, len(hs))
			}
			if len(hs) > 0 && (r.Holders[0].Name != "a" || r.Holders[0].Holder.PID != 42) {
				t.Errorf("holder %+v, want a held by pid 42", r.Holders[0])
			}
		})
	}
}
