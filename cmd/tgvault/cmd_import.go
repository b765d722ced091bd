package main

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage/foreign"
	"github.com/tgvault/tgvault/vault"
)

type importFlags struct {
	name         string
	format       string
	apiID        string
	removeSource bool
	noRecurse    bool
	skipExisting bool
	replace      bool
	force        bool
}

// importResult is one source's outcome in `import --json`: the vault's
// record, and the exit code and kind of its error.
type importResult struct {
	vault.ImportResult
	Code int    `json:"code,omitempty"`
	Kind string `json:"kind,omitempty"`
}

func (a *app) importCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import [--name NAME] [--format F] [--api-id N] [--remove-source] [--skip-existing] [--replace] [--no-recurse] SOURCE...",
		Short: "Seal sessions into the vault: files, directories or - for stdin",
		Long: `Import sessions into the vault. A SOURCE is a file (a session string in any
format, a Pyrogram/PyroFork/Kurigram/Telethon .session file, a gotd session
JSON file, or a sealed string from 'tgvault export --to/--passphrase'), a
Telegram Desktop tdata folder (every account in it), a directory, or - for
standard input.

A directory is searched recursively (--no-recurse: only the files directly
in it), with a progress bar on a terminal; every tdata folder below it is
imported too. Below a directory, files that are no session (a README, a
JSON file that is no gotd session, an SQLite database that is no session)
are skipped and said why, symbolic links are not followed, and named pipes,
sockets and devices are never opened. A bad session file does not stop the
others. The end shows a summary: imported, already in the vault, duplicates,
skipped and why, failed and why (--json: the same, per source).

One key, one account: a session whose auth key is in the vault already
(the same session in another format, a hand-off imported twice) is refused
(exit 5, kind duplicate_key), naming the account that has it.
--skip-existing skips such sources instead (exit 0 when the rest worked);
--replace replaces that account (it keeps its name unless --name).

A sealed hand-off string carries the account's name, which is kept unless
--name gives another. A tdata folder's accounts are named NAME, NAME-2, ...
with --name, else user<ID>. A tdata folder with a local passcode asks for it
(or reads it from the file named by TGVAULT_TDATA_PASSCODE_FILE). tdata does
not carry the api_id: give it with --api-id (the official Telegram
Desktop's is 2040). --remove-source does not delete a tdata folder.

The plaintext original is left where it was unless --remove-source, which
deletes it (and its -journal/-wal/-shm companions) once the sealed copy is
saved. A string sealed with --passphrase asks for that passphrase (or reads it
from the file named by TGVAULT_SEAL_PASSPHRASE_FILE).

Exit status: 0 when every source was imported or skipped; 1 when one
failed; 5 when none failed but a key was in the vault already (without
--skip-existing), or the vault was migrated (--force imports anyway).`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return usagef("import needs at least one SOURCE (a file, a directory, or - for stdin)")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return a.runImport(f, args)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.name, "name", "", "the account's `NAME` (default: from a hand-off, else the source); one SOURCE only")
	fl.StringVar(&f.format, "format", "", "the source format `F` (default: detect): "+formatNames()+", "+vault.FormatPyrogramFile+" or "+vault.FormatTelethonFile)
	fl.StringVar(&f.apiID, "api-id", "", "the api_id `N` for sources that lack it (Telethon, old Pyrogram)")
	fl.BoolVar(&f.removeSource, "remove-source", false, "delete each plaintext source file once its sealed copy is saved")
	fl.BoolVar(&f.noRecurse, "no-recurse", false, "take only the files directly inside a directory SOURCE")
	fl.BoolVar(&f.skipExisting, "skip-existing", false, "skip a source whose key is in the vault already (exit 0 when the rest worked)")
	fl.BoolVar(&f.replace, "replace", false, "replace the account that holds a source's key already")
	fl.BoolVar(&f.force, "force", false, "import into a vault that was migrated to PostgreSQL")
	return cmd
}

