package vault

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
)

// TestHandOffSurvivesIndexRollback: export --move writes the hand-off
// into the account's own file, so restoring an older index.age (a sync
// tool, a backup) that still says active revives nothing: no export, no
// pool, no second move; the index is repaired from the file.
func TestHandOffSurvivesIndexRollback(t *testing.T) {
	tv := newTestVault(t)
	for i, n := range []string{"a", "b"} {
		if _, err := tv.ImportFile(variantFile(t, i+1), ImportOptions{Name: n}); err != nil {
			t.Fatal(err)
		}
	}
	idxPath := filepath.Join(tv.Dir(), indexName)
	before, _ := os.ReadFile(idxPath)
	id, _ := crypto.GenerateIdentity()
	to := []*crypto.Recipient{id.Recipient()}
	if _, err := tv.ExportSealed("a", SealedExportOptions{To: to, Move: true}); err != nil {
		t.Fatal(err)
	}
	if err := tv.SetStatus("b", StatusRevoked, "test"); err != nil {
		t.Fatal(err)
	}
	// The rollback: the index from before the move and the mark.
	if err := os.WriteFile(idxPath, before, 0o600); err != nil {
		t.Fatal(err)
	}
	list, err := tv.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range list {
		if a.Status != StatusActive {
			t.Fatalf("the rolled-back index says %s for %s, want active (the test needs it)", a.Status, a.Name)
		}
	}
	files, errs, err := tv.OpenAccounts(list, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i, a := range list {
		if files[i] != nil {
			files[i].Close()
			t.Errorf("%s: the pool would serve it after an index rollback", a.Name)
		}
		if a.Name == "a" && !errors.Is(errs[i], ErrHandedOff) {
			t.Errorf("a: %v, want ErrHandedOff", errs[i])
		}
	}
	if _, err := tv.Export("a", 0, false); !errors.Is(err, ErrHandedOff) {
		t.Errorf("Export(a) after the rollback: %v", err)
	}
	if _, err := tv.ExportSealed("a", SealedExportOptions{To: to, Move: true}); !errors.Is(err, ErrHandedOff) {
		t.Errorf("a second move after the rollback: %v", err)
	}
	if _, err := tv.OpenAccount("a"); !errors.Is(err, ErrHandedOff) {
		t.Errorf("OpenAccount(a) after the rollback: %v", err)
	}
	// The index caught up with the files.
	for n, want := range map[string]AccountStatus{"a": StatusHandedOff, "b": StatusRevoked} {
		if a, _ := tv.Show(n); a.Status != want {
			t.Errorf("%s: index says %s after the files were read, want %s", n, a.Status, want)
		}
	}
	var seen int
	for _, c := range tv.Doctor() {
		if c.Name == "account a" && strings.Contains(c.Detail, string(StatusHandedOff)) {
			seen++
		}
	}
	if seen != 1 {
		t.Error("Doctor does not say a is handed off")
	}

	// Reclaim writes the file too; an index rolled back to the hand-off
	// keeps it refused (the safe side) until reclaim is run again.
	handedOff, _ := os.ReadFile(idxPath)
	if err := tv.Reclaim("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Export("a", 0, false); err != nil {
		t.Fatalf("Export after Reclaim: %v", err)
	}
	os.WriteFile(idxPath, handedOff, 0o600)
	if _, err := tv.Export("a", 0, false); !errors.Is(err, ErrHandedOff) {
		t.Errorf("Export with an index saying handed off: %v", err)
	}
	if err := tv.Reclaim("a"); err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Export("a", 0, false); err != nil {
		t.Errorf("Export after the second Reclaim: %v", err)
	}
}

// TestMoveMarksFileFirst: the sealed string comes out only once the
// account file says handed off.
func TestMoveMarksFileFirst(t *testing.T) {
	tv := newTestVault(t)
	r, err := tv.ImportFile(variantFile(t, 1), ImportOptions{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	id, _ := crypto.GenerateIdentity()
	if _, err := tv.ExportSealed("a", SealedExportOptions{To: []*crypto.Recipient{id.Recipient()}, Move: true}); err != nil {
		t.Fatal(err)
	}
	st, _ := tv.unlock()
	s, _ := st.sealer()
	a := r.Account
	a.Revision = 0
	f, err := tv.openFile(s, true, &a)
	if err != nil {
		t.Fatal(err)
	}
	defer dropStore(f)
	fs, ok, err := stateOf(f)
	if err != nil || !ok || fs.Status != StatusHandedOff || f.Revision() != 2 {
		t.Errorf("file state %+v, %v, %v; revision %d (want handed_off at 2)", fs, ok, err, f.Revision())
	}
}
