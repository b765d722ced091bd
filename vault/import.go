package vault

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/storage/foreign"
)

// metaSource is the meta key, inside the sealed account file, that keeps
// what the neutral session carries beyond Pyrogram's row: the server
// address and the source format's extra data, so that exporting to the
// source's format gives back the same bytes.
const metaSource = "tgvault.source"

type sourceMeta struct {
	Host   sessionstring.Opt[string] `json:"host"`
	Port   sessionstring.Opt[int]    `json:"port"`
	Extra  sessionstring.Extra       `json:"extra"`
	Source string                    `json:"source"`
}

// sourceHandOff is the source name of a sealed hand-off.
const sourceHandOff = "tgvault-handoff"

// The ImportOptions.Format names of .session files; the session-string
// formats go by their sessionstring names.
const (
	FormatPyrogramFile = "pyrogram-file"
	FormatTelethonFile = "telethon-file"
)

// ValidImportFormat reports whether ImportOptions.Format may be name: ""
// (detect), a session-string format's name, or a .session file's
// (FormatPyrogramFile, FormatTelethonFile). Import refuses any other
// with ErrBadInput.
func ValidImportFormat(name string) bool {
	switch name {
	case "", FormatPyrogramFile, FormatTelethonFile:
		return true
	}
	_, err := sessionstring.ParseFormat(name)
	return err == nil
}

// Check is the rule of options every import refuses before it reads a
// source: an APIID that is not positive (ErrBadAPIID), a Format
// ValidImportFormat refuses (ErrUnknownFormat), and SkipExisting with
// Replace, which exclude each other (ErrSkipAndReplace).
func (o ImportOptions) Check() error {
	if err := checkAPIID(o.APIID); err != nil {
		return err
	}
	switch {
	case !ValidImportFormat(o.Format):
		return fmt.Errorf("%w %q", ErrUnknownFormat, o.Format)
	case o.SkipExisting && o.Replace:
		return ErrSkipAndReplace
	}
	return nil
}

// importBatch is how many accounts ImportFiles writes between two index
// saves.
const importBatch = 256

// parsed is an import source read into tgvault's terms.
type parsed struct {
	snap      *storage.Snapshot
	session   sessionstring.Session
	source    string
	lacks     []string
	ambiguous bool
	name      string // the account's name a hand-off carries
}

func lacksOf(s sessionstring.Session) []string {
	var l []string
	if !s.APIID.Known() {
		l = append(l, foreign.LackAPIID)
	}
	if !s.UserID.Known() {
		l = append(l, foreign.LackUserID)
	}
	if !s.IsBot.Known() {
		l = append(l, foreign.LackIsBot)
	}
	if !s.TestMode.Known() {
		l = append(l, foreign.LackTestMode)
	}
	return l
}

func snapshotOf(s sessionstring.Session, source string, date int64) (*storage.Snapshot, error) {
	m, err := json.Marshal(sourceMeta{Host: s.Host, Port: s.Port, Extra: s.Extra, Source: source})
	if err != nil {
		return nil, err
	}
	return &storage.Snapshot{
		Session: storage.SessionRow{
			DCID: s.DCID, APIID: s.APIID, TestMode: s.TestMode, AuthKey: s.AuthKey,
			Date: date, UserID: s.UserID, IsBot: s.IsBot,
		},
		Meta: map[string][]byte{metaSource: m},
	}, nil
}

// sessionOf rebuilds the neutral session from a stored snapshot.
func sessionOf(snap *storage.Snapshot) (sessionstring.Session, string) {
	r := snap.Session
	s := sessionstring.Session{
		DCID: r.DCID, APIID: r.APIID, TestMode: r.TestMode, AuthKey: r.AuthKey,
		UserID: r.UserID, IsBot: r.IsBot,
	}
	var m sourceMeta
	if b, ok := snap.Meta[metaSource]; ok && json.Unmarshal(b, &m) == nil {
		s.Host, s.Port, s.Extra = m.Host, m.Port, m.Extra
	}
	return s, m.Source
}

