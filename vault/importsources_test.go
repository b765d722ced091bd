package vault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
)

// copyFile copies src to dst (a test's source tree).
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// findRequest is an ImportRequest of what FindSources finds in paths.
func findRequest(t *testing.T, paths ...string) ImportRequest {
	t.Helper()
	found, skipped, err := FindSources(paths, FindOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return ImportRequest{Sources: found, Skipped: skipped}
}

type outcome struct {
	source string // the base name
	status ImportOutcome
}

func outcomesOf(rs []ImportResult) []outcome {
	var out []outcome
	for _, r := range rs {
		out = append(out, outcome{filepath.Base(r.Source), r.Status})
	}
	return out
}

// TestImportSources: the outcome of each source, in order (the paths
// FindSources skipped first, the files named, then those found in
// directories), and the import's error deciding the exit status: nil when
// all were imported or skipped, one source's own error, else an
// *ImportError that counts the failures, or the refusals of a key the
// vault has (nil with SkipExisting).
func TestImportSources(t *testing.T) {
	dir := t.TempDir()
	copyFile(t, variantFile(t, 1), filepath.Join(dir, "a.session"))
	copyFile(t, variantFile(t, 2), filepath.Join(dir, "b.session"))
	copyFile(t, variantFile(t, 1), filepath.Join(dir, "c.session")) // a's key again
	os.WriteFile(filepath.Join(dir, "README"), []byte("my sessions"), 0o600)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o600)
	junk := filepath.Join(t.TempDir(), "junk.txt")
	os.WriteFile(junk, []byte("no session"), 0o600)
	known := variantFile(t, 3)

	for _, tc := range []struct {
		name      string
		paths     []string
		opts      ImportOptions
		want      []outcome
		wantErr   error // errors.Is
		failed    int   // of the *ImportError, -1: no ImportError
		refused   int
		firstErr  error // errors.Is of ImportError.First
		noErr     bool
		singleErr bool
	}{
		{name: "a directory", paths: []string{dir},
			want: []outcome{{".hidden", OutcomeSkipped}, {"README", OutcomeSkipped}, {"a.session", OutcomeImported},
				{"b.session", OutcomeImported}, {"c.session", OutcomeDuplicate}},
			wantErr: ErrDuplicateKey, failed: 0, refused: 1},
		{name: "a directory, skip existing", paths: []string{dir}, opts: ImportOptions{SkipExisting: true},
			want: []outcome{{".hidden", OutcomeSkipped}, {"README", OutcomeSkipped}, {"a.session", OutcomeImported},
				{"b.session", OutcomeImported}, {"c.session", OutcomeDuplicate}},
			noErr: true},
		{name: "a file named that is no session", paths: []string{junk},
			want: []outcome{{"junk.txt", OutcomeFailed}}, wantErr: ErrNotSession, singleErr: true},
		{name: "a key the vault had, named", paths: []string{known},
			want: []outcome{{filepath.Base(known), OutcomeExisting}}, wantErr: ErrDuplicateKey, singleErr: true},
		{name: "a failure among others", paths: []string{junk, known, dir},
			want: []outcome{{".hidden", OutcomeSkipped}, {"junk.txt", OutcomeFailed}, {filepath.Base(known), OutcomeExisting},
				{"README", OutcomeSkipped}, {"a.session", OutcomeImported}, {"b.session", OutcomeImported}, {"c.session", OutcomeDuplicate}},
			wantErr: ErrNotSession, failed: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tv := newTestVault(t)
			if _, err := tv.ImportFile(known, ImportOptions{Name: "known"}); err != nil {
				t.Fatal(err)
			}
			req := findRequest(t, tc.paths...)
			req.Options = tc.opts
			var told []ImportResult
			req.OnResult = func(r ImportResult) { told = append(told, r) }
			s, err := tv.ImportSources(req)
			if got := outcomesOf(s.Results); !slices.Equal(got, tc.want) {
				t.Fatalf("outcomes %v, want %v", got, tc.want)
			}
			var want ImportCounts
			for _, o := range tc.want {
				switch o.status {
				case OutcomeImported:
					want.Imported++
				case OutcomeExisting:
					want.Existing++
				case OutcomeDuplicate:
					want.Duplicates++
				case OutcomeSkipped:
					want.Skipped++
				case OutcomeFailed:
					want.Failed++
				}
			}
			if got := s.Counts(); got != want {
				t.Errorf("counts %+v, want %+v", got, want)
			}
			if !slices.EqualFunc(told, s.Results, func(a, b ImportResult) bool { return a.Source == b.Source && a.Status == b.Status }) {
				t.Errorf("OnResult told %v, the summary has %v", outcomesOf(told), tc.want)
			}
			for _, r := range s.Results {
				if (r.Err != nil) != (r.Error != "") || (r.Status == OutcomeImported) != (r.Report != nil) {
					t.Errorf("%s: %+v", r.Source, r)
				}
			}
			switch ie, isIE := errors.AsType[*ImportError](err); {
			case tc.noErr:
				if err != nil {
					t.Fatalf("err %v, want none", err)
				}
			case !errors.Is(err, tc.wantErr):
				t.Fatalf("err %v, want %v", err, tc.wantErr)
			case tc.singleErr && isIE:
				t.Fatalf("err %v: one source's own error expected", err)
			case !tc.singleErr && (!isIE || ie.Failed != tc.failed || ie.Refused != tc.refused || ie.Sources != len(tc.want)):
				t.Fatalf("err %#v, want %d failed, %d refused of %d", err, tc.failed, tc.refused, len(tc.want))
			}
			// The vault's own words, no command's flags: cmd/tgvault
			// says what its flags do (importFailure).
			if ie, ok := errors.AsType[*ImportError](err); ok {
				want := fmt.Sprintf("vault: import: %d of %d sources hold a key the vault has already; the first: %v", ie.Refused, ie.Sources, ie.First)
				if ie.Failed > 0 {
					want = fmt.Sprintf("vault: import: %d of %d sources failed; the first: %v", ie.Failed, ie.Sources, ie.First)
				}
				if err.Error() != want {
					t.Errorf("message %q, want %q", err, want)
				}
			}
		})
	}
}

