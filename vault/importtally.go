package vault

import (
	"errors"
	"fmt"
)

// ImportOutcome is what became of one source of an import.
type ImportOutcome string

// The outcomes of an import's sources (ImportResult.Status).
const (
	OutcomeImported  ImportOutcome = "imported"
	OutcomeExisting  ImportOutcome = "existing"  // its key was in the vault before this import
	OutcomeDuplicate ImportOutcome = "duplicate" // its key came in from another source of this import
	OutcomeSkipped   ImportOutcome = "skipped"   // no session (a README, a symlink, a FIFO, ...), found in a directory
	OutcomeFailed    ImportOutcome = "failed"
)

// importTally sorts the sources of one import, one after another, by
// what became of them. One key, one account: a source whose key the vault
// held before the import is existing, one whose key another source of the
// same import brought in is a duplicate. Its zero value is ready; it is
// not safe for concurrent use.
type importTally struct {
	ours map[string]bool // the accounts this import made
}

// Imported sorts a source whose import returned rep: imported (account:
// the one made), or existing or duplicate (account: the one that holds
// the key, rep.Existing).
func (t *importTally) Imported(rep ImportReport) (o ImportOutcome, account string) {
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
func (t *importTally) Failed(err error, found bool) (o ImportOutcome, account, reason string) {
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

// ImportResult is what became of one source of ImportSources: the record
// `tgvault import --json` prints per source.
type ImportResult struct {
	Source string `json:"source"`
	// Status is imported, existing, duplicate, skipped or failed.
	Status ImportOutcome `json:"status"`
	Report *ImportReport `json:"report,omitempty"`
	// Account names the account that has the source's key already
	// (existing, duplicate) or was made from it (imported).
	Account string `json:"account,omitempty"`
	// Reason says why a source was skipped.
	Reason string `json:"reason,omitempty"`
	// Removed is true when ImportOptions.RemoveSource deleted the
	// plaintext source.
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
	// Err is the error behind Error.
	Err error `json:"-"`
}

// ImportSummary is every source's result of ImportSources, in order.
type ImportSummary struct {
	Results []ImportResult
	tally   importTally
}

// count is how many sources had outcome o.
func (s *ImportSummary) count(o ImportOutcome) int {
	n := 0
	for _, r := range s.Results {
		if r.Status == o {
			n++
		}
	}
	return n
}

// imported records a source whose import returned a report (an account
// made, or the one that held its key already).
func (s *ImportSummary) imported(res ImportResult) ImportResult {
	res.Status, res.Account = s.tally.Imported(*res.Report)
	if res.Status != OutcomeImported {
		res.Report = nil
	}
	return s.add(res)
}

// failed records a source whose import returned err (found: the source
// was found inside a directory; see importTally.Failed).
func (s *ImportSummary) failed(res ImportResult, err error, found bool) ImportResult {
	res.Status, res.Account, res.Reason = s.tally.Failed(err, found)
	if res.Status != OutcomeSkipped {
		res.Error, res.Err = err.Error(), err
	}
	return s.add(res)
}

// ImportCounts counts an import's sources by outcome (import --json's
// totals).
type ImportCounts struct {
	Imported   int `json:"imported"`
	Existing   int `json:"existing"`
	Duplicates int `json:"duplicates"`
	Skipped    int `json:"skipped"`
	Failed     int `json:"failed"`
}

// Counts counts the sources by outcome.
func (s *ImportSummary) Counts() ImportCounts {
	return ImportCounts{s.count(OutcomeImported), s.count(OutcomeExisting), s.count(OutcomeDuplicate),
		s.count(OutcomeSkipped), s.count(OutcomeFailed)}
}

// Leftovers counts, over the sources imported, the fields they did not
// carry (by ImportReport.Lacks name), the plaintext sources removed, and
// those whose plaintext remains (ImportReport.PlaintextRemains).
func (s *ImportSummary) Leftovers() (lacks map[string]int, removed, remaining int) {
	lacks = map[string]int{}
	for _, r := range s.Results {
		if r.Status != OutcomeImported {
			continue
		}
		for _, l := range r.Report.Lacks {
			lacks[l]++
		}
		switch {
		case r.Removed:
			removed++
		case r.Report.PlaintextRemains:
			remaining++
		}
	}
	return lacks, removed, remaining
}

func (s *ImportSummary) add(res ImportResult) ImportResult {
	s.Results = append(s.Results, res)
	return res
}

// err is the import's outcome as an error: nil when every source was
// imported or skipped (or, with skipExisting, held a key the vault had);
// a single source's own error; else an *ImportError.
func (s *ImportSummary) err(skipExisting bool) error {
	failed := s.count(OutcomeFailed)
	refused := s.count(OutcomeExisting) + s.count(OutcomeDuplicate)
	if skipExisting {
		refused = 0
	}
	var first, firstRefusal error
	for _, r := range s.Results {
		switch {
		case r.Err == nil:
		case r.Status == OutcomeFailed && first == nil:
			first = r.Err
		case (r.Status == OutcomeExisting || r.Status == OutcomeDuplicate) && firstRefusal == nil:
			firstRefusal = r.Err
		}
	}
	if firstRefusal == nil {
		firstRefusal = ErrDuplicateKey
	}
	switch {
	case failed == 0 && refused == 0:
		return nil
	case len(s.Results) == 1 && first != nil:
		return first
	case len(s.Results) == 1:
		return firstRefusal
	case failed > 0:
		return &ImportError{Sources: len(s.Results), Failed: failed, First: first}
	}
	return &ImportError{Sources: len(s.Results), Refused: refused, First: firstRefusal}
}

// ImportError is ImportSources' error when, of more than one source, some
// failed (Failed, and First the first failure), or none failed but some
// held a key the vault had already (Refused, and First the first
// refusal: errors.Is(err, ErrDuplicateKey)). Unwrap gives First, so the
// import's error is classified as its first failure or refusal. Its
// message says only what happened; a command that has flags to skip or
// replace such sources says so in its own text, from the fields.
type ImportError struct {
	Sources, Failed, Refused int
	First                    error
}

func (e *ImportError) Error() string {
	if e.Failed > 0 {
		return fmt.Sprintf("vault: import: %d of %d sources failed; the first: %v", e.Failed, e.Sources, e.First)
	}
	return fmt.Sprintf("vault: import: %d of %d sources hold a key the vault has already; the first: %v", e.Refused, e.Sources, e.First)
}

// Unwrap returns First.
func (e *ImportError) Unwrap() error { return e.First }
