package main

import (
	"errors"
	"fmt"
	"io"
	"os"
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

// importResult is one source's outcome in `import --json`.
type importResult struct {
	Source string `json:"source"`
	// Status is imported, existing, duplicate, skipped or failed.
	Status vault.ImportOutcome `json:"status"`
	Report *vault.ImportReport `json:"report,omitempty"`
	// Account names the account that has the source's key already
	// (existing, duplicate) or was made from it (imported).
	Account string `json:"account,omitempty"`
	// Reason says why a source was skipped.
	Reason string `json:"reason,omitempty"`
	// Removed is true when --remove-source deleted the plaintext source.
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
	Code    int    `json:"code,omitempty"`
	Kind    string `json:"kind,omitempty"`

	err error // the error behind Error
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

// source is one thing to import ("" path: stdin).
type source struct {
	path  string
	dir   bool // found inside a directory SOURCE
	tdata bool // a Telegram Desktop tdata folder
}

// importRun is one `tgvault import`: the outcome of every source.
type importRun struct {
	a       *app
	results []importResult
	// tally tells a duplicate within the import from a key that was in
	// the vault before.
	tally    vault.ImportTally
	firstErr error
	many     bool
	bulk     bulkSummary
}

func (r *importRun) count(status vault.ImportOutcome) int {
	n := 0
	for _, res := range r.results {
		if res.Status == status {
			n++
		}
	}
	return n
}

// imported records an imported source (or a source whose key was there).
func (r *importRun) imported(res importResult) {
	res.Status, res.Account = r.tally.Imported(*res.Report)
	if res.Status != vault.OutcomeImported {
		res.Report = nil
	}
	r.add(res, nil)
}

// failed records a source that was not imported: skipped when it is no
// session and was found in a directory, existing/duplicate for a key in
// the vault, else failed.
func (r *importRun) failed(res importResult, err error, found bool) {
	res.Status, res.Account, res.Reason = r.tally.Failed(err, found)
	if res.Status == vault.OutcomeSkipped {
		r.add(res, nil)
		return
	}
	res.Error, res.err = err.Error(), err
	res.Code, res.Kind = classify(err)
	r.add(res, err)
}

func (r *importRun) add(res importResult, err error) {
	if err != nil && r.firstErr == nil && res.Status == vault.OutcomeFailed {
		r.firstErr = err
	}
	r.results = append(r.results, res)
	if r.a.json {
		return
	}
	a := r.a
	switch res.Status {
	case vault.OutcomeImported:
		if r.bulk.quiet {
			r.bulk.add(res)
		} else {
			a.printImport(res)
		}
	case vault.OutcomeExisting, vault.OutcomeDuplicate:
		switch {
		case r.bulk.quiet:
		case res.Error == "":
			a.notef("%s: already in the vault as %s (skipped)", res.Source, res.Account)
		case r.many:
			a.notef("%s: %s", res.Source, res.Error)
		}
	case vault.OutcomeSkipped:
		if !r.bulk.quiet {
			a.notef("%s: skipped: %s", res.Source, res.Reason)
		}
	case vault.OutcomeFailed:
		if r.many {
			a.notef("%s: %v", res.Source, err)
		}
	}
}

// finish prints the summary and decides the exit status.
func (r *importRun) finish(skipExisting bool) error {
	a := r.a
	imported, existing, dups := r.count(vault.OutcomeImported), r.count(vault.OutcomeExisting), r.count(vault.OutcomeDuplicate)
	skipped, failed := r.count(vault.OutcomeSkipped), r.count(vault.OutcomeFailed)
	if a.json {
		if r.results == nil {
			r.results = []importResult{}
		}
		if err := a.printJSON(struct {
			Imported   int            `json:"imported"`
			Existing   int            `json:"existing"`
			Duplicates int            `json:"duplicates"`
			Skipped    int            `json:"skipped"`
			Failed     int            `json:"failed"`
			Results    []importResult `json:"results"`
		}{imported, existing, dups, skipped, failed, r.results}); err != nil {
			return err
		}
	} else if r.many || len(r.results) > 1 {
		a.printf("imported %d, already in the vault %d, duplicates %d, skipped %d, failed %d (of %d sources)\n",
			imported, existing, dups, skipped, failed, len(r.results))
		r.printDetails()
		r.bulk.print(a)
	}
	if imported > 0 && !a.json {
		// One key, one place: the sessions came from somewhere that may
		// still use them.
		a.notef("`tgvault run` connects the imported accounts to their server (Telegram, for Telegram's sessions): first stop every other program that uses these sessions, or Telegram revokes the key used from two places at once (AUTH_KEY_DUPLICATED)")
	}
	refused := existing + dups
	if skipExisting {
		refused = 0
	}
	switch {
	case failed == 0 && refused == 0:
		return nil
	case len(r.results) == 1:
		if r.firstErr != nil {
			return r.firstErr
		}
		return r.refusedErr()
	case failed > 0:
		return fmt.Errorf("%d of %d sources failed; the first: %w", failed, len(r.results), r.firstErr)
	}
	return fmt.Errorf("%d of %d sources hold a key the vault has already (--skip-existing skips them, --replace replaces the account): %w", refused, len(r.results), r.refusedErr())
}

// refusedErr is the first duplicate-key refusal, as an error.
func (r *importRun) refusedErr() error {
	for _, res := range r.results {
		if (res.Status == vault.OutcomeExisting || res.Status == vault.OutcomeDuplicate) && res.err != nil {
			return res.err
		}
	}
	return vault.ErrDuplicateKey
}

// printDetails lists, after a quiet bulk import, what was skipped (by
// reason, with a few paths each), refused and failed.
func (r *importRun) printDetails() {
	if !r.bulk.quiet {
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
	srcs, skipped, err := importSources(f, args)
	if err != nil {
		return err
	}
	return a.withVault(perProcess, func(v *vault.Vault) error {
		var sealPass crypto.Passphrase
		defer func() { sealPass.Wipe() }()
		run := &importRun{a: a, many: len(srcs)+len(skipped) > 1}
		run.bulk.quiet = len(srcs)+len(skipped) > bulkQuiet
		for _, k := range skipped {
			run.add(importResult{Source: k.Path, Status: vault.OutcomeSkipped, Reason: k.Reason}, nil)
		}
		var batch []string
		for _, s := range srcs {
			if s.dir && !s.tdata {
				batch = append(batch, s.path)
				continue
			}
			if s.tdata {
				res, err := a.importTData(v, s, opts)
				if err != nil {
					run.failed(importResult{Source: s.path}, err, false)
				}
				for _, r := range res {
					run.imported(r)
				}
				continue
			}
			res, err := a.importOne(v, s, opts, &sealPass)
			if err != nil {
				run.failed(res, err, false)
			} else {
				run.imported(res)
			}
		}
		if len(batch) > 0 {
			for _, r := range a.importBatch(v, batch, opts) {
				if r.err != nil {
					run.failed(r.importResult, r.err, true)
				} else {
					run.imported(r.importResult)
				}
			}
		}
		return run.finish(f.skipExisting)
	})
}

// importOptions checks import's flags and turns them into the vault's
// options.
func importOptions(f importFlags) (vault.ImportOptions, error) {
	opts := vault.ImportOptions{Name: f.name, Format: f.format, SkipExisting: f.skipExisting, Replace: f.replace, Force: f.force, RemoveSource: f.removeSource}
	if f.apiID != "" {
		n, err := strconv.ParseInt(f.apiID, 10, 32)
		if err != nil || n <= 0 {
			return opts, usagef("--api-id wants a positive number")
		}
		opts.APIID = sessionstring.Some(int32(n))
	}
	if !vault.ValidImportFormat(f.format) {
		return opts, usagef("unknown --format %q (%s, %s or %s)", f.format, formatNames(), vault.FormatPyrogramFile, vault.FormatTelethonFile)
	}
	if f.skipExisting && f.replace {
		return opts, usagef("--skip-existing and --replace exclude each other")
	}
	return opts, nil
}

// importSources lists what import reads: stdin for "-", the files and
// tdata folders given and found below the directories given, and the
// files skipped there.
func importSources(f importFlags, args []string) ([]source, []vault.SkippedSource, error) {
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
		return nil, nil, usagef("- (stdin) can be given once")
	}
	found, skipped, err := vault.FindSources(paths, vault.FindOptions{NoRecurse: f.noRecurse, IsFolder: mtproto.IsTData})
	if err != nil {
		return nil, nil, err
	}
	var srcs []source
	if stdin > 0 {
		srcs = append(srcs, source{})
	}
	for _, s := range found {
		if s.Folder && f.removeSource {
			return nil, nil, usagef("--remove-source does not delete a tdata folder (%s); delete it yourself once Telegram Desktop no longer uses it", s.Path)
		}
		srcs = append(srcs, source{path: s.Path, dir: s.Found, tdata: s.Folder})
	}
	if f.name != "" && (len(srcs) != 1 || srcs[0].dir) {
		return nil, nil, usagef("--name needs exactly one SOURCE file or tdata folder")
	}
	if len(srcs) == 0 && len(skipped) == 0 {
		return nil, nil, errors.New("import: no files in the given directories")
	}
	return srcs, skipped, nil
}

type batchResult struct {
	importResult
	err error
}

// importBatch imports the files found in directory SOURCEs with the
// vault's bulk import (one lock, batched index writes), with a progress
// bar on a terminal. The vault removes a source (--remove-source) once
// its account is in a saved index; a file it did not report (its batch's
// index write failed, or the import stopped) gets ImportFiles' error. A
// sealed string in a directory opens with the vault key, or with the
// passphrase in TGVAULT_SEAL_PASSPHRASE_FILE (a bulk import never
// prompts).
func (a *app) importBatch(v *vault.Vault, paths []string, opts vault.ImportOptions) []batchResult {
	out := make([]batchResult, len(paths))
	for i, p := range paths {
		out[i].Source = p
	}
	p, err := a.passphraseFromEnv("TGVAULT_SEAL_PASSPHRASE_FILE")
	if err != nil {
		for i := range out {
			out[i].err = err
		}
		return out
	}
	defer p.Wipe()
	opts.Passphrase = p
	bar := a.progress(len(paths), "importing")
	reported := make([]bool, len(paths))
	err = v.ImportFiles(paths, opts, func(done int, r vault.ImportReport, err error) {
		i := done - 1
		if i < 0 || i >= len(out) {
			return
		}
		reported[i] = true
		out[i].importResult, out[i].err = reportOf(out[i].importResult, r, err)
		bar.add(1)
	})
	bar.finish()
	for i := range out {
		if !reported[i] {
			out[i].err = err
		}
	}
	return out
}

// reportOf puts a vault import's report and error into res: the report
// when the source was imported, even if removing it failed.
func reportOf(res importResult, r vault.ImportReport, err error) (importResult, error) {
	if _, ok := errors.AsType[*vault.RemoveSourceError](err); err == nil || ok {
		res.Report, res.Removed = &r, r.Removed
	}
	return res, err
}

func displayName(path string) string {
	if path == "" {
		return "stdin"
	}
	return path
}

// importOne imports one source. A sealed hand-off made with --passphrase
// asks for that passphrase once per run.
func (a *app) importOne(v *vault.Vault, s source, opts vault.ImportOptions, sealPass *crypto.Passphrase) (importResult, error) {
	res := importResult{Source: displayName(s.path)}
	var data []byte
	var err error
	if s.path == "" {
		data, err = vault.ReadStream(a.stdin)
		if errors.Is(err, vault.ErrSourceTooLarge) {
			err = errors.New("import: stdin is larger than any session")
		}
	} else {
		data, err = readHead(s.path, 64<<10)
	}
	defer clear(data)
	if err != nil {
		return res, err
	}
	if crypto.PassphraseSealed(data) { // made with `export --passphrase`: ask for it
		if *sealPass == nil {
			p, err := a.passphrase("TGVAULT_SEAL_PASSPHRASE_FILE", "Passphrase of the sealed session: ", false)
			if err != nil {
				return res, err
			}
			*sealPass = p
		}
		opts.Passphrase = *sealPass
	}
	var rep vault.ImportReport
	if s.path == "" {
		rep, err = v.Import(data, "", opts)
	} else {
		rep, err = v.ImportFile(s.path, opts)
	}
	return reportOf(res, rep, err)
}

// importTData imports every account of a Telegram Desktop tdata folder.
// The folder is read without a passcode first; one with a local passcode
// asks for it (or reads TGVAULT_TDATA_PASSCODE_FILE).
func (a *app) importTData(v *vault.Vault, s source, opts vault.ImportOptions) ([]importResult, error) {
	const env = "TGVAULT_TDATA_PASSCODE_FILE"
	pass, err := a.passphraseFromEnv(env)
	if err != nil {
		return nil, err
	}
	defer func() { pass.Wipe() }()
	ss, err := mtproto.ReadTData(s.path, pass)
	if errors.Is(err, mtproto.ErrTDataPasscode) {
		pass, err = a.passphrase(env, "Local passcode of the tdata folder: ", false)
		if err != nil {
			return nil, err
		}
		ss, err = mtproto.ReadTData(s.path, pass)
	}
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", s.path, err)
	}
	reps, err := v.ImportSessions(ss, mtproto.SourceTData, s.path, opts)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", s.path, err)
	}
	out := make([]importResult, len(reps))
	for i := range reps {
		out[i] = importResult{Source: s.path, Report: &reps[i]}
	}
	return out, nil
}