// formatNames lists the session-string format names.
func formatNames() string {
	var n []string
	for _, f := range sessionstring.Formats() {
		n = append(n, f.String())
	}
	return strings.Join(n, ", ")
}

// importRun prints one `tgvault import` as vault.ImportSources reports
// each source.
type importRun struct {
	a       *app
	results []importResult
	many    bool
	quiet   bool // over bulkQuiet sources: a summary, not a line each
}

// add prints one source's outcome (nothing with --json, where finish
// prints them all).
func (r *importRun) add(vr vault.ImportResult) {
	res := importResult{ImportResult: vr}
	if vr.Err != nil {
		res.Code, res.Kind = classify(vr.Err)
	}
	r.results = append(r.results, res)
	if r.a.json {
		return
	}
	a := r.a
	switch res.Status {
	case vault.OutcomeImported:
		if !r.quiet {
			a.printImport(res)
		}
	case vault.OutcomeExisting, vault.OutcomeDuplicate:
		switch {
		case r.quiet:
		case res.Error == "":
			a.notef("%s: already in the vault as %s (skipped)", res.Source, res.Account)
		case r.many:
			a.notef("%s: %s", res.Source, res.Error)
		}
	case vault.OutcomeSkipped:
		if !r.quiet {
			a.notef("%s: skipped: %s", res.Source, res.Reason)
		}
	case vault.OutcomeFailed:
		if r.many {
			a.notef("%s: %v", res.Source, res.Err)
		}
	}
}

// finish prints the summary; err is the import's outcome
// (vault.ImportSources'), which decides the exit status.
func (r *importRun) finish(s *vault.ImportSummary, err error) error {
	a := r.a
	c := s.Counts()
	if a.json {
		if r.results == nil {
			r.results = []importResult{}
		}
		if err := a.printJSON(struct {
			vault.ImportCounts
			Results []importResult `json:"results"`
		}{c, r.results}); err != nil {
			return err
		}
	} else if r.many || len(r.results) > 1 {
		a.printf("imported %d, already in the vault %d, duplicates %d, skipped %d, failed %d (of %d sources)\n",
			c.Imported, c.Existing, c.Duplicates, c.Skipped, c.Failed, len(r.results))
		r.printDetails()
		r.printLeftovers(s)
	}
	if c.Imported > 0 && !a.json {
		// One key, one place: the sessions came from somewhere that may
		// still use them.
		a.notef("`tgvault run` connects the imported accounts to their server (Telegram, for Telegram's sessions): first stop every other program that uses these sessions, or Telegram revokes the key used from two places at once (AUTH_KEY_DUPLICATED)")
	}
	if ie, ok := errors.AsType[*vault.ImportError](err); ok {
		return &importFailure{ie}
	}
	return err
}

// importFailure is import's error for a *vault.ImportError: the text
// names the flags that skip or replace the sources refused. It unwraps to
// the vault's error, so classify gives the first failure's or refusal's
// exit code and kind.
type importFailure struct{ err *vault.ImportError }

func (e *importFailure) Error() string {
	ie := e.err
	if ie.Failed > 0 {
		return fmt.Sprintf("%d of %d sources failed; the first: %v", ie.Failed, ie.Sources, ie.First)
	}
	return fmt.Sprintf("%d of %d sources hold a key the vault has already (--skip-existing skips them, --replace replaces the account): %v", ie.Refused, ie.Sources, ie.First)
}

func (e *importFailure) Unwrap() error { return e.err }