// parseSource reads data (and, for a .session file at path, its WAL).
func (v *Vault) parseSource(data []byte, path string, opts ImportOptions, st func() (*unlocked, error)) (*parsed, error) {
	switch opts.Format {
	case "":
	case FormatPyrogramFile, FormatTelethonFile:
		return parseForeign(data, path)
	default:
		f, err := sessionstring.ParseFormat(opts.Format)
		if err != nil {
			return nil, fmt.Errorf("%w %q", ErrUnknownFormat, opts.Format)
		}
		s, err := sessionstring.DecodeAs(f, string(data))
		if err != nil {
			return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
		}
		return parsedString(s, f.String(), false)
	}
	if foreign.IsSQLite(data) {
		return parseForeign(data, path)
	}
	if sealed, ok := sealedForm(data); ok {
		return v.parseHandOff(sealed, opts, st)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, notSession("an empty file")
	}
	if len(data) > sessionstring.MaxLen {
		return nil, notSession("too long for a session string")
	}
	d, err := sessionstring.Decode(string(data))
	if err != nil {
		return nil, decodeError(err)
	}
	return parsedString(d.Session, d.Format.String(), d.Ambiguous)
}

// NotSessionError reports a source that is no session at all: a README,
// a JSON file that is no gotd session, an SQLite database without a
// sessions table, a session that never logged in, an empty or huge file.
// A bulk import skips such a file, with Reason; a single one is bad
// input. It matches ErrNotSession (and so ErrBadInput).
type NotSessionError struct {
	Reason string // fixed text, nothing from the file
}

func (e *NotSessionError) Error() string { return ErrBadInput.Error() + ": " + e.Reason }

// Unwrap returns ErrNotSession.
func (e *NotSessionError) Unwrap() error { return ErrNotSession }

func notSession(reason string) error { return &NotSessionError{Reason: reason} }

// decodeError classifies a session-string decoder's failure: input that
// no format recognises is no session (the decoder's reason is fixed text,
// nothing from the input); a recognised format that is damaged is bad
// input.
func decodeError(err error) error {
	var pe *sessionstring.ParseError
	switch {
	case !errors.As(err, &pe) || pe.Format != sessionstring.Unknown:
		return fmt.Errorf("%w: %v", ErrBadInput, err)
	case errors.Is(err, sessionstring.ErrUnknownFormat):
		return notSession(pe.Reason)
	}
	return notSession("no session format matches it")
}

func parsedString(s sessionstring.Session, source string, ambiguous bool) (*parsed, error) {
	snap, err := snapshotOf(s, source, 0)
	if err != nil {
		return nil, err
	}
	return &parsed{snap: snap, session: s, source: source, lacks: lacksOf(s), ambiguous: ambiguous}, nil
}

func parseForeign(data []byte, path string) (*parsed, error) {
	var (
		f   *foreign.File
		err error
	)
	if path != "" {
		f, err = foreign.ReadFileBytes(path, data)
	} else {
		f, err = foreign.Read(data, nil)
	}
	switch {
	case errors.Is(err, foreign.ErrNoSessions):
		return nil, notSession("an SQLite database without a sessions table")
	case errors.Is(err, foreign.ErrNoAuthKey):
		return nil, notSession("a session file that never logged in (no auth key)")
	case err != nil:
		return nil, fmt.Errorf("%w: %v", ErrBadInput, err)
	}
	snap, err := snapshotOf(f.Session, string(f.Dialect), f.Date)
	if err != nil {
		return nil, err
	}
	snap.Peers = f.Peers
	snap.UpdateState = f.UpdateState
	return &parsed{snap: snap, session: f.Session, source: string(f.Dialect), lacks: f.Lacks}, nil
}

// sealedForm reports whether data is a sealed hand-off (the one-line text
// form, armored, or binary age) and returns it.
func sealedForm(data []byte) ([]byte, bool) {
	t := bytes.TrimSpace(data)
	switch crypto.SealedForm(t) {
	case crypto.FormBinary, crypto.FormArmored:
		return t, true
	case crypto.FormText:
		if len(t) >= 100 && len(t) <= 4*sessionstring.MaxLen {
			return t, true
		}
	}
	return nil, false
}