// TestImportSourcesSealed: a source named that is sealed with a
// passphrase asks for it once per import (mayPrompt true); before the
// files found in directories it is only read (mayPrompt false), and its
// error fails them all. Every passphrase given is wiped once
// ImportSources returns.
func TestImportSourcesSealed(t *testing.T) {
	src := newTestVault(t)
	var sealed []string
	for i, n := range []int{4, 5, 6} {
		name := string(rune('a' + i))
		if _, err := src.Import(variantString(t, n), "", ImportOptions{Name: name}); err != nil {
			t.Fatal(err)
		}
		s, err := src.ExportSealed(name, SealedExportOptions{Passphrase: otherPass})
		if err != nil {
			t.Fatal(err)
		}
		sealed = append(sealed, s)
	}
	named := filepath.Join(t.TempDir(), "named.txt")
	os.WriteFile(named, []byte(sealed[1]), 0o600)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "found.txt"), []byte(sealed[2]), 0o600)

	tv := newTestVault(t)
	var asks []bool
	var given []crypto.Passphrase
	req := findRequest(t, named, dir)
	req.Stdin = strings.NewReader(sealed[0])
	req.SealPassphrase = func(mayPrompt bool) (crypto.Passphrase, error) {
		asks = append(asks, mayPrompt)
		p := crypto.Passphrase(slices.Clone([]byte(otherPass)))
		given = append(given, p)
		return p, nil
	}
	s, err := tv.ImportSources(req)
	if err != nil {
		t.Fatal(err)
	}
	if want := []bool{true, false}; !slices.Equal(asks, want) {
		t.Errorf("asked %v, want %v (once for the sources named, once read for the found)", asks, want)
	}
	// ImportSources wipes the passphrases it was given.
	for i, p := range given {
		if len(p) != len(otherPass) || slices.ContainsFunc(p, func(b byte) bool { return b != 0 }) {
			t.Errorf("passphrase %d (mayPrompt %v) not wiped after ImportSources: %d bytes, not all zero", i, asks[i], len(p))
		}
	}
	if got, want := outcomesOf(s.Results), []outcome{{"stdin", OutcomeImported}, {"named.txt", OutcomeImported}, {"found.txt", OutcomeImported}}; !slices.Equal(got, want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	if s.Results[0].Report.Account.Name != "a" {
		t.Errorf("stdin's hand-off imported as %q, want its name a", s.Results[0].Report.Account.Name)
	}

	// No passphrase given for the found files: they fail, with its error.
	tv = newTestVault(t)
	noPass := errors.New("no passphrase file")
	req = findRequest(t, dir)
	req.SealPassphrase = func(mayPrompt bool) (crypto.Passphrase, error) {
		if mayPrompt {
			t.Error("a bulk import asked")
		}
		return nil, noPass
	}
	if _, err := tv.ImportSources(req); !errors.Is(err, noPass) {
		t.Fatalf("err %v, want the passphrase's", err)
	}
}

