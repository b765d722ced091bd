package vault

import "errors"

// ImportOutcome is what became of one source of an import.
type ImportOutcome string

// The outcomes of an import's sources (ImportTally).
const (
	OutcomeImported  ImportOutcome = "imported"
	OutcomeExisting  ImportOutcome = "existing"  // its key was in the vault before this import
	OutcomeDuplicate ImportOutcome = "duplicate" // its key came in from another source of this import
	OutcomeSkipped   ImportOutcome = "skipped"   // no session (a README, a symlink, a FIFO, ...), found in a directory
	OutcomeFailed    ImportOutcome = "failed"
)

// ImportTally sorts the sources of one import, one after another, by
// what became of them. One key, one account: a source whose key the vault
// held before the import is existing, one whose key another source of the
// same import brought in is a duplicate. Its zero value is ready; it is
// not safe for concurrent use.
type ImportTally struct {
	ours map[string]bool // the accounts this import made
}

// Imported sorts a source whose import returned rep: imported (account:
// the one made), or existing or duplicate (account: the one that holds
// the key, rep.Existing).
func (t *ImportTally) Imported(rep ImportReport) (o ImportOutcome, account string) {
	switch {
	case rep.Existing != "" && t.ours[rep.Existing]:
		return OutcomeDuplicate, rep.Existing
	case rep.Existing != "":
		return OutcomeExisting, rep.Existing
	}
	if t.ours == nil {
		t.ours = map[string]bool{}
	}
	t.ours[rep.Account.Name] = true
	return OutcomeImported, rep.Account.Name
}

// Failed sorts a source whose import returned err: skipped (with the
// reason) when it is no session (*NotSessionError) and was found inside a
// directory (found), existing or duplicate (with the account that holds
// the key) for a *DuplicateKeyError, else failed.
func (t *ImportTally) Failed(err error, found bool) (o ImportOutcome, account, reason string) {
	var ns *NotSessionError
	var de *DuplicateKeyError
	switch {
	case found && errors.As(err, &ns):
		return OutcomeSkipped, "", ns.Reason
	case errors.As(err, &de) && t.ours[de.Account]:
		return OutcomeDuplicate, de.Account, ""
	case errors.As(err, &de):
		return OutcomeExisting, de.Account, ""
	}
	return OutcomeFailed, "", ""
}
