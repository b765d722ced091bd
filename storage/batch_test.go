package storage

import (
	cryptorand "crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/atomicfile"
)

// TestSaveBatch: files flushed through a batch are untouched on disk until
// Sync, then in place and durable at their next revision, with no temp
// file left; a file staged refuses another save until then, and a change
// made while it waits is not lost. An Early batch ends the same after
// Sync (its files may be in place before).
func TestSaveBatch(t *testing.T) {
	t.Parallel()
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprint("early=", early), func(t *testing.T) {
			t.Parallel()
			testSaveBatch(t, early)
		})
	}
}

func testSaveBatch(t *testing.T, early bool) {
	dir := t.TempDir()
	s := newTestSealer(t)
	const n = 40
	files := make([]*File, n)
	for i := range files {
		files[i] = newFile(t, dir, s, Binding{"v", fmt.Sprint("a", i), 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()})
	}
	batch := &SaveBatch{Early: early}
	for i, f := range files {
		if err := f.UpdatePeers([]Peer{{ID: int64(1000 + i), Type: PeerUser, Username: fmt.Sprint("new", i)}}); err != nil {
			t.Fatal(err)
		}
		if err := f.FlushIn(batch); err != nil {
			t.Fatal(err)
		}
	}
	// Staged, not in place: the files on disk are the old ones.
	for _, f := range files {
		if early {
			break
		}
		g, err := OpenFile(f.Path(), s, Binding{"v", f.binding.AccountID, 1}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := g.PeerCount(); n != 5 || g.Revision() != 1 {
			t.Fatalf("before Sync: %d peers, revision %d on disk", n, g.Revision())
		}
		g.Close()
		if f.Revision() != 1 {
			t.Fatalf("before Sync: revision %d in memory", f.Revision())
		}
	}
	if err := files[0].SetMeta("k", []byte("v")); !errors.Is(err, errSaving) {
		t.Fatalf("a save of a staged file: %v, want errSaving", err)
	}
	// A change while staged stays to be saved.
	if err := files[1].UpdatePeers([]Peer{{ID: 77, Type: PeerGroup}}); err != nil {
		t.Fatal(err)
	}
	if failed := batch.Sync(); failed != nil {
		t.Fatalf("Sync: %v", failed)
	}
	for i, f := range files {
		if f.Revision() != 2 {
			t.Fatalf("after Sync: revision %d", f.Revision())
		}
		g, err := OpenFile(f.Path(), s, Binding{"v", f.binding.AccountID, 2}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p, err := g.PeerByID(int64(1000 + i)); err != nil || p.Username != fmt.Sprint("new", i) {
			t.Fatalf("after Sync: %+v %v", p, err)
		}
		g.Close()
	}
	if !files[1].peersDirty || files[0].peersDirty {
		t.Fatal("after Sync: the change made while staged was dropped, or a saved file stays dirty")
	}
	if err := files[1].Flush(); err != nil {
		t.Fatal(err)
	}
	if err := files[0].SetMeta("k", []byte("v")); err != nil {
		t.Fatalf("a save after Sync: %v", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

// TestSaveBatchFailure: a file whose temp file cannot be put in place
// keeps its revision and its changes, and the others are saved.
func TestSaveBatchFailure(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("renames over a directory differently")
	}
	for _, early := range []bool{false, true} {
		t.Run(fmt.Sprint("early=", early), func(t *testing.T) {
			t.Parallel()
			testSaveBatchFailure(t, early)
		})
	}
}

func testSaveBatchFailure(t *testing.T, early bool) {
	dir := t.TempDir()
	s := newTestSealer(t)
	good := newFile(t, dir, s, Binding{"v", "good", 1}, &Snapshot{Session: testRow(t)})
	bad := newFile(t, dir, s, Binding{"v", "bad", 1}, &Snapshot{Session: testRow(t)})
	// The rename of bad's temp file fails: a non-empty directory in its
	// place (made before the staging, which an Early batch renames at once).
	if err := os.Remove(bad.Path()); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(bad.Path(), "x"), 0o700); err != nil {
		t.Fatal(err)
	}
	batch := &SaveBatch{Early: early}
	for _, f := range []*File{good, bad} {
		if err := f.UpdatePeers(vectorPeers()); err != nil {
			t.Fatal(err)
		}
		if err := f.FlushIn(batch); err != nil {
			t.Fatal(err)
		}
	}
	failed := batch.Sync()
	if len(failed) != 1 || failed[bad] == nil {
		t.Fatalf("Sync failures: %v", failed)
	}
	if good.Revision() != 2 || good.peersDirty {
		t.Fatal("the good file was not saved")
	}
	if bad.Revision() != 1 || !bad.peersDirty {
		t.Fatal("the failed file lost its revision or its changes")
	}
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Fatalf("temp file left: %s", e.Name())
		}
	}
}

// TestSaveBatchCrash kills a child process that saves files in batches in
// a loop (every other batch Early), each batch followed by a ledger of their revisions written after
// Sync (as the vault writes its index), at random moments. Every file must
// open whole each time, and never behind the ledger: what the ledger
// records was durable before it.
func TestSaveBatchCrash(t *testing.T) {
	if testing.Short() {
		t.Skip("crash loop skipped in -short mode")
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses SIGKILL")
	}
	dir := t.TempDir()
	key := make([]byte, 32)
	cryptorand.Read(key)
	s := &testSealer{key: key}
	const files = 24
	for i := range files {
		f, err := CreateFile(filepath.Join(dir, fmt.Sprint(i, ".age")), s, Binding{"v", fmt.Sprint(i), 1}, &Snapshot{Session: testRow(t), Meta: map[string][]byte{"n": []byte("0")}}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		f.Close()
	}
	kills := 12
	if v, err := strconv.Atoi(os.Getenv("TGVAULT_CRASH_KILLS")); err == nil {
		kills = v
	}
	r := mathrand(2)
	last := make([]uint64, files)
	for k := range kills {
		cmd := exec.Command(os.Args[0], "-test.run=^TestSaveBatchCrashChild$")
		cmd.Env = append(os.Environ(), "TGVAULT_CRASH_CHILD="+dir, fmt.Sprintf("TGVAULT_CRASH_KEY=%x", key))
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(30+r.IntN(200)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		var ledger []uint64
		if b, err := os.ReadFile(filepath.Join(dir, "ledger")); err == nil {
			if err := json.Unmarshal(b, &ledger); err != nil {
				t.Fatalf("kill %d: ledger: %v", k, err)
			}
		}
		for i := range files {
			want := last[i]
			if i < len(ledger) {
				want = max(want, ledger[i])
			}
			g, err := OpenFile(filepath.Join(dir, fmt.Sprint(i, ".age")), s, Binding{"v", fmt.Sprint(i), want}, Options{})
			if err != nil {
				t.Fatalf("kill %d: file %d does not open at the ledger's revision %d or later: %v", k, i, want, err)
			}
			n, _, _ := g.Meta("n")
			count, _ := g.PeerCount()
			if strconv.Itoa(count) != string(n) {
				t.Fatalf("kill %d: file %d torn: %d peers, meta says %s", k, i, count, n)
			}
			last[i] = g.Revision()
			g.Close()
		}
	}
	t.Logf("%d kills, every file whole and never behind the ledger; revisions %v", kills, last)
}

// TestSaveBatchCrashChild is the child of TestSaveBatchCrash.
func TestSaveBatchCrashChild(t *testing.T) {
	dir := os.Getenv("TGVAULT_CRASH_CHILD")
	if dir == "" {
		t.Skip("child of TestSaveBatchCrash")
	}
	var key []byte
	fmt.Sscanf(os.Getenv("TGVAULT_CRASH_KEY"), "%x", &key)
	s := &testSealer{key: key}
	var fs []*File
	for i := 0; ; i++ {
		f, err := OpenFile(filepath.Join(dir, fmt.Sprint(i, ".age")), s, Binding{"v", fmt.Sprint(i), 0}, Options{})
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		fs = append(fs, f)
	}
	for round := 0; ; round++ {
		batch := &SaveBatch{Early: round%2 == 1} // both ways of placing
		for _, f := range fs {
			n, _ := f.PeerCount()
			peers := make([]Peer, 50)
			for j := range peers {
				peers[j] = UserPeer(int64(n+j+1), 1, false, fmt.Sprint("u", n+j), nil, "")
			}
			if err := f.UpdatePeers(peers); err != nil {
				t.Fatal(err)
			}
			// Saved with the peers: the two must agree after any crash.
			if err := f.CacheMeta("n", []byte(strconv.Itoa(n+50))); err != nil {
				t.Fatal(err)
			}
			if err := f.FlushIn(batch); err != nil {
				t.Fatal(err)
			}
		}
		if failed := batch.Sync(); failed != nil {
			t.Fatal(failed)
		}
		revs := make([]uint64, len(fs))
		for i, f := range fs {
			revs[i] = f.Revision()
		}
		b, _ := json.Marshal(revs)
		if err := atomicfile.WriteFile(filepath.Join(dir, "ledger"), b); err != nil {
			t.Fatal(err)
		}
	}
}

// TestCreateIn: stores created through a batch are not on disk until
// Sync, then in place at their first revision with their rows, with no
// temp file left and nothing left to save; a store whose staged save
// failed (its directory gone) is reported, and Abandon drops it without
// writing.
func TestCreateIn(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	gone := filepath.Join(t.TempDir(), "gone")
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	s := newTestSealer(t)
	batch := &SaveBatch{}
	const n = 20
	files := make([]*File, n)
	for i := range files {
		d := dir
		if i == n-1 {
			d = gone
		}
		f, err := CreateIn(batch, FileBlob(filepath.Join(d, fmt.Sprint("a", i, ".age"))), s, Binding{"v", fmt.Sprint("a", i), 1}, &Snapshot{Session: testRow(t), Peers: vectorPeers()}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(f.Path()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("store %d on disk before Sync: %v", i, err)
		}
		files[i] = f
	}
	// The last store's directory goes before Sync: its temp file with it.
	if err := os.RemoveAll(gone); err != nil {
		t.Fatal(err)
	}
	failed := batch.Sync()
	if len(failed) != 1 || failed[files[n-1]] == nil {
		t.Fatalf("Sync failed %v, want the store whose directory went", failed)
	}
	for _, f := range files[:n-1] {
		if f.Revision() != 1 || f.peersDirty {
			t.Fatalf("after Sync: revision %d, dirty %v", f.Revision(), f.peersDirty)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		g, err := OpenFile(f.Path(), s, Binding{"v", strings.TrimSuffix(filepath.Base(f.Path()), ".age"), 1}, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if n, _ := g.PeerCount(); n != len(vectorPeers()) || g.Revision() != 1 {
			t.Fatalf("on disk: %d peers, revision %d", n, g.Revision())
		}
		g.Close()
	}
	if ents, _ := os.ReadDir(dir); len(ents) != n-1 {
		t.Fatalf("%d entries in the directory, want the %d stores only", len(ents), n-1)
	}
	if err := os.Mkdir(gone, 0o700); err != nil {
		t.Fatal(err)
	}
	files[n-1].Abandon()
	if ents, _ := os.ReadDir(gone); len(ents) != 0 {
		t.Fatal("Abandon wrote the store")
	}
	if _, err := files[n-1].PeerCount(); !errors.Is(err, ErrClosed) {
		t.Fatalf("an abandoned store answers: %v", err)
	}
}