// readHead reads up to n bytes of a file, enough to tell a sealed string.
func readHead(path string, n int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, n))
	if err != nil {
		return nil, fmt.Errorf("import: %w", err)
	}
	return b, nil
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

// bulkSummary adds up what a large import's sources lacked and left
// behind.
type bulkSummary struct {
	quiet     bool // over bulkQuiet sources: a summary, not a line each
	lacks     map[string]int
	remaining int
	removed   int
}

func (b *bulkSummary) add(res importResult) {
	if b.lacks == nil {
		b.lacks = map[string]int{}
	}
	for _, l := range res.Report.Lacks {
		b.lacks[l]++
	}
	switch {
	case res.Removed:
		b.removed++
	case res.Report.PlaintextRemains:
		b.remaining++
	}
}

func (b *bulkSummary) print(a *app) {
	var lacks []string
	for l, n := range b.lacks {
		lacks = append(lacks, fmt.Sprintf("%s (%d)", l, n))
	}
	sort.Strings(lacks)
	if len(lacks) > 0 {
		a.notef("some sources did not carry: %s. Formats that need them cannot be exported until they are known; `tgvault list` shows which.", strings.Join(lacks, ", "))
	}
	if b.removed > 0 {
		a.notef("removed %d plaintext sources", b.removed)
	}
	if b.remaining > 0 {
		a.warnf("%d plaintext originals still exist: anyone who reads them has the accounts. Delete them, or import with --remove-source.", b.remaining)
	}
}