type countingBar struct{ added, finished int }

func (b *countingBar) Add(n int) { b.added += n }
func (b *countingBar) Finish()   { b.finished++ }

// TestImportSourcesFolder: a folder source's sessions come from
// ReadFolder and are imported together, each a result of the folder; its
// error is the source's as it is. The progress bar counts the files found
// in directories only; Leftovers counts what the imported sources lacked
// and left behind.
func TestImportSourcesFolder(t *testing.T) {
	tv := newTestVault(t)
	folder := t.TempDir()
	dir := t.TempDir()
	makeSessionFiles(t, dir, 3)
	session := func(n int) sessionstring.Session {
		return sessionstring.Session{DCID: 2, AuthKey: variantKey(t, n), UserID: sessionstring.Some(int64(n))}
	}
	req := findRequest(t, dir)
	req.Options.RemoveSource = true // the found files; never a folder
	req.Sources = append([]ImportSource{{Path: folder, Folder: true}}, req.Sources...)
	req.FolderFormat = "tdesktop"
	req.ReadFolder = func(path string) ([]sessionstring.Session, error) {
		if path != folder {
			t.Errorf("ReadFolder(%s), want %s", path, folder)
		}
		return []sessionstring.Session{session(7), session(8)}, nil
	}
	bar := &countingBar{}
	req.Progress = func(total int) ImportProgress {
		if total != 3 {
			t.Errorf("progress of %d, want the 3 files found", total)
		}
		return bar
	}
	s, err := tv.ImportSources(req)
	if err != nil {
		t.Fatal(err)
	}
	if s.count(OutcomeImported) != 5 || s.Results[0].Source != folder || s.Results[1].Source != folder ||
		s.Results[0].Report.Source != "tdesktop" || s.Results[1].Report.Account.Name != "user8" {
		t.Fatalf("results %+v", s.Results)
	}
	if lacks, removed, remaining := s.Leftovers(); lacks["api_id"] != 2 || removed != 3 || remaining != 2 {
		t.Errorf("leftovers: lacks %v, %d removed, %d remain; want api_id 2 (the folder's), 3 removed (the files), 2 remain (the folder's)", lacks, removed, remaining)
	}
	if bar.added != 3 || bar.finished != 1 {
		t.Errorf("progress: %d added, finished %d times; want 3, 1", bar.added, bar.finished)
	}

	locked := errors.New("passcode wanted")
	req = ImportRequest{Sources: []ImportSource{{Path: folder, Folder: true}}}
	req.ReadFolder = func(string) ([]sessionstring.Session, error) { return nil, locked }
	s, err = tv.ImportSources(req)
	if err != locked || s.count(OutcomeFailed) != 1 {
		t.Fatalf("err %v, results %+v; want the reader's error as it is", err, s.Results)
	}
}

