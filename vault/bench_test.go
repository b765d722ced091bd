package vault

import (
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
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
