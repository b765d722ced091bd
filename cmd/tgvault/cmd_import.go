package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

type importFlags struct {
	name         string
	format       string
	apiID        string
	removeSource bool
}

// importResult is one source's outcome in `import --json`.
type importResult struct {
	Source string              `json:"source"`
	Report *vault.ImportReport `json:"report,omitempty"`
	// Removed is true when --remove-source deleted the plaintext source.
	Removed bool   `json:"removed"`
	Error   string `json:"error,omitempty"`
	Code    int    `json:"code,omitempty"`
}

func (a *app) importCmd() *cobra.Command {
	var f importFlags
	cmd := &cobra.Command{
		Use:   "import [--name NAME] [--format F] [--api-id N] [--remove-source] SOURCE...",
		Short: "Seal sessions into the vault: files, directories or - for stdin",
		Long: `Import sessions into the vault. A SOURCE is a file (a session string in any
format, a Pyrogram/PyroFork/Kurigram/Telethon .session file, a gotd session
JSON file, or a sealed string from 'tgvault export --to/--passphrase'), a
Telegram Desktop tdata folder (every account in it), a directory (every
file in it, with a progress bar on a terminal), or - for standard input.

A tdata folder's accounts are named NAME, NAME-2, ... with --name, else
user<ID>. A tdata folder with a local passcode asks for it (or reads it
from the file named by TGVAULT_TDATA_PASSCODE_FILE). tdata does not carry
the api_id: give it with --api-id (the official Telegram Desktop's is 2040).
--remove-source does not delete a tdata folder.

The plaintext original is left where it was unless --remove-source, which
deletes it (and its -journal/-wal/-shm companions) once the sealed copy is
saved. A string sealed with --passphrase asks for that passphrase (or reads it
from the file named by TGVAULT_SEAL_PASSPHRASE_FILE).`,
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
	fl.StringVar(&f.name, "name", "", "the account's `NAME` (default: from the source); one SOURCE only")
	fl.StringVar(&f.format, "format", "", "the source format `F` (default: detect): "+formatNames()+", pyrogram-file or telethon-file")
	fl.StringVar(&f.apiID, "api-id", "", "the api_id `N` for sources that lack it (Telethon, old Pyrogram)")
	fl.BoolVar(&f.removeSource, "remove-source", false, "delete each plaintext source file once its sealed copy is saved")
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

// source is one file to import ("" path: stdin).
type source struct {
	path  string
	dir   bool // found inside a directory SOURCE
	tdata bool // a Telegram Desktop tdata folder
}

func (a *app) runImport(f importFlags, args []string) error {
	opts := vault.ImportOptions{Name: f.name, Format: f.format}
	if f.apiID != "" {
		n, err := strconv.ParseInt(f.apiID, 10, 32)
		if err != nil || n <= 0 {
			return usagef("--api-id wants a positive number")
		}
		opts.APIID = sessionstring.Some(int32(n))
	}
	if f.format != "" && f.format != "pyrogram-file" && f.format != "telethon-file" {
		if _, err := sessionstring.ParseFormat(f.format); err != nil {
			return usagef("unknown --format %q (%s, pyrogram-file or telethon-file)", f.format, formatNames())
		}
	}
	var srcs []source
	stdin := 0
	for _, arg := range args {
		if arg == "-" {
			stdin++
			srcs = append(srcs, source{})
			continue
		}
		st, err := os.Stat(arg)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		if !st.IsDir() {
			srcs = append(srcs, source{path: arg})
			continue
		}
		if mtproto.IsTData(arg) {
			if f.removeSource {
				return usagef("--remove-source does not delete a tdata folder (%s); delete it yourself once Telegram Desktop no longer uses it", arg)
			}
			srcs = append(srcs, source{path: arg, tdata: true})
			continue
		}
		files, err := dirSources(arg)
		if err != nil {
			return fmt.Errorf("import: %w", err)
		}
		srcs = append(srcs, files...)
	}
	if stdin > 1 {
		return usagef("- (stdin) can be given once")
	}
	if f.name != "" && (len(srcs) != 1 || srcs[0].dir) {
		return usagef("--name needs exactly one SOURCE file or tdata folder")
	}
	if len(srcs) == 0 {
		return errors.New("import: no files in the given directories")
	}
	return a.withVault(perProcess, func(v *vault.Vault) error {
		var sealPass crypto.Passphrase
		defer func() { sealPass.Wipe() }()
		var results []importResult
		var firstErr error
		failed := 0
		var bulk bulkSummary
		note := func(res importResult, err error, many bool) {
			if err != nil {
				failed++
				if firstErr == nil {
					firstErr = err
				}
				res.Error = err.Error()
				res.Code, _ = classify(err)
				if many && !a.json {
					a.notef("%s: %v", res.Source, err)
				}
			} else if !a.json {
				if many && len(srcs) > bulkQuiet {
					bulk.add(res)
				} else {
					a.printImport(res)
				}
			}
			results = append(results, res)
		}
		var batch []string
		for _, s := range srcs {
			if s.dir {
				batch = append(batch, s.path)
				continue
			}
			if s.tdata {
				res, err := a.importTData(v, s, opts)
				if err != nil {
					note(importResult{Source: s.path}, err, len(srcs) > 1)
				}
				for _, r := range res {
					note(r, nil, len(srcs) > 1 || len(res) > 1)
				}
				continue
			}
			res, err := a.importOne(v, s, opts, f.removeSource, &sealPass)
			note(res, err, len(srcs) > 1)
		}
		if len(batch) > 0 {
			for _, r := range a.importBatch(v, batch, opts, f.removeSource) {
				note(r.importResult, r.err, true)
			}
		}
		if a.json {
			if results == nil {
				results = []importResult{}
			}
			if err := a.printJSON(struct {
				Imported int            `json:"imported"`
				Failed   int            `json:"failed"`
				Results  []importResult `json:"results"`
			}{len(results) - failed, failed, results}); err != nil {
				return err
			}
		} else if len(results) > 1 {
			a.printf("imported %d of %d\n", len(results)-failed, len(results))
			bulk.print(a)
		}
		switch {
		case failed == 0:
			return nil
		case len(results) == 1:
			return firstErr
		}
		return fmt.Errorf("%d of %d sources failed; the first: %w", failed, len(results), firstErr)
	})
}

type batchResult struct {
	importResult
	err error
}

// importBatch imports the files of directory SOURCEs with the vault's bulk
// import (one lock, batched index writes), with a progress bar on a
// terminal. --remove-source deletes sources only after ImportFiles has
// returned, because the index is saved in batches: a source is removed
// only once its account is in a saved index. A sealed string in a
// directory opens with the vault key, or with the passphrase in
// TGVAULT_SEAL_PASSPHRASE_FILE (a bulk import never prompts).
func (a *app) importBatch(v *vault.Vault, paths []string, opts vault.ImportOptions, remove bool) []batchResult {
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
	var fileErrs []error
	calls := 0
	err = v.ImportFiles(paths, opts, func(done int, r vault.ImportReport, err error) {
		calls++
		i := done - 1
		if i < 0 || i >= len(out) {
			return
		}
		if err != nil {
			out[i].err = err
			fileErrs = append(fileErrs, err)
		} else {
			rep := r
			out[i].Report = &rep
		}
		bar.add(1)
	})
	bar.finish()
	// Everything reported as imported is in a saved index when
	// ImportFiles returned nil, or its error is just the summary of the
	// per-file failures. Any other error (a failed index save) leaves
	// it unknown which accounts were saved: nothing is removed then.
	saved := err == nil || (len(fileErrs) > 0 && calls == len(paths) && errors.Is(err, fileErrs[len(fileErrs)-1]))
	for i := range out {
		switch {
		case out[i].err != nil:
		case !saved:
			out[i].Report = nil
			out[i].err = err
		case remove:
			if rerr := removeSource(out[i].Source); rerr != nil {
				out[i].err = fmt.Errorf("import: the session is sealed in the vault, but removing the plaintext source failed: %w", rerr)
				continue
			}
			out[i].Removed = true
			out[i].Report.PlaintextRemains = false
		}
	}
	return out
}

// dirSources lists the files of a directory SOURCE, sorted, skipping
// hidden files and SQLite's -journal/-wal/-shm companions (a .session
// file's reader takes its WAL itself).
func dirSources(dir string) ([]source, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var out []source
	for _, e := range ents {
		n := e.Name()
		if strings.HasPrefix(n, ".") || strings.HasSuffix(n, "-journal") || strings.HasSuffix(n, "-wal") || strings.HasSuffix(n, "-shm") {
			continue
		}
		if !e.Type().IsRegular() {
			continue
		}
		out = append(out, source{path: filepath.Join(dir, n), dir: true})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].path < out[j].path })
	return out, nil
}

