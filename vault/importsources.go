package vault

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// ImportRequest is one import of many sources (ImportSources): what
// FindSources found, and what the caller provides that the vault does not
// have (stdin, the tdata reader, the passphrases a person types, a
// progress bar).
type ImportRequest struct {
	// Stdin, when set, is the first source, named "stdin" (ReadStream
	// reads it).
	Stdin io.Reader
	// Sources and Skipped are FindSources' results: the skipped paths are
	// reported first, as skipped.
	Sources []ImportSource
	Skipped []SkippedSource
	Options ImportOptions
	// ReadFolder reads the sessions of a Folder source (a Telegram Desktop
	// tdata folder, whose reader is outside the vault, asking for a local
	// passcode as it needs); FolderFormat names their format. Its error
	// is the source's, as it is.
	ReadFolder   func(path string) ([]sessionstring.Session, error)
	FolderFormat string
	// SealPassphrase gives the passphrase that opens a source sealed with
	// one (`export --passphrase`). For a source named (stdin, a file
	// given) it is called once, when the first such source comes, with
	// mayPrompt true: it may ask a person. Before the files found in
	// directories are imported it is called with mayPrompt false: a bulk
	// import never prompts, so it gives only a passphrase given
	// beforehand, or nil; its error fails them all. ImportSources wipes
	// what it returns. Nil: no passphrase.
	SealPassphrase func(mayPrompt bool) (crypto.Passphrase, error)
	// Progress, when set, is started with the number of files found in
	// directories before they are imported (ImportFiles).
	Progress func(total int) ImportProgress
	// OnResult, when set, is called with each source's result as it is
	// known, in the order of ImportSummary.Results.
	OnResult func(ImportResult)
}

// Check is the rule of a request ImportSources refuses before it reads
// any source: Options' (ImportOptions.Check); Options.Name with more
// than one source, or with a file found in a directory
// (ErrNameNeedsOneSource); nothing to import and nothing skipped
// (ErrNoSources). (Options.RemoveSource never deletes a folder source.)
func (r *ImportRequest) Check() error {
	if err := r.Options.Check(); err != nil {
		return err
	}
	n := len(r.Sources)
	if r.Stdin != nil {
		n++
	}
	switch {
	case r.Options.Name != "" && (n != 1 || (r.Stdin == nil && r.Sources[0].Found)):
		return ErrNameNeedsOneSource
	case n == 0 && len(r.Skipped) == 0:
		return ErrNoSources
	}
	return nil
}

// ImportProgress shows how far the import of the files found in
// directories has got (a progress bar).
type ImportProgress interface {
	Add(n int) // n more files are done
	Finish()   // all are done
}

// ImportSources imports what req lists, one source after another, and
// reports them in this order: the paths FindSources skipped, stdin, each
// file named and each folder in the order of Sources (ImportFile,
// ImportSessions), then the files found in directories together
// (ImportFiles: one lock, batched index writes). A source that fails
// does not stop the others. Its summary sorts every source by outcome
// (ImportResult.Status): a file found in a directory that is no session
// is skipped, a key the vault holds is existing or duplicate.
//
// The error is the import's outcome: nil when every source was imported
// or skipped, or held a key the vault had and Options.SkipExisting was
// set; the error of a single source; else an *ImportError.
//
// A request ImportRequest.Check refuses is refused with its error before
// anything is read or reported. Every passphrase req.SealPassphrase
// returns is wiped before ImportSources returns.
func (v *Vault) ImportSources(req ImportRequest) (ImportSummary, error) {
	if err := req.Check(); err != nil {
		return ImportSummary{}, err
	}
	var (
		s        ImportSummary
		batch    []string
		sealPass crypto.Passphrase
	)
	defer func() { sealPass.Wipe() }()
	report := func(res ImportResult) {
		if req.OnResult != nil {
			req.OnResult(res)
		}
	}
	// ask gives the passphrase of a sealed source named, asked for once.
	ask := func() (crypto.Passphrase, error) {
		if sealPass == nil && req.SealPassphrase != nil {
			p, err := req.SealPassphrase(true)
			if err != nil {
				p.Wipe()
				return nil, err
			}
			sealPass = p
		}
		return sealPass, nil
	}
	settle := func(res ImportResult, err error, found bool) {
		if err != nil {
			report(s.failed(res, err, found))
		} else {
			report(s.imported(res))
		}
	}
	for _, k := range req.Skipped {
		report(s.add(ImportResult{Source: k.Path, Status: OutcomeSkipped, Reason: k.Reason}))
	}
	if req.Stdin != nil {
		rep, err := v.importNamed(req.Stdin, "", req.Options, ask)
		res, err := reportOf(ImportResult{Source: "stdin"}, rep, err)
		settle(res, err, false)
	}
	for _, src := range req.Sources {
		switch {
		case src.Folder:
			reps, err := v.importFolder(req, src.Path)
			if err != nil {
				report(s.failed(ImportResult{Source: src.Path}, err, false))
			}
			for i := range reps {
				report(s.imported(ImportResult{Source: src.Path, Report: &reps[i]}))
			}
		case src.Found:
			batch = append(batch, src.Path)
		default:
			rep, err := v.importNamed(nil, src.Path, req.Options, ask)
			res, err := reportOf(ImportResult{Source: src.Path}, rep, err)
			settle(res, err, false)
		}
	}
	if len(batch) > 0 {
		res, errs := v.importFound(req, batch)
		for i := range batch {
			settle(res[i], errs[i], true)
		}
	}
	return s, s.err(req.Options.SkipExisting)
}