// printDetails lists, after a quiet bulk import, what was skipped (by
// reason, with a few paths each), refused and failed.
func (r *importRun) printDetails() {
	if !r.quiet {
		return
	}
	a := r.a
	byReason := map[string][]string{}
	var reasons []string
	for _, res := range r.results {
		switch res.Status {
		case vault.OutcomeSkipped:
			if byReason[res.Reason] == nil {
				reasons = append(reasons, res.Reason)
			}
			byReason[res.Reason] = append(byReason[res.Reason], res.Source)
		case vault.OutcomeExisting:
			a.notef("%s: already in the vault as %s", res.Source, res.Account)
		case vault.OutcomeDuplicate:
			a.notef("%s: a duplicate: the same key as %s, imported from another source just now", res.Source, res.Account)
		}
	}
	sort.Strings(reasons)
	for _, why := range reasons {
		paths := byReason[why]
		shown := paths[:min(len(paths), 5)]
		more := ""
		if len(paths) > len(shown) {
			more = fmt.Sprintf(", and %d more", len(paths)-len(shown))
		}
		a.notef("skipped %d: %s: %s%s", len(paths), why, strings.Join(shown, ", "), more)
	}
}

func (a *app) runImport(f importFlags, args []string) error {
	opts, err := importOptions(f)
	if err != nil {
		return err
	}
	req, err := importSources(f, opts, args, a.stdin)
	if err != nil {
		return err
	}
	n := len(req.Sources) + len(req.Skipped)
	if req.Stdin != nil {
		n++
	}
	run := &importRun{a: a, many: n > 1}
	run.quiet = n > bulkQuiet
	req.ReadFolder, req.FolderFormat = a.readTData, mtproto.SourceTData
	req.SealPassphrase = func(mayPrompt bool) (crypto.Passphrase, error) {
		const env = "TGVAULT_SEAL_PASSPHRASE_FILE"
		if !mayPrompt { // a bulk import never prompts
			return a.passphraseFromEnv(env)
		}
		return a.passphrase(env, "Passphrase of the sealed session: ", false)
	}
	req.Progress = func(n int) vault.ImportProgress { return importBar{a.progress(n, "importing")} }
	req.OnResult = run.add
	return a.withVault(perProcess, func(v *vault.Vault) error {
		s, err := v.ImportSources(req)
		return run.finish(&s, err)
	})
}

// importBar is the progress bar of a bulk import.
type importBar struct{ p *progress }

func (b importBar) Add(n int) { b.p.add(n) }
func (b importBar) Finish()   { b.p.finish() }