func displayName(path string) string {
	if path == "" {
		return "stdin"
	}
	return path
}

// maxStdin bounds what import reads from stdin: the largest foreign
// session file the storage package reads.
const maxStdin = storage.MaxForeignSize

// importOne imports one source. A sealed hand-off made with --passphrase
// asks for that passphrase once per run.
func (a *app) importOne(v *vault.Vault, s source, opts vault.ImportOptions, remove bool, sealPass *crypto.Passphrase) (importResult, error) {
	res := importResult{Source: displayName(s.path)}
	var data []byte
	var err error
	if s.path == "" {
		data, err = io.ReadAll(io.LimitReader(a.stdin, maxStdin+1))
		if err == nil && len(data) > maxStdin {
			err = errors.New("import: stdin is larger than any session")
		}
	} else {
		data, err = readHead(s.path, 64<<10)
	}
	defer clear(data)
	if err != nil {
		return res, err
	}
	if passphraseSealed(data) {
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
	if err != nil {
		return res, err
	}
	res.Report = &rep
	if remove && s.path != "" {
		if err := removeSource(s.path); err != nil {
			return res, fmt.Errorf("import: the session is sealed in the vault, but removing the plaintext source failed: %w", err)
		}
		res.Removed = true
		res.Report.PlaintextRemains = false
	}
	return res, nil
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
		return nil, err
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

// removeSource deletes an imported plaintext file and the SQLite
// companions that may hold parts of it.
func removeSource(path string) error {
	if err := os.Remove(path); err != nil {
		return err
	}
	for _, suf := range []string{"-journal", "-wal", "-shm"} {
		if err := os.Remove(path + suf); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return err
		}
	}
	return nil
}

// passphraseSealed reports whether data is a sealed string made with
// `export --passphrase`, so import knows to ask for that passphrase.
func passphraseSealed(data []byte) bool { return crypto.PassphraseSealed(data) }

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
		if l == storage.LackAPIID {
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