// reportOf puts an import's report into res: the report when the source
// was imported, even if removing it failed (*RemoveSourceError).
func reportOf(res ImportResult, r ImportReport, err error) (ImportResult, error) {
	if _, ok := errors.AsType[*RemoveSourceError](err); err == nil || ok {
		res.Report, res.Removed = &r, r.Removed
	}
	return res, err
}

// importNamed imports stdin (path "") or a file named. One sealed with a
// passphrase (`export --passphrase`) opens with ask's.
func (v *Vault) importNamed(stdin io.Reader, path string, opts ImportOptions, ask func() (crypto.Passphrase, error)) (ImportReport, error) {
	var data []byte
	var err error
	if path == "" {
		data, err = ReadStream(stdin)
		if errors.Is(err, ErrSourceTooLarge) {
			err = errors.New("import: stdin is larger than any session")
		}
	} else {
		data, err = readHead(path, 64<<10)
	}
	defer clear(data)
	if err != nil {
		return ImportReport{}, err
	}
	if crypto.PassphraseSealed(data) {
		if opts.Passphrase, err = ask(); err != nil {
			return ImportReport{}, err
		}
	}
	if path == "" {
		return v.Import(data, "", opts)
	}
	return v.ImportFile(path, opts)
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

// importFolder imports every account of a folder source (a tdata folder).
func (v *Vault) importFolder(req ImportRequest, path string) ([]ImportReport, error) {
	if req.ReadFolder == nil {
		return nil, fmt.Errorf("import %s: %w: a folder, and no reader of folders", path, ErrBadInput)
	}
	ss, err := req.ReadFolder(path)
	if err != nil {
		return nil, err
	}
	reps, err := v.ImportSessions(ss, req.FolderFormat, path, req.Options)
	if err != nil {
		return nil, fmt.Errorf("import %s: %w", path, err)
	}
	return reps, nil
}

// importFound imports the files found in directories with ImportFiles,
// and returns each one's result and error. A sealed string among them
// opens with the vault key, or with SealPassphrase(false) (no prompt). A
// file ImportFiles did not report (its batch's index write failed, or the
// import stopped) gets ImportFiles' error.
func (v *Vault) importFound(req ImportRequest, paths []string) ([]ImportResult, []error) {
	out, errs := make([]ImportResult, len(paths)), make([]error, len(paths))
	for i, p := range paths {
		out[i].Source = p
	}
	opts := req.Options
	if req.SealPassphrase != nil {
		p, err := req.SealPassphrase(false)
		if err != nil {
			p.Wipe()
			for i := range errs {
				errs[i] = err
			}
			return out, errs
		}
		defer p.Wipe()
		opts.Passphrase = p
	}
	var bar ImportProgress = noProgress{}
	if req.Progress != nil {
		bar = req.Progress(len(paths))
	}
	reported := make([]bool, len(paths))
	err := v.ImportFiles(paths, opts, func(done int, r ImportReport, err error) {
		i := done - 1
		if i < 0 || i >= len(paths) {
			return
		}
		reported[i] = true
		out[i], errs[i] = reportOf(out[i], r, err)
		bar.Add(1)
	})
	bar.Finish()
	for i := range errs {
		if !reported[i] {
			errs[i] = err
		}
	}
	return out, errs
}

type noProgress struct{}

func (noProgress) Add(int) {}
func (noProgress) Finish() {}