// TestImportRequestCheck: the requests ImportSources refuses before it
// reads a source: a Name for more than one source or for a file found in
// a directory, nothing at all to import, and the options' rules (an
// unknown Format, SkipExisting with Replace). A request it refuses reads
// nothing: no result is told, no folder read, nothing imported.
func TestImportRequestCheck(t *testing.T) {
	file := ImportSource{Path: "a.session"}
	found := ImportSource{Path: "dir/b.session", Found: true}
	folder := ImportSource{Path: "tdata", Folder: true}
	stdin := strings.NewReader("")
	for _, tc := range []struct {
		name string
		req  ImportRequest
		want error // nil: accepted
	}{
		{"one file", ImportRequest{Sources: []ImportSource{file}}, nil},
		{"one file named", ImportRequest{Sources: []ImportSource{file}, Options: ImportOptions{Name: "x"}}, nil},
		{"one folder named", ImportRequest{Sources: []ImportSource{folder}, Options: ImportOptions{Name: "x"}}, nil},
		{"stdin named", ImportRequest{Stdin: stdin, Options: ImportOptions{Name: "x"}}, nil},
		{"only skipped paths", ImportRequest{Skipped: []SkippedSource{{Path: "README", Reason: "no session"}}}, nil},
		{"a folder with RemoveSource (kept)", ImportRequest{Sources: []ImportSource{folder}, Options: ImportOptions{RemoveSource: true}}, nil},
		{"a name for two files", ImportRequest{Sources: []ImportSource{file, file}, Options: ImportOptions{Name: "x"}}, ErrNameNeedsOneSource},
		{"a name for stdin and a file", ImportRequest{Stdin: stdin, Sources: []ImportSource{file}, Options: ImportOptions{Name: "x"}}, ErrNameNeedsOneSource},
		{"a name for a file found", ImportRequest{Sources: []ImportSource{found}, Options: ImportOptions{Name: "x"}}, ErrNameNeedsOneSource},
		{"a name for nothing", ImportRequest{Options: ImportOptions{Name: "x"}}, ErrNameNeedsOneSource},
		{"nothing", ImportRequest{}, ErrNoSources},
		{"an unknown format", ImportRequest{Sources: []ImportSource{file}, Options: ImportOptions{Format: "pyrogram-v9"}}, ErrUnknownFormat},
		{"skip and replace", ImportRequest{Sources: []ImportSource{file}, Options: ImportOptions{SkipExisting: true, Replace: true}}, ErrSkipAndReplace},
		{"an api_id of 0", ImportRequest{Sources: []ImportSource{file}, Options: ImportOptions{APIID: sessionstring.Some(int32(0))}}, ErrBadAPIID},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.req.Check()
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Check: %v, want accepted", err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Check: %v, want %v", err, tc.want)
			}
			if tc.want != ErrNoSources && !errors.Is(err, ErrBadInput) {
				t.Errorf("Check: %v does not match ErrBadInput", err)
			}
			tv := newTestVault(t)
			req := tc.req
			req.OnResult = func(r ImportResult) { t.Errorf("told %s %s", r.Source, r.Status) }
			req.ReadFolder = func(string) ([]sessionstring.Session, error) {
				t.Error("a folder read")
				return nil, nil
			}
			if s, err := tv.ImportSources(req); !errors.Is(err, tc.want) || len(s.Results) != 0 {
				t.Fatalf("ImportSources: %v, %d results; want %v and none", err, len(s.Results), tc.want)
			}
			if accts, err := tv.List(); err != nil || len(accts) != 0 {
				t.Fatalf("imported %v (%v), want nothing", accts, err)
			}
		})
	}
}

// TestImportOptionsCheck: every import refuses options Check refuses
// before anything is read or written: SkipExisting with Replace (which
// would otherwise replace silently), an api_id that is not positive
// (which would otherwise fill in a missing one), an unknown Format.
func TestImportOptionsCheck(t *testing.T) {
	tv := newTestVault(t)
	known := variantFile(t, 3)
	if _, err := tv.ImportFile(known, ImportOptions{Name: "known"}); err != nil {
		t.Fatal(err)
	}
	both := ImportOptions{Name: "other", SkipExisting: true, Replace: true}
	if r, err := tv.ImportFile(known, both); !errors.Is(err, ErrSkipAndReplace) || r.Replaced != "" {
		t.Fatalf("ImportFile with SkipExisting and Replace: %+v, %v; want ErrSkipAndReplace", r, err)
	}
	if err := tv.ImportFiles([]string{known}, both, nil); !errors.Is(err, ErrSkipAndReplace) {
		t.Fatalf("ImportFiles with SkipExisting and Replace: %v; want ErrSkipAndReplace", err)
	}
	// A Telethon string carries no api_id: a bad one would be filled in.
	telethon := filepath.Join(vectors, "telethon/string_session.txt")
	for _, id := range []int32{0, -2040} {
		if _, err := tv.ImportFile(telethon, ImportOptions{Name: "t", APIID: sessionstring.Some(id)}); !errors.Is(err, ErrBadAPIID) ||
			err.Error() != "vault: unrecognised session: api_id must be positive" {
			t.Fatalf("api_id %d: %v, want ErrBadAPIID", id, err)
		}
	}
	if _, err := tv.ImportFile(known, ImportOptions{Format: "nope"}); !errors.Is(err, ErrUnknownFormat) ||
		err.Error() != `vault: unrecognised session: unknown format "nope"` {
		t.Fatalf("an unknown format: %v", err)
	}
	if accts, err := tv.List(); err != nil || len(accts) != 1 || accts[0].Name != "known" {
		t.Fatalf("accounts %+v (%v), want known only", accts, err)
	}
}