func (v *Vault) parseHandOff(sealed []byte, opts ImportOptions, st func() (*unlocked, error)) (*parsed, error) {
	var (
		plain []byte
		err   error
	)
	if len(opts.Passphrase) > 0 {
		plain, err = crypto.OpenPassphrase(sealed, opts.Passphrase)
		if errors.Is(err, crypto.ErrWrongKey) {
			return nil, fmt.Errorf("%w: it does not open the hand-off", ErrWrongPassphrase)
		}
	} else {
		u, uerr := st()
		if uerr != nil {
			return nil, uerr
		}
		plain, err = crypto.Open(sealed, u.ids...)
		if errors.Is(err, crypto.ErrWrongKey) {
			return nil, fmt.Errorf("%w: the hand-off was sealed to another key (or with a passphrase)", ErrWrongKey)
		}
	}
	if err != nil {
		return nil, fileErr(FileHandoff, fmt.Errorf("%w: the sealed hand-off is damaged: %v", ErrCorrupt, err))
	}
	defer clear(plain)
	e, err := unmarshalEnvelope(plain)
	if err != nil {
		return nil, err
	}
	snap, err := snapshotOf(e.Session, sourceHandOff, 0)
	if err != nil {
		return nil, err
	}
	snap.Peers = e.Peers
	return &parsed{snap: snap, session: e.Session, source: sourceHandOff, lacks: lacksOf(e.Session), name: e.Name}, nil
}

// defaultName derives an account name from the source path or user id.
func defaultName(path string, s sessionstring.Session, id string) string {
	if path != "" {
		b := filepath.Base(path)
		if n := strings.TrimSuffix(b, filepath.Ext(b)); n != "" && n != "." {
			return n
		}
	}
	if u, ok := s.UserID.Get(); ok {
		return "user" + strconv.FormatInt(u, 10)
	}
	return "account-" + id[:8]
}

// Import stores a session given as bytes: a .session SQLite file, a session
// string of any supported format, a gotd JSON file, or a sealed hand-off
// (opened with the vault key or opts.Passphrase). srcPath names the file it
// came from ("" for stdin): it gives the default name and
// ImportReport.PlaintextRemains, and lets a .session file's WAL be read.
//
// A key the vault holds already is refused with a *DuplicateKeyError
// naming the account that has it, before anything is written; with
// opts.SkipExisting the report says so instead (Existing), with
// opts.Replace that account is replaced. A name in use by another key is
// ErrNameTaken.
func (v *Vault) Import(data []byte, srcPath string, opts ImportOptions) (ImportReport, error) {
	t, err := v.beginImport(opts)
	if err != nil {
		return ImportReport{}, err
	}
	defer t.end()
	r, err := v.importOne(t, data, srcPath, opts)
	if err != nil {
		return skipExisting(opts, err)
	}
	if r.Existing != "" {
		return r, nil
	}
	if err := t.save(); err != nil {
		return ImportReport{}, err
	}
	return r, nil
}

// beginImport begins a write that adds accounts: refused on a migrated
// vault unless forced.
func (v *Vault) beginImport(opts ImportOptions) (*tx, error) {
	if err := opts.Check(); err != nil {
		return nil, err
	}
	t, err := v.begin()
	if err != nil {
		return nil, err
	}
	if err := v.refuseMigrated(t.idx, opts.Force); err != nil {
		t.end()
		return nil, err
	}
	return t, nil
}

// refuseMigrated is the rule of a write that adds accounts to a vault
// migrated elsewhere (index x): refused with a *MigratedError unless forced
// (force, or AllowMigrated).
func (v *Vault) refuseMigrated(x *index, force bool) error {
	if x.MigratedTo != "" && !force && !v.allowMigrated.Load() {
		return &MigratedError{To: x.MigratedTo}
	}
	return nil
}

// skipExisting turns a duplicate key into a report of the account that
// has it, when opts.SkipExisting asks for that.
func skipExisting(opts ImportOptions, err error) (ImportReport, error) {
	var de *DuplicateKeyError
	if opts.SkipExisting && errors.As(err, &de) {
		return ImportReport{Existing: de.Account, Lacks: []string{}}, nil
	}
	return ImportReport{}, err
}

// ImportFile imports the file at path (see Import). With
// opts.RemoveSource the file is removed once its account is in the saved
// index.
func (v *Vault) ImportFile(path string, opts ImportOptions) (ImportReport, error) {
	data, err := readSource(path)
	if err != nil {
		return ImportReport{}, err
	}
	defer clear(data)
	r, err := v.Import(data, path, opts)
	if err != nil {
		return r, err
	}
	return removeSource(r, path, opts)
}

