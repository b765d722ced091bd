package vault

import (
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/storage/foreign"
)

// BenchmarkList10000 lists a vault of 10,000 accounts: one index open.
// The index is built directly, not by 10,000 imports.
func BenchmarkList10000(b *testing.B) {
	tv := newTestVault(b)
	st, err := tv.unlock()
	if err != nil {
		b.Fatal(err)
	}
	x := &index{Version: formatV1, VaultID: tv.ID()}
	now := time.Now().UTC()
	for i := range 10000 {
		x.Accounts = append(x.Accounts, Account{
			Name: fmt.Sprintf("account-%05d", i), ID: newID(16), UserID: sessionstring.Some(int64(1e9 + i)),
			DCID: 2, IsBot: sessionstring.Some(false), TestMode: sessionstring.Some(false),
			APIID: sessionstring.Some[int32](12345), Status: StatusActive, Peers: 5, Revision: 1,
			Source: "pyrogram-v3", Created: now, Updated: now,
		})
	}
	if err := tv.saveIndex(st, x); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		l, err := tv.List()
		if err != nil || len(l) != 10000 {
			b.Fatal(len(l), err)
		}
	}
}

// BenchmarkImportFiles1000 imports 1,000 Pyrogram .session files (the
// vector with different keys and user ids) into a new vault.
func BenchmarkImportFiles1000(b *testing.B) {
	paths := makeSessionFiles(b, b.TempDir(), 1000)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		tv := newTestVault(b)
		b.StartTimer()
		if err := tv.ImportFiles(paths, ImportOptions{}, nil); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N)/1000, "ms/file")
}

var _ = filepath.Join

// BenchmarkImportVsLimit imports 2,000 Pyrogram .session files (the
// vector with different keys and user ids) into a new vault each
// iteration, and beside it, in the same iteration, writes the same
// accounts' files as the import does from sessions already decoded (each
// sealed to the vault key, staged, made durable in batches of 256 with one
// directory fsync, by as many workers): the limit of an import on this
// machine, without reading the sources or writing the index. Reported:
// files/s of each and the import's time as a multiple of the limit's.
func BenchmarkImportVsLimit(b *testing.B) {
	const n = 2000
	paths := makeSessionFiles(b, b.TempDir(), n)
	snaps := make([]*storage.Snapshot, n)
	for i, p := range paths {
		f, err := foreign.ReadFile(p)
		if err != nil {
			b.Fatal(err)
		}
		snaps[i] = f.Snapshot()
	}
	var imp, lim time.Duration
	for b.Loop() {
		b.StopTimer()
		tv := newTestVault(b)
		st, err := tv.unlock()
		if err != nil {
			b.Fatal(err)
		}
		s, err := st.sealer()
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		t0 := time.Now()
		if err := tv.ImportFiles(paths, ImportOptions{}, nil); err != nil {
			b.Fatal(err)
		}
		imp += time.Since(t0)
		b.StopTimer()

		t0 = time.Now()
		for lo := 0; lo < n; lo += importBatch {
			batch := &storage.SaveBatch{}
			hi := min(n, lo+importBatch)
			files := make([]*storage.File, hi-lo)
			work := make(chan int)
			var wg sync.WaitGroup
			for range importWorkers() {
				wg.Go(func() {
					for i := range work {
						id := newID(16)
						f, err := tv.newAccountFileIn(batch, id, s, storage.Binding{VaultID: tv.ID(), AccountID: id, Revision: 1}, snaps[i])
						if err != nil {
							b.Error(err)
						}
						files[i-lo] = f
					}
				})
			}
			for i := lo; i < hi; i++ {
				work <- i
			}
			close(work)
			wg.Wait()
			if failed := batch.Sync(); failed != nil {
				b.Fatal(failed)
			}
			for _, f := range files {
				f.Close()
			}
		}
		lim += time.Since(t0)
		b.StartTimer()
	}
	files := float64(n * b.N)
	b.ReportMetric(files/imp.Seconds(), "files/s")
	b.ReportMetric(files/lim.Seconds(), "limit-files/s")
	b.ReportMetric(imp.Seconds()/lim.Seconds(), "x-limit")
}
