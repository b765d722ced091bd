package daemon

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/filekeyring"
	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// BenchmarkShutdownSave is what `tgvault run` does with its accounts when
// it stops (saveAndClose): N accounts open, each with what a first connect
// after an import leaves unsaved (gotd's server config, about 2 KB, cached
// in its meta, and its own user in the peer cache), all saved through the
// vault's group commit (sealed, fsynced in batches, the index written once
// per batch) and closed. The vault is a file vault in a temp directory;
// building it is not timed. N is TGVAULT_BENCH_ACCOUNTS (default 10000).
// It reports the wall time of the save (s/save-all) and the CPU time of
// the whole process meanwhile (cpu-s/save-all: every thread, the fsyncs'
// system time and the garbage collector's included).
//
// TGVAULT_BENCH_VAULT=DIR keeps the vault (and its file keyring) in DIR
// and reuses it when it is there: two test binaries, the code before a
// change and after it, can then take turns saving the same accounts
// (before/after pairs on one machine, in one run, without importing
// 10,000 accounts for each).
//
//	go test -run '^$' -bench ShutdownSave -benchtime 1x -timeout 30m ./daemon/
func BenchmarkShutdownSave(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("TGVAULT_BENCH_ACCOUNTS")); err == nil && v > 0 {
		n = v
	}
	v := shutdownVault(b, n)
	defer v.Close()
	list, err := v.List()
	if err != nil {
		b.Fatal(err)
	}
	config := make([]byte, 2048)
	rand.Read(config)
	// A change each round, also across processes: the config's bytes and
	// the access hash of the account's own user (a peer whose fields are
	// the same keeps its stamp for an hour: storage.RefreshAfter).
	round := time.Now().UnixNano()
	for b.Loop() {
		b.StopTimer()
		files, errs, err := v.OpenAccounts(list, nil)
		if err != nil {
			b.Fatal(err)
		}
		w := &vaultWriter{v: v}
		stores := make([]*lazyStore, len(files))
		round++
		binary.LittleEndian.PutUint64(config, uint64(round))
		for i, f := range files {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			stores[i] = newLazyStore(f, nil, w)
			if err := stores[i].CacheMeta("bench.config", config); err != nil {
				b.Fatal(err)
			}
			self := storage.UserPeer(int64(1_000_000+i), round, false, fmt.Sprint("self", i), nil, "")
			if err := stores[i].UpdatePeers([]storage.Peer{self}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start, cpu := time.Now(), mttest.ProcessCPU(b)
		if errs := saveAndClose(stores); len(errs) > 0 {
			b.Fatal(errs[0])
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/save-all")
		b.ReportMetric((mttest.ProcessCPU(b) - cpu).Seconds(), "cpu-s/save-all")
		b.ReportMetric(float64(w.batches.Load()), "commits")
		b.StopTimer()
		if list, err = v.List(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(len(list)), "accounts")
}

// shutdownVault returns the vault of BenchmarkShutdownSave: n accounts
// imported into a new vault, or the one kept in TGVAULT_BENCH_VAULT.
func shutdownVault(b *testing.B, n int) *vault.Vault {
	dir := os.Getenv("TGVAULT_BENCH_VAULT")
	if dir == "" {
		dir = b.TempDir()
	}
	opts := vault.Options{Dir: filepath.Join(dir, "vault"), Keyring: filekeyring.New(filepath.Join(dir, "keyring"))}
	if v, err := vault.Open(opts); err == nil {
		return v
	} else if !errors.Is(err, vault.ErrNotInitialized) {
		b.Fatal(err)
	}
	testhooks.SetScryptWorkFactor(b, 10)
	v, err := vault.Init(vault.InitOptions{Options: opts}, crypto.Passphrase("shutdown bench"))
	if err != nil {
		b.Fatal(err)
	}
	ss := make([]sessionstring.Session, n)
	for i := range ss {
		raw := make([]byte, 256)
		rand.Read(raw)
		key, err := sessionstring.NewAuthKey(raw)
		if err != nil {
			b.Fatal(err)
		}
		ss[i] = sessionstring.Session{DCID: 2, APIID: sessionstring.Some[int32](17349), TestMode: sessionstring.Some(false), AuthKey: key,
			UserID: sessionstring.Some(int64(1_000_000 + i)), IsBot: sessionstring.Some(false)}
	}
	if _, err := v.ImportSessions(ss, "pyrogram", "", vault.ImportOptions{}); err != nil {
		b.Fatal(err)
	}
	return v
}
