package vault

import (
	"errors"
	"fmt"
	"testing"
)

// TestImportTally: a key made by this import and met again is a
// duplicate, one the vault had before is existing (as a report or as a
// refusal); no session is skipped only when found in a directory.
func TestImportTally(t *testing.T) {
	t.Parallel()
	var tl importTally
	check := func(what string, o, want ImportOutcome, acct, wantAcct string) {
		t.Helper()
		if o != want || acct != wantAcct {
			t.Errorf("%s: %s %q, want %s %q", what, o, acct, want, wantAcct)
		}
	}
	o, a := tl.Imported(ImportReport{Account: Account{Name: "new"}})
	check("a new account", o, OutcomeImported, a, "new")
	o, a = tl.Imported(ImportReport{Existing: "new"})
	check("its key again", o, OutcomeDuplicate, a, "new")
	o, a = tl.Imported(ImportReport{Existing: "old"})
	check("a key from before", o, OutcomeExisting, a, "old")
	o, a, _ = tl.Failed(fmt.Errorf("import x: %w", &DuplicateKeyError{Account: "new"}), true)
	check("refused, its key again", o, OutcomeDuplicate, a, "new")
	o, a, _ = tl.Failed(&DuplicateKeyError{Account: "old"}, false)
	check("refused, a key from before", o, OutcomeExisting, a, "old")
	o, _, why := tl.Failed(&NotSessionError{Reason: "an empty file"}, true)
	check("no session in a directory", o, OutcomeSkipped, why, "an empty file")
	o, _, _ = tl.Failed(&NotSessionError{Reason: "an empty file"}, false)
	check("no session given by name", o, OutcomeFailed, "", "")
	o, _, _ = tl.Failed(errors.New("disk full"), true)
	check("another error", o, OutcomeFailed, "", "")
}