// removeSource deletes the imported source at path when opts.RemoveSource
// asks for it. The caller has saved the index that lists r's account: a
// source is never removed before its account is durable. A source whose
// key the vault held (r.Existing) stays.
func removeSource(r ImportReport, path string, opts ImportOptions) (ImportReport, error) {
	if !opts.RemoveSource || r.Existing != "" {
		return r, nil
	}
	if err := RemovePlaintext(path); err != nil {
		return r, &RemoveSourceError{Path: path, Err: err}
	}
	r.Removed, r.PlaintextRemains = true, false
	return r, nil
}

func readSource(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("vault: import: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, notSession("not a regular file")
	}
	if fi.Size() > MaxSourceSize {
		return nil, notSession("too large for a session file")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vault: import: %w", err)
	}
	return data, nil
}

// ImportFiles imports many files under one lock, in batches of 256
// paths: the account files of a batch are read, decoded, sealed and
// written to temp files by a few workers at once (one per core and as
// many more, for the file system's waits), then made durable together
// (storage.SaveBatch: their fsyncs at once, one fsync of the directory),
// then checked in the order of paths (names, and keys met earlier in
// paths) and added to the index, which is written once per batch (and,
// with opts.RemoveSource, the batch's imported sources removed after that
// write). The workers go on with the next batch meanwhile. progress (if
// not nil) is called after each file, in order, with its report or error,
// once its batch's index is written; a failed file does not stop the
// others. When an index write fails, the files of that batch that were
// imported are reported with that error (their sources stay), and
// ImportFiles returns it: the later files are not reported. opts.Name,
// if set, is ignored (each account is named after its file, or the name a
// hand-off carries). A key already in the vault, or met earlier in paths,
// is a *DuplicateKeyError for that file (a report with Existing under
// opts.SkipExisting; opts.Replace replaces the account). The returned
// error counts the failures and wraps each one. A crash in the middle
// leaves account files that the index does not list, and temp files;
// Doctor reports them.
//
// Long: the pipeline (workers staging files, batches synced and settled in
// the order of paths, the index written per batch, the sources removed
// after it) shares its channels and counters; split, each piece would take
// them all as parameters.
func (v *Vault) ImportFiles(paths []string, opts ImportOptions, progress func(done int, r ImportReport, err error)) error {
	t, err := v.beginImport(opts)
	if err != nil {
		return err
	}
	defer t.end()
	opts.Name = ""
	dup := t.heldKeys(opts.Replace)
	batches := make([]*storage.SaveBatch, (len(paths)+importBatch-1)/importBatch)
	for i := range batches {
		batches[i] = &storage.SaveBatch{}
	}
	results := make([]chan staged, len(paths))
	for i := range results {
		results[i] = make(chan staged, 1)
	}
	work := make(chan int)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	synced := 0 // batches synced and settled
	// Runs before t.end: no worker writes once the lock is released, and
	// the files of batches not settled are removed, temp files included.
	defer func() {
		close(stop)
		wg.Wait()
		v.dropUnsettled(batches[synced:], results[min(len(paths), synced*importBatch):])
	}()
	go func() {
		defer close(work)
		for i := range paths {
			select {
			case work <- i:
			case <-stop:
				return
			}
		}
	}()
	for range importWorkers() {
		wg.Go(func() {
			for i := range work {
				r, f, err := v.writeAccount(t, paths[i], opts, dup, batches[i/importBatch])
				results[i] <- staged{r, f, err}
			}
		})
	}

	var errs []error
	for g, batch := range batches {
		lo, hi := g*importBatch, min(len(paths), (g+1)*importBatch)
		files := make([]staged, hi-lo)
		for i := range files {
			files[i] = <-results[lo+i]
		}
		failed := batch.Sync()
		synced = g + 1
		settled, added := v.settleBatch(t, opts, files, failed)
		var serr error
		if added > 0 || len(t.gone) > 0 {
			serr = t.save()
		}
		for i := range settled {
			x := &settled[i]
			switch {
			case x.err != nil:
			case serr != nil && x.r.Existing == "":
				x.r, x.err = ImportReport{}, serr
			default:
				x.r, x.err = removeSource(x.r, paths[lo+i], opts)
			}
			if x.err != nil {
				errs = append(errs, fmt.Errorf("file %d: %w", lo+i+1, x.err))
			}
			if progress != nil {
				progress(lo+i+1, x.r, x.err)
			}
		}
		if serr != nil {
			return serr
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("vault: %d of %d imports failed: %w", len(errs), len(paths), errors.Join(errs...))
	}
	return nil
}

// heldKeys returns a check, safe for concurrent use, that refuses a key
// the vault holds now (unless replace), for ImportFiles' workers to skip
// duplicates before they write anything; a key met twice among the paths
// is caught by t.add, in order.
func (t *tx) heldKeys(replace bool) func(sessionstring.KeyID) error {
	held := map[sessionstring.KeyID]string{}
	for i := range t.idx.Accounts {
		if k, ok := t.idx.Accounts[i].keyID(); ok {
			held[k] = t.idx.Accounts[i].Name
		}
	}
	return func(k sessionstring.KeyID) error {
		if name, ok := held[k]; ok && !replace {
			return &DuplicateKeyError{Account: name, KeyID: k.String()}
		}
		return nil
	}
}

// settled is one file's outcome in settleBatch.
type settled struct {
	r   ImportReport
	err error
}

// settleBatch finishes the files of a synced batch, in order: each whose
// file is durable is closed and added to t's index (names and keys
// checked); each that failed has its file removed. It returns each
// file's outcome and how many were added.
func (v *Vault) settleBatch(t *tx, opts ImportOptions, files []staged, failed map[*storage.File]error) (out []settled, added int) {
	out = make([]settled, len(files))
	for i := range files {
		x := &files[i]
		r, err := x.r, x.err
		if err == nil {
			if ferr := failed[x.f]; ferr != nil {
				err = fmt.Errorf("vault: write account file: %w", ferr)
			} else {
				r.Account.Revision = x.f.Revision()
			}
		}
		if err != nil {
			v.dropStaged(*x)
		} else {
			if cerr := x.f.Close(); cerr != nil { // nothing left to save
				err = cerr
			} else if err = t.add(&r, opts); err != nil {
				_ = v.removeAccount(r.Account.ID)
			}
			if err != nil {
				r = ImportReport{}
			}
		}
		if err != nil {
			r, err = skipExisting(opts, err)
		}
		if err == nil && r.Existing == "" {
			added++
		}
		out[i] = settled{r, err}
	}
	return out, added
}

// dropUnsettled removes the files of batches an ImportFiles that stopped
// early did not settle (results holds their results, those the workers
// sent): each batch is synced (its temp files put in place), then every
// file removed.
func (v *Vault) dropUnsettled(batches []*storage.SaveBatch, results []chan staged) {
	for g, batch := range batches {
		var files []staged
		for _, ch := range results[g*importBatch : min(len(results), (g+1)*importBatch)] {
			select {
			case x := <-ch:
				files = append(files, x)
			default:
			}
		}
		batch.Sync()
		for _, x := range files {
			v.dropStaged(x)
		}
	}
}

// staged is a file of ImportFiles written to its batch: the report, and
// the account's store, open until its batch is synced (nil when nothing
// was written).
type staged struct {
	r   ImportReport
	f   *storage.File
	err error
}

// dropStaged removes a staged file whose import failed or was stopped:
// the store is dropped unsaved and its file (in place or not) removed.
func (v *Vault) dropStaged(x staged) {
	if x.f == nil {
		return
	}
	x.f.Abandon()
	_ = v.removeAccount(strings.TrimSuffix(filepath.Base(x.f.Path()), accountExt))
}

// importWorkers is how many files ImportFiles reads, decodes, seals and
// writes at once: one per core for the work, as many again to cover the
// file system's waits (creating a file costs hundreds of microseconds).
func importWorkers() int { return 2 * max(2, runtime.GOMAXPROCS(0)) }

// writeAccount reads the file at path and writes its account file through
// batch; it does not touch the index. It returns the account's store,
// open (nil when nothing was written): in place once batch is synced. It
// is safe for concurrent use (t's sealer and identity are; dup must be).
func (v *Vault) writeAccount(t *tx, path string, opts ImportOptions, dup func(sessionstring.KeyID) error, batch *storage.SaveBatch) (ImportReport, *storage.File, error) {
	data, err := readSource(path)
	if err != nil {
		return ImportReport{}, nil, err
	}
	defer clear(data)
	p, err := v.parseSource(data, path, opts, func() (*unlocked, error) { return t.st, nil })
	if err != nil {
		return ImportReport{}, nil, err
	}
	return v.createParsedIn(batch, t, p, path, opts, dup)
}

// add puts a new account (r.Account, whose file is written) into t's
// index. A key the index holds is refused with a *DuplicateKeyError,
// unless opts.Replace: that account's entry is then replaced (under its
// ownership lock; its file is removed once the index is saved) and its
// name kept unless opts.Name gives another. A name in use is refused with
// ErrNameTaken.
func (t *tx) add(r *ImportReport, opts ImportOptions) error {
	a := &r.Account
	j := -1
	if k, ok := a.keyID(); ok {
		var err error
		if j, err = t.checkKey(k, opts.Replace); err != nil {
			return err
		}
	}
	if j >= 0 {
		old := t.idx.Accounts[j]
		if err := t.own(old.ID); err != nil {
			return fmt.Errorf("%w: it holds the account to replace, %q", err, old.Name)
		}
		if opts.Name == "" {
			a.Name = old.Name
		}
		r.Replaced = old.Name
	}
	if k := t.idx.find(a.Name); k >= 0 && k != j {
		return nameTaken(a.Name)
	}
	if j >= 0 {
		// In place: a bulk import that replaces thousands of accounts
		// moves no entries and keeps the index's maps.
		t.gone = append(t.gone, t.idx.Accounts[j].ID)
		t.forgetKey(j)
		t.idx.set(j, *a)
	} else {
		t.idx.add(*a)
	}
	if k, ok := a.keyID(); ok && t.keys != nil {
		t.keys[k] = a.ID
	}
	return nil
}

// nameTaken refuses a name in use.
func nameTaken(name string) error {
	return fmt.Errorf("%w: %q (choose another with --name)", ErrNameTaken, name)
}

// importOne writes one account file and adds its entry to t's index (the
// caller saves the index). A key the vault holds is refused before the
// file is written (or reported as Existing under opts.SkipExisting).
func (v *Vault) importOne(t *tx, data []byte, srcPath string, opts ImportOptions) (ImportReport, error) {
	p, err := v.parseSource(data, srcPath, opts, func() (*unlocked, error) { return t.st, nil })
	if err != nil {
		return ImportReport{}, err
	}
	dup := func(k sessionstring.KeyID) error {
		_, err := t.checkKey(k, opts.Replace)
		return err
	}
	r, err := v.createParsed(t, p, srcPath, opts, dup)
	if err != nil {
		return skipExisting(opts, err)
	}
	if err := t.add(&r, opts); err != nil {
		_ = v.removeAccount(r.Account.ID)
		return ImportReport{}, err
	}
	return r, nil
}

// createParsed writes the account file of a parsed source, without
// touching the index. dup, if not nil, refuses a key before anything is
// written. The name is opts.Name, else the one a hand-off carries, else
// one derived from the source.
func (v *Vault) createParsed(t *tx, p *parsed, srcPath string, opts ImportOptions, dup func(sessionstring.KeyID) error) (ImportReport, error) {
	r, _, err := v.createParsedIn(nil, t, p, srcPath, opts, dup)
	return r, err
}

// createParsedIn is createParsed through batch: with a batch, the account's
// store is returned open, its file in place once batch is synced (the
// caller then reads its revision and closes it, or drops it with
// dropStaged); without, it is closed and nil.
func (v *Vault) createParsedIn(batch *storage.SaveBatch, t *tx, p *parsed, srcPath string, opts ImportOptions, dup func(sessionstring.KeyID) error) (ImportReport, *storage.File, error) {
	if p.session.AuthKey.IsZero() {
		return ImportReport{}, nil, fmt.Errorf("%w: the session has no auth key", ErrBadInput)
	}
	kid := p.session.AuthKey.ID()
	if dup != nil {
		if err := dup(kid); err != nil {
			return ImportReport{}, nil, err
		}
	}
	if !p.snap.Session.APIID.Known() && opts.APIID.Known() {
		p.snap.Session.APIID = opts.APIID
		p.lacks = without(p.lacks, foreign.LackAPIID)
	}
	id := newID(16)
	name := opts.Name
	if name == "" {
		name = p.name
	}
	if name == "" {
		name = defaultName(srcPath, p.session, id)
	}
	if err := checkName(name); err != nil {
		return ImportReport{}, nil, err
	}
	b := storage.Binding{VaultID: v.meta.VaultID, AccountID: id, Revision: 1}
	f, err := v.newAccountFileIn(batch, id, t.sealer, b, p.snap)
	if err != nil {
		return ImportReport{}, nil, fmt.Errorf("vault: write account file: %w", err)
	}
	rev := b.Revision // f's own once a batch has synced it
	peers, err := f.PeerCount()
	if batch == nil {
		rev = f.Revision()
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			_ = v.removeAccount(id)
			return ImportReport{}, nil, err
		}
		f = nil
	} else if err != nil {
		return ImportReport{}, f, err
	}
	now := v.now().UTC()
	row := p.snap.Session
	a := Account{
		Name: name, ID: id, UserID: row.UserID, DCID: row.DCID, IsBot: row.IsBot,
		TestMode: row.TestMode, APIID: row.APIID, Status: StatusActive,
		Peers: peers, Revision: rev, Source: p.source, Created: now, Updated: now,
	}
	a.setKeyID(kid)
	r := ImportReport{Account: a, Source: p.source, Lacks: p.lacks, Ambiguous: p.ambiguous, Peers: a.Peers}
	if r.Lacks == nil {
		r.Lacks = []string{}
	}
	if srcPath != "" {
		if _, err := os.Stat(srcPath); err == nil {
			r.PlaintextRemains = !strings.HasPrefix(p.source, sourceHandOff)
		} else if !errors.Is(err, fs.ErrNotExist) {
			r.PlaintextRemains = true
		}
	}
	return r, f, nil
}