// readTData reads the sessions of a Telegram Desktop tdata folder without
// a passcode first; one with a local passcode asks for it (or reads
// TGVAULT_TDATA_PASSCODE_FILE).
func (a *app) readTData(path string) ([]sessionstring.Session, error) {
	const env = "TGVAULT_TDATA_PASSCODE_FILE"
	pass, err := a.passphraseFromEnv(env)
	if err != nil {
		return nil, err
	}
	defer func() { pass.Wipe() }()
	ss, err := mtproto.ReadTData(path, pass)
	if errors.Is(err, mtproto.ErrTDataPasscode) {
		pass, err = a.passphrase(env, "Local passcode of the tdata folder: ", false)
		if err != nil {
			return nil, err
		}
		ss, err = mtproto.ReadTData(path, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	return ss, nil
}

// importOptions checks import's flags and turns them into the vault's
// options.
func importOptions(f importFlags) (vault.ImportOptions, error) {
	opts := vault.ImportOptions{Name: f.name, Format: f.format, SkipExisting: f.skipExisting, Replace: f.replace, Force: f.force, RemoveSource: f.removeSource}
	var notNumber error
	if f.apiID != "" {
		var n int64
		n, notNumber = strconv.ParseInt(f.apiID, 10, 32)
		opts.APIID = sessionstring.Some(int32(n))
	}
	switch err := opts.Check(); {
	case notNumber != nil, errors.Is(err, vault.ErrBadAPIID):
		return opts, usagef("--api-id wants a positive number")
	case errors.Is(err, vault.ErrUnknownFormat):
		return opts, usagef("unknown --format %q (%s, %s or %s)", f.format, formatNames(), vault.FormatPyrogramFile, vault.FormatTelethonFile)
	case errors.Is(err, vault.ErrSkipAndReplace):
		return opts, usagef("--skip-existing and --replace exclude each other")
	default:
		return opts, err
	}
}

// importSources finds what import reads: stdin for "-", the files and
// tdata folders given and found below the directories given, and the
// files skipped there. vault.ImportRequest.Check's refusals are said in
// import's words (the flags and arguments they are about).
func importSources(f importFlags, opts vault.ImportOptions, args []string, stdinR io.Reader) (vault.ImportRequest, error) {
	req := vault.ImportRequest{Options: opts}
	var paths []string
	stdin := 0
	for _, arg := range args {
		if arg == "-" {
			stdin++
			continue
		}
		paths = append(paths, arg)
	}
	if stdin > 1 {
		return req, usagef("- (stdin) can be given once")
	}
	found, skipped, err := vault.FindSources(paths, vault.FindOptions{NoRecurse: f.noRecurse, IsFolder: mtproto.IsTData})
	if err != nil {
		return req, err
	}
	for _, s := range found {
		if s.Folder && f.removeSource {
			return req, usagef("--remove-source does not delete a tdata folder (%s); delete it yourself once Telegram Desktop no longer uses it", s.Path)
		}
	}
	if stdin > 0 {
		req.Stdin = stdinR
	}
	req.Sources, req.Skipped = found, skipped
	switch err := req.Check(); {
	case errors.Is(err, vault.ErrNameNeedsOneSource):
		return req, usagef("--name needs exactly one SOURCE file or tdata folder")
	case errors.Is(err, vault.ErrNoSources):
		return req, errors.New("import: no files in the given directories")
	default:
		return req, err
	}
}

// printImport says what one import carried and lacked, and warns about
// the plaintext original.
func (a *app) printImport(res importResult) {
	r := res.Report
	ac := r.Account
	a.printf("imported %s from %s (%s): user %s, dc %d, %d peers\n", ac.Name, res.Source, r.Source, opt(ac.UserID), ac.DCID, r.Peers)
	if r.Ambiguous {
		a.notef("%s: the format was ambiguous; read as %s (use --format to choose)", res.Source, r.Source)
	}
	if len(r.Lacks) > 0 {
		a.notef("%s did not carry: %s. Formats that need them cannot be exported until they are known%s.",
			res.Source, strings.Join(r.Lacks, ", "), apiIDHint(r.Lacks))
	}
	switch {
	case res.Removed:
		a.notef("removed the plaintext source %s", res.Source)
	case r.PlaintextRemains && r.Source == mtproto.SourceTData:
		a.warnf("the plaintext original %s still exists: anyone who reads it has the account. Delete it once Telegram Desktop no longer uses it.", res.Source)
	case r.PlaintextRemains:
		a.warnf("the plaintext original %s still exists: anyone who reads it has the account. Delete it, or import with --remove-source.", res.Source)
	}
}

func apiIDHint(lacks []string) string {
	for _, l := range lacks {
		if l == foreign.LackAPIID {
			return " (give api_id with --api-id N)"
		}
	}
	return ""
}

// bulkQuiet is the number of sources above which a bulk import prints one
// line per failure and a summary instead of a report per account.
const bulkQuiet = 10

// printLeftovers says, after a quiet bulk import, what its sources lacked
// and left behind.
func (r *importRun) printLeftovers(s *vault.ImportSummary) {
	if !r.quiet {
		return
	}
	a := r.a
	counts, removed, remaining := s.Leftovers()
	var lacks []string
	for l, n := range counts {
		lacks = append(lacks, fmt.Sprintf("%s (%d)", l, n))
	}
	sort.Strings(lacks)
	if len(lacks) > 0 {
		a.notef("some sources did not carry: %s. Formats that need them cannot be exported until they are known; `tgvault list` shows which.", strings.Join(lacks, ", "))
	}
	if removed > 0 {
		a.notef("removed %d plaintext sources", removed)
	}
	if remaining > 0 {
		a.warnf("%d plaintext originals still exist: anyone who reads them has the accounts. Delete them, or import with --remove-source.", remaining)
	}
}
