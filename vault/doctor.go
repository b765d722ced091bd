package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"

	"github.com/tgvault/tgvault/crypto"
)

// Check is one finding of Doctor.
type Check struct {
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}

// Doctor inspects the vault without changing it: the keyring, permissions,
// the lock holders, vault.json's recipients, the index against every
// account file (binding and revision), orphan files and the temp files a
// crash leaves behind.
//
// Long: one check after another, each a few lines adding its finding; the
// report's order is the code's order, and splitting it would only spread
// that list over files.
func (v *Vault) Doctor() []Check {
	var cs []Check
	add := func(name string, ok bool, detail, fix string) {
		cs = append(cs, Check{Name: name, OK: ok, Detail: detail, Fix: fix})
	}

	st, uerr := v.unlockKeys()
	cs = append(cs, v.holderChecks(uerr)...)

	if _, ok := v.be.(DirBackend); ok {
		cs = append(cs, v.checkPerms(string(v.be.(DirBackend))))
	}

	if h, held := v.be.Probe(LockWrite); held {
		add("writer", true, fmt.Sprintf("process %d (%s) holds the write lock since %s", h.PID, h.Command, h.Since.Format("2006-01-02 15:04:05Z07:00")), "")
	} else {
		add("writer", true, "no writer", "")
	}
	if hs, err := v.be.AccountHolders(); err != nil {
		add("owners", false, "the ownership locks are unreadable: "+err.Error(), "check "+v.be.Location())
	} else if len(hs) > 0 {
		byPID := map[string]int{}
		for _, h := range hs {
			byPID[fmt.Sprintf("process %d (%s)", h.PID, h.Command)]++
		}
		var parts []string
		for who, n := range byPID {
			parts = append(parts, fmt.Sprintf("%s holds %d", who, n))
		}
		sort.Strings(parts)
		add("run", true, strings.Join(parts, "; ")+" (tgvault status names the accounts)", "")
	}
	if st != nil && st.rekeyErr != nil {
		add("rekey", false, st.rekeyErr.Error(), "with no tgvault writing, remove "+vaultName(v.be, rekeyPath))
	} else if v.rekeyPending() {
		add("rekey", false, "a rekey was interrupted", "tgvault rekey")
	}

	dir, isDir := v.be.(DirBackend)
	var stray []string
	if isDir {
		stray = tempFiles(string(dir))
	}
	switch {
	case !isDir:
		add("temp files", true, "none (writes to "+v.be.Location()+" are transactions)", "")
	case len(stray) > 0:
		detail := fmt.Sprintf("%d temp files left by an interrupted write (sealed; no secrets in plaintext)", len(stray))
		if st != nil && staleTemp(st, stray) {
			detail = fmt.Sprintf("%d temp files left by an interrupted write, some sealed to a key this vault no longer uses: that old key still opens them", len(stray))
		}
		add("temp files", false, detail, "with no tgvault writing, remove them: rm "+strings.Join(stray, " "))
	default:
		add("temp files", true, "none", "")
	}

	if st == nil {
		return cs
	}
	legacy, merr := v.fileMode(st.ids)
	switch {
	case errors.Is(merr, ErrWrongKey):
		add("vault.json", false, merr.Error(), "")
		return cs
	case merr != nil:
		// Go on as strictly as format 2: every file must be authenticated.
		detail := merr.Error()
		if m, err := v.readMeta(); err == nil {
			var foreign []string
			for _, r := range m.Recipients {
				if r != st.primary.Recipient().String() {
					foreign = append(foreign, r)
				}
			}
			if len(foreign) > 0 {
				detail += "; recipients the vault key did not authenticate: " + strings.Join(foreign, ", ")
			}
		}
		add("vault.json", false, detail, "check who can write "+v.be.Location())
	case legacy:
		add("vault.json", false, fmt.Sprintf("format %d: the files are not authenticated by the vault key (written by an older tgvault); the next write upgrades the vault to format %d", formatV1, formatCurrent),
			"any write upgrades it (import, rename, reclaim, rekey, or `tgvault run` saving)")
	default:
		add("vault.json", true, fmt.Sprintf("format %d: vault.json and every file are authenticated by the vault key", formatCurrent), "")
	}
	st.legacy = legacy
	x, err := v.loadIndex(st)
	if err != nil {
		add("index", false, err.Error(), "restore index.age from a backup")
		return cs
	}
	add("index", true, fmt.Sprintf("%d accounts", len(x.Accounts)), "")
	if x.MigratedTo != "" {
		add("migrated", true, "this vault was copied to "+x.MigratedTo+" (tgvault migrate): run, export and import refuse it without --force", "")
	}

	s, err := st.sealer()
	if err != nil {
		return cs
	}
	known := map[string]bool{}
	// Key ids as the files say (an index written before they were kept
	// has none), else as the index says.
	keyed := make([]Account, 0, len(x.Accounts))
	for i := range x.Accounts {
		a := &x.Accounts[i]
		known[a.ID+accountExt] = true
		name := "account " + a.Name
		f, err := v.openFile(s, true, a)
		if err != nil {
			keyed = append(keyed, *a)
			add(name, false, err.Error(), accountFix(a, err))
			continue
		}
		op, err := openedOf(f)
		dropStore(f)
		if err != nil {
			keyed = append(keyed, *a)
			add(name, false, err.Error(), accountFix(a, err))
			continue
		}
		k := *a
		k.setKeyID(op.keyID)
		keyed = append(keyed, k)
		status, _ := effectiveState(a, op.state, op.hasState)
		switch {
		case a.Status == StatusMismatch:
			add(name, false, "mismatch: "+a.Reason,
				"if the vault's field is wrong, correct it with tgvault set; else the session is not this account's: tgvault rm it")
		case a.Status == StatusBroken:
			add(name, true, "the file opens again; the index still says broken ("+a.Reason+")", "")
		case status != a.Status:
			add(name, true, fmt.Sprintf("%s: the file says so (the index says %s, an older copy): repaired on the next write", status, a.Status), "")
		case op.rev > a.Revision:
			add(name, true, fmt.Sprintf("the file (revision %d) is ahead of the index (%d): repaired on the next write", op.rev, a.Revision), "")
		default:
			add(name, true, string(status), "")
		}
	}
	if dups := duplicates(keyed); len(dups) > 0 {
		var ds []string
		for k, names := range dups {
			ds = append(ds, describeDuplicates(k, names))
		}
		sort.Strings(ds)
		add("duplicates", false, fmt.Sprintf("%d auth keys are in more than one account: %s; run would use each from two places, and Telegram kills a key used twice", len(dups), strings.Join(ds, "; ")),
			"keep one account per key: tgvault rm the others (stop any tgvault run serving them first)")
	}
	names, _ := v.be.List(accountsDir)
	var orphans []string
	for _, n := range names {
		if !known[path.Base(n)] {
			orphans = append(orphans, vaultName(v.be, n))
		}
	}
	if len(orphans) > 0 {
		fix := "with no tgvault writing, remove them: rm " + strings.Join(orphans, " ")
		if _, ok := v.be.(DirBackend); !ok {
			fix = "with no tgvault writing, remove them from " + v.be.Location()
		}
		add("orphans", false, fmt.Sprintf("%d account files are not in the index (an interrupted import or remove)", len(orphans)), fix)
	}
	return cs
}