func without(l []string, s string) []string {
	var out []string
	for _, x := range l {
		if x != s {
			out = append(out, x)
		}
	}
	return out
}

// ImportSessions stores sessions that a reader outside the vault decoded
// (a Telegram Desktop tdata folder: one session per account), all or
// none, under one lock and one index save. source names their format;
// srcPath is where they came from (for ImportReport.PlaintextRemains). The
// first account is named opts.Name and the others opts.Name-2, -3, ...;
// without a name each is named user<ID> (or account-<id>). A key the vault
// holds refuses them all (*DuplicateKeyError), unless opts.SkipExisting
// (that session's report has Existing, and the others are imported) or
// opts.Replace.
func (v *Vault) ImportSessions(ss []sessionstring.Session, source, srcPath string, opts ImportOptions) ([]ImportReport, error) {
	if len(ss) == 0 {
		return nil, fmt.Errorf("%w: no sessions", ErrBadInput)
	}
	t, err := v.beginImport(opts)
	if err != nil {
		return nil, err
	}
	defer t.end()
	var out []ImportReport
	undo := func() {
		for _, r := range out {
			if r.Existing == "" {
				_ = v.removeAccount(r.Account.ID)
			}
		}
	}
	dup := func(k sessionstring.KeyID) error {
		_, err := t.checkKey(k, opts.Replace)
		return err
	}
	added := 0
	for i, s := range ss {
		o := opts
		if o.Name != "" && i > 0 {
			o.Name = opts.Name + "-" + strconv.Itoa(i+1)
		}
		p, err := parsedString(s, source, false)
		if err != nil {
			undo()
			return nil, err
		}
		r, err := v.createParsed(t, p, "", o, dup)
		if err == nil {
			err = t.add(&r, o)
			if err != nil {
				_ = v.removeAccount(r.Account.ID)
			}
		}
		if err != nil {
			if sr, serr := skipExisting(opts, err); serr == nil {
				out = append(out, sr)
				continue
			}
			undo()
			return nil, err
		}
		r.PlaintextRemains = srcPath != ""
		out = append(out, r)
		added++
	}
	if added > 0 || len(t.gone) > 0 {
		if err := t.save(); err != nil {
			undo()
			return nil, err
		}
	}
	return out, nil
}
