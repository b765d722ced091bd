package daemon

import (
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/filekeyring"
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
//
//	go test -run '^$' -bench ShutdownSave -benchtime 1x -timeout 30m ./daemon/
func BenchmarkShutdownSave(b *testing.B) {
	n := 10000
	if v, err := strconv.Atoi(os.Getenv("TGVAULT_BENCH_ACCOUNTS")); err == nil && v > 0 {
		n = v
	}
	testhooks.SetScryptWorkFactor(b, 10)
	dir := b.TempDir()
	v, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: filepath.Join(dir, "vault"), Keyring: filekeyring.New(filepath.Join(dir, "keyring"))}}, crypto.Passphrase("shutdown bench"))
	if err != nil {
		b.Fatal(err)
	}
	defer v.Close()
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
	list, err := v.List()
	if err != nil {
		b.Fatal(err)
	}
	config := make([]byte, 2048)
	rand.Read(config)
	for b.Loop() {
		b.StopTimer()
		files, errs, err := v.OpenAccounts(list, nil)
		if err != nil {
			b.Fatal(err)
		}
		w := &vaultWriter{v: v}
		stores := make([]*lazyStore, len(files))
		for i, f := range files {
			if errs[i] != nil {
				b.Fatal(errs[i])
			}
			stores[i] = newLazyStore(f, nil, w)
			if err := stores[i].CacheMeta("bench.config", config); err != nil {
				b.Fatal(err)
			}
			self := storage.UserPeer(int64(1_000_000+i), 42, false, fmt.Sprint("self", i), nil, "")
			self.LastUpdateOn = time.Now().Unix() + int64(b.N) // a change each round
			if err := stores[i].UpdatePeers([]storage.Peer{self}); err != nil {
				b.Fatal(err)
			}
		}
		b.StartTimer()
		start := time.Now()
		if errs := saveAndClose(stores); len(errs) > 0 {
			b.Fatal(errs[0])
		}
		b.ReportMetric(time.Since(start).Seconds(), "s/save-all")
		b.ReportMetric(float64(w.batches.Load()), "commits")
		b.StopTimer()
		if list, err = v.List(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(n), "accounts")
}