// accountFix is what to do about an account whose file fails.
func accountFix(a *Account, err error) string {
	switch {
	case errors.Is(err, ErrBinding):
		return fmt.Sprintf("restore accounts/%s.age from a backup of the same or a newer revision; else tgvault rm %q and import the session again", a.ID, a.Name)
	case errors.Is(err, ErrWrongKey):
		return fmt.Sprintf("the file is sealed to another key: restore accounts/%s.age from a backup; else tgvault rm %q and import the session again", a.ID, a.Name)
	}
	return fmt.Sprintf("restore accounts/%s.age from a backup; else tgvault rm %q and import the session again", a.ID, a.Name)
}

// checkPerms checks that the directory is 0700 and the files 0600.
func (v *Vault) checkPerms(dir string) Check {
	if runtime.GOOS == "windows" {
		return Check{Name: "permissions", OK: true, Detail: "not checked on Windows (ACLs)"}
	}
	var bad []string
	_ = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil
		}
		fi, err := d.Info()
		if err != nil {
			return nil
		}
		perm := fi.Mode().Perm()
		if (d.IsDir() && perm&0o077 != 0) || (!d.IsDir() && perm&0o177 != 0) {
			bad = append(bad, fmt.Sprintf("%s (%04o)", p, perm))
		}
		return nil
	})
	if len(bad) > 0 {
		return Check{Name: "permissions", Detail: "too open: " + strings.Join(bad, ", "),
			Fix: fmt.Sprintf("chmod -R go-rwx %s", dir)}
	}
	return Check{Name: "permissions", OK: true, Detail: "directories 0700, files 0600"}
}

// staleTemp reports whether one of the temp files is an age file that the
// vault's current key does not open (sealed to a key a rekey replaced).
func staleTemp(st *unlocked, paths []string) bool {
	s, err := crypto.NewVaultSealer(st.ids, st.ids[:1])
	if err != nil {
		return false
	}
	s = s.AcceptUnauthenticated()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil || crypto.SealedForm(b) != crypto.FormBinary {
			continue
		}
		if _, err := s.Open(b); errors.Is(err, crypto.ErrWrongKey) {
			return true
		}
	}
	return false
}
