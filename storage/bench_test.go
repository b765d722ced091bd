package storage

// The storage benchmarks. docs/benchmarks.md says what each figure
// includes; bench/run.sh runs them beside Telethon's storage and prints
// the ratios. Every sealed benchmark seals with benchSealer, which
// sealed_age_test.go sets to the sealer the vault seals account files
// with (crypto.VaultSealer: age, plus the authentication stanza).

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/chacha20poly1305"

	"github.com/tgvault/tgvault/internal/atomicfile"
)

// benchSealer is what the sealed benchmarks seal with. sealed_age_test.go
// swaps in the age sealer from package crypto (the one the vault uses).
var benchSealer = func(b *testing.B) Sealer { return newTestSealer(b) }

const benchPeers = 100_000

// benchClock is a clock a benchmark moves on: UpdatePeers stamps rows
// with it, so moving it past RefreshAfter makes every write a change.
type benchClock struct{ unix atomic.Int64 }

func newBenchClock() *benchClock {
	c := &benchClock{}
	c.unix.Store(time.Now().Unix())
	return c
}

func (c *benchClock) now() time.Time          { return time.Unix(c.unix.Load(), 0) }
func (c *benchClock) advance(d time.Duration) { c.unix.Add(int64(d / time.Second)) }

// freshPeers returns randomPeers(n, seed) stamped within the last quarter
// hour, so that their usernames are within the TTL of the real clock.
func freshPeers(n int, seed uint64) []Peer {
	peers := randomPeers(n, seed)
	now := time.Now().Unix()
	for i := range peers {
		peers[i].LastUpdateOn = now - 900 + peers[i].LastUpdateOn%900
	}
	return peers
}

// benchStore returns a sealed file store holding 100,000 peers, saved, and
// the peers. With reopen it is closed and opened again, its peers loaded,
// so that it holds them the way `run` does after opening an account: rows
// in id order, each row's strings allocated as the image was read.
func benchStore(b *testing.B, opts Options, reopen bool) (*File, []Peer) {
	b.Helper()
	peers := freshPeers(benchPeers, 42)
	path := filepath.Join(b.TempDir(), "a.age")
	sealer := benchSealer(b)
	f, err := CreateFile(path, sealer, Binding{"v", "a", 1}, &Snapshot{Session: testRow(b), Peers: peers}, opts)
	if err != nil {
		b.Fatal(err)
	}
	if reopen {
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		if f, err = OpenFile(path, sealer, Binding{"v", "a", 1}, opts); err != nil {
			b.Fatal(err)
		}
		if n, err := f.PeerCount(); err != nil || n != benchPeers {
			b.Fatal(n, err)
		}
	}
	b.Cleanup(func() { f.Close() })
	return f, peers
}

// sink keeps the compiler from dropping what a benchmark computes.
var sink int64

// benchLookup looks up every key that answers, one per iteration, in the
// store's own row order ("sequential": neighbouring rows come from cache
// lines the hardware prefetched) and in a random order ("random": what a
// client asking about the peers of its updates does), and builds the
// InputPeer from the row found, as Pyrogram's get_peer_by_* return it. The
// keys are fresh copies laid out one after another in the order they are
// asked, so that reading the next key costs what a caller's own key does:
// nothing the store's layout decides. The store is a reopened file store
// with the real clock (usernames checked against the TTL as in `run`).
func benchLookup[K any](b *testing.B, key func(*Peer) (K, bool), clone func([]K) []K, lookup func(*File, K) (Peer, error)) {
	s, _ := benchStore(b, Options{}, true)
	snap, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	var stored []K // in the store's row order
	for i := range snap.Peers {
		if k, ok := key(&snap.Peers[i]); ok {
			stored = append(stored, k)
		}
	}
	snap = nil
	if len(stored) == 0 {
		b.Fatal("no peer answers the lookup")
	}
	shuffled := slices.Clone(stored)
	rand.New(rand.NewPCG(99, 1)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	for _, c := range []struct {
		name string
		keys []K
	}{{"random", clone(shuffled)}, {"sequential", clone(stored)}} {
		b.Run(c.name, func(b *testing.B) {
			keys := c.keys
			for _, k := range keys[:min(len(keys), 1000)] { // every key answers
				if _, err := lookup(s, k); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportAllocs()
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			cpu0 := threadCPU()
			i := 0
			for b.Loop() {
				p, err := lookup(s, keys[i])
				if err != nil {
					b.Fatal(err)
				}
				ip, err := p.InputPeer()
				if err != nil {
					b.Fatal(err)
				}
				sink += ip.ID ^ ip.AccessHash
				if i++; i == len(keys) {
					i = 0
				}
			}
			reportCPU(b, threadCPU, cpu0, "cpu-ns/lookup", 1)
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N), "ns/lookup")
		})
	}
}

// cloneInts returns the keys as they are: an int64 has no separate bytes.
func cloneInts(k []int64) []int64 { return k }

// cloneStrings copies the keys' bytes into one buffer, in order.
func cloneStrings(k []string) []string {
	var buf strings.Builder
	for _, s := range k {
		buf.WriteString(s)
	}
	all := buf.String()
	out := make([]string, len(k))
	off := 0
	for i, s := range k {
		out[i] = all[off : off+len(s)]
		off += len(s)
	}
	return out
}

// BenchmarkPeerByID: PeerByID and the InputPeer of the row (see
// benchLookup), by marked id.
func BenchmarkPeerByID(b *testing.B) {
	benchLookup(b, func(p *Peer) (int64, bool) { return p.ID, true }, cloneInts,
		func(s *File, id int64) (Peer, error) { return s.PeerByID(id) })
}

// BenchmarkPeerByUsername: PeerByUsername (TTL checked) and the InputPeer,
// for every username held by one row only.
func BenchmarkPeerByUsername(b *testing.B) {
	benchLookup(b, func(p *Peer) (string, bool) { return p.Username, p.Username != "" && p.Username != "shared_name" }, cloneStrings,
		func(s *File, u string) (Peer, error) { return s.PeerByUsername(u) })
}

// BenchmarkPeerByPhone: PeerByPhone and the InputPeer, for every phone.
func BenchmarkPeerByPhone(b *testing.B) {
	benchLookup(b, func(p *Peer) (string, bool) { return p.Phone, p.Phone != "" }, cloneStrings,
		func(s *File, ph string) (Peer, error) { return s.PeerByPhone(ph) })
}

// BenchmarkUpdatePeersInMemory stores 100,000 peers in batches of 100, as
// API results arrive, into the in-memory index only: nothing reaches
// SQLite or the disk (BenchmarkUpdatePeersDurable does). The figure to
// read is ns/peer (and peers/s).
func BenchmarkUpdatePeersInMemory(b *testing.B) {
	peers := freshPeers(benchPeers, 7)
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		f, err := NewMemory(nil, Options{})
		if err != nil {
			b.Fatal(err)
		}
		st := &fileless{f.core}
		b.StartTimer()
		for i := 0; i < len(peers); i += 100 {
			if err := st.UpdatePeers(peers[i : i+100]); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		f.Close()
		b.StartTimer()
	}
	perPeer := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchPeers)
	b.ReportMetric(perPeer, "ns/peer")
	b.ReportMetric(1e9/perPeer, "peers/s")
}

// fileless exposes the shared write-back index: the hot path of both
// engines, before any flush.
type fileless struct{ *core }

// BenchmarkUpdatePeersDurable stores 100,000 peers in batches of 100 into
// a new sealed file store and makes them durable every 1,000 peers
// (Flush: the image, sealed, written to a temp file, fsynced, renamed,
// the directory fsynced): 100 saves of a store growing to 100,000 peers.
// Creating the empty store is not timed.
func BenchmarkUpdatePeersDurable(b *testing.B) {
	peers := freshPeers(benchPeers, 11)
	dir := b.TempDir()
	sealer := benchSealer(b)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		b.StopTimer()
		i++
		f, err := CreateFile(filepath.Join(dir, fmt.Sprint(i, ".age")), sealer, Binding{"v", "a", 1}, &Snapshot{Session: testRow(b)}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		for j := 0; j < len(peers); j += 100 {
			if err := f.UpdatePeers(peers[j : j+100]); err != nil {
				b.Fatal(err)
			}
			if (j+100)%1000 == 0 {
				if err := f.Flush(); err != nil {
					b.Fatal(err)
				}
			}
		}
		b.StopTimer()
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
	perPeer := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchPeers)
	b.ReportMetric(perPeer, "ns/peer")
	b.ReportMetric(1e9/perPeer, "peers/s")
	b.ReportMetric(perPeer*benchPeers/1e6, "ms/100k-peers")
}

// BenchmarkSaveSealed saves a 100,000-peer store whose peers did not
// change since its last save (as SetSession, SetMeta and SetUpdateStates
// do): the image, sealed, temp file, fsync, rename, directory fsync. MB/s
// is over the image's plaintext size. Each save is followed by the
// physical limit of the same bytes (limitMeter), timed apart.
func BenchmarkSaveSealed(b *testing.B) {
	s, _ := benchStore(b, Options{}, false)
	b.SetBytes(int64(imageSize(b, s)))
	b.ReportMetric(float64(imageSize(b, s))/1e6, "MB-image")
	b.ReportAllocs()
	lim := newLimitMeter(b, s)
	var save time.Duration
	for b.Loop() {
		t0 := time.Now()
		s.mu.Lock()
		err := s.saveLocked()
		s.mu.Unlock()
		if err != nil {
			b.Fatal(err)
		}
		save += time.Since(t0)
		lim.measure(b)
	}
	b.ReportMetric(float64(save.Nanoseconds())/float64(b.N)/1e6, "ms/save")
	lim.report(b, save)
}

// limitMeter measures the physical limit of a save beside it, in the same
// loop, so that the two see the same load: after each save of s, the
// image it just wrote (decrypted, untimed) is sealed again by the same
// sealer and written durably (atomicfile.WriteFile) to another file, timed.
type limitMeter struct {
	s     *File
	path  string
	total time.Duration
}

func newLimitMeter(b *testing.B, s *File) *limitMeter {
	return &limitMeter{s: s, path: filepath.Join(b.TempDir(), "limit.age")}
}

func (m *limitMeter) measure(b *testing.B) {
	b.StopTimer()
	img, err := m.s.sealer.Open(mustRead(b, m.s.Path()))
	if err != nil {
		b.Fatal(err)
	}
	b.StartTimer()
	t0 := time.Now()
	sealed, err := m.s.sealer.Seal(img)
	if err != nil {
		b.Fatal(err)
	}
	if err := atomicfile.WriteFile(m.path, sealed); err != nil {
		b.Fatal(err)
	}
	m.total += time.Since(t0)
}

// report gives the limit per save and the saves' time over it.
func (m *limitMeter) report(b *testing.B, save time.Duration) {
	b.ReportMetric(float64(m.total.Nanoseconds())/float64(b.N)/1e6, "ms/limit")
	if m.total > 0 {
		b.ReportMetric(float64(save)/float64(m.total), "x-limit")
	}
}

// imageSize is the size of the image s saves now.
func imageSize(b *testing.B, s *File) int {
	snap, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	img, err := encodeImage(snap, &s.binding)
	if err != nil {
		b.Fatal(err)
	}
	return len(img)
}

// changeBatch returns 100 peers to write into a store of peers: 80 of its
// rows again (restamped: the clock has moved on by more than
// RefreshAfter), 10 of its rows under a new username, and 10 new peers.
// next makes the new peers' ids unique across calls.
func changeBatch(r *rand.Rand, peers []Peer, next *int64) []Peer {
	out := make([]Peer, 0, 100)
	for len(out) < 90 {
		p := peers[r.IntN(len(peers))]
		if len(out) >= 80 && p.Type != PeerGroup {
			p.Username = fmt.Sprintf("renamed_%x", r.Uint64())[:8+r.IntN(10)]
		}
		out = append(out, p)
	}
	for len(out) < 100 {
		*next++
		out = append(out, Peer{ID: 1<<41 + *next, AccessHash: int64(r.Uint64()), Type: PeerUser, Username: fmt.Sprintf("new_%d", *next), Phone: fmt.Sprintf("1666%07d", *next)})
	}
	return out
}

// BenchmarkUpdateAndSaveSealed is what making peer changes durable costs,
// updates included:
//
//   - 100-changed: a store of 100,000 peers, saved; each iteration writes
//     100 peers (changeBatch: 80 rows restamped, 10 renamed, 10 new) and
//     saves (Flush) — the figure to hold against BenchmarkPhysicalLimit.
//   - 100k-new: a new empty store; each iteration stores 100,000 new
//     peers in batches of 100 and saves once (Close). Creating the empty
//     store is not timed.
func BenchmarkUpdateAndSaveSealed(b *testing.B) {
	b.Run("100-changed", func(b *testing.B) {
		clock := newBenchClock()
		s, peers := benchStore(b, Options{Now: clock.now}, false)
		r := rand.New(rand.NewPCG(5, 5))
		var next int64
		b.SetBytes(int64(imageSize(b, s)))
		b.ReportAllocs()
		patched := patchesDone.Load()
		lim := newLimitMeter(b, s)
		var save time.Duration
		cpu0 := processCPU()
		for b.Loop() {
			clock.advance(2 * RefreshAfter)
			t0 := time.Now()
			if err := s.UpdatePeers(changeBatch(r, peers, &next)); err != nil {
				b.Fatal(err)
			}
			if err := s.Flush(); err != nil {
				b.Fatal(err)
			}
			save += time.Since(t0)
			lim.measure(b)
		}
		reportCPU(b, processCPU, cpu0, "cpu-ms/save+limit", 1e6)
		b.ReportMetric(float64(save.Nanoseconds())/float64(b.N)/1e6, "ms/save")
		lim.report(b, save)
		b.ReportMetric(float64(patchesDone.Load()-patched)/float64(b.N), "patched/save")
	})
	b.Run("100k-new", func(b *testing.B) {
		peers := freshPeers(benchPeers, 11)
		dir := b.TempDir()
		sealer := benchSealer(b)
		b.ReportAllocs()
		i := 0
		var cpu int64
		for b.Loop() {
			b.StopTimer()
			i++
			f, err := CreateFile(filepath.Join(dir, fmt.Sprint(i, ".age")), sealer, Binding{"v", "a", 1}, &Snapshot{Session: testRow(b)}, Options{})
			if err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			cpu0 := processCPU()
			for j := 0; j < len(peers); j += 100 {
				if err := f.UpdatePeers(peers[j : j+100]); err != nil {
					b.Fatal(err)
				}
			}
			if err := f.Close(); err != nil {
				b.Fatal(err)
			}
			cpu += processCPU() - cpu0
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/100k-peers")
		if cpu > 0 {
			b.ReportMetric(float64(cpu)/float64(b.N)/1e6, "cpu-ms/100k-peers")
		}
	})
}

// BenchmarkPhysicalLimit is the yardstick of the saves: the image of the
// 100,000-peer store (the bytes BenchmarkSaveSealed writes), sealed by the
// same sealer and written durably (atomicfile.WriteFile: temp file, write,
// fsync, rename, directory fsync), with nothing else: no image to build
// or patch. A save cannot be faster than this.
func BenchmarkPhysicalLimit(b *testing.B) {
	s, _ := benchStore(b, Options{}, false)
	snap, err := s.Snapshot()
	if err != nil {
		b.Fatal(err)
	}
	img, err := encodeImage(snap, &s.binding)
	if err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(b.TempDir(), "limit.age")
	b.SetBytes(int64(len(img)))
	b.ReportMetric(float64(len(img))/1e6, "MB-image")
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		sealed, err := s.sealer.Seal(img)
		if err != nil {
			b.Fatal(err)
		}
		if err := atomicfile.WriteFile(path, sealed); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, processCPU, cpu0, "cpu-ms/save", 1e6)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e6, "ms/save")
}

// BenchmarkOpenSealed opens that file: read, decrypt, check the binding,
// and read the session row; the peers are read on first use, which
// BenchmarkOpenSealed/peers includes.
func BenchmarkOpenSealed(b *testing.B) {
	s, _ := benchStore(b, Options{}, false)
	sealer := s.sealer
	s.Close()
	size := int64(len(mustRead(b, s.Path())))
	for _, withPeers := range []bool{false, true} {
		b.Run(map[bool]string{false: "head", true: "peers"}[withPeers], func(b *testing.B) {
			b.SetBytes(size)
			b.ReportAllocs()
			for b.Loop() {
				f, err := OpenFile(s.Path(), sealer, Binding{"v", "a", 0}, Options{})
				if err != nil {
					b.Fatal(err)
				}
				if withPeers {
					if n, err := f.PeerCount(); err != nil || n != benchPeers {
						b.Fatal(n, err)
					}
				}
				f.Close()
			}
		})
	}
}

// BenchmarkRawChaCha20Poly1305 is the yardstick of sealing: ChaCha20-
// Poly1305 over 10 MiB in age's 64 KiB chunks, into a fresh output buffer
// each time (as a seal must return one), without age's header.
func BenchmarkRawChaCha20Poly1305(b *testing.B) {
	buf := make([]byte, 10<<20)
	a, _ := chacha20poly1305.New(make([]byte, 32))
	nonce := make([]byte, 12)
	b.SetBytes(int64(len(buf)))
	for b.Loop() {
		out := make([]byte, 0, len(buf)+(len(buf)/(64<<10)+1)*16)
		for off := 0; off < len(buf); off += 64 << 10 {
			out = a.Seal(out, nonce, buf[off:min(off+64<<10, len(buf))], nil)
		}
		sink += int64(out[len(out)-1])
	}
}

// BenchmarkEncodeImage builds the whole SQLite image of a 100,000-peer
// store, as a save does when it cannot patch the last image.
func BenchmarkEncodeImage(b *testing.B) {
	snap := &Snapshot{Session: testRow(b), Peers: randomPeers(benchPeers, 42)}
	img, _ := encodeImage(snap, &Binding{"v", "a", 1})
	b.SetBytes(int64(len(img)))
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		if _, err := encodeImage(snap, &Binding{"v", "a", 1}); err != nil {
			b.Fatal(err)
		}
	}
	reportCPU(b, processCPU, cpu0, "cpu-ms/op", 1e6)
}

func mustRead(b *testing.B, path string) []byte {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	return data
}

// reportCPU reports the CPU time (clock: threadCPU or processCPU) since
// cpu0 per iteration, divided by per, when the OS gives it: on a machine
// shared with other work it is the closer estimate of a quiet machine's
// figure (it leaves out waiting for a core, not the caches others evict).
// processCPU counts every thread, the garbage collector's included, so it
// can exceed the wall time.
func reportCPU(b *testing.B, clock func() int64, cpu0 int64, unit string, per float64) {
	if cpu0 == 0 {
		return
	}
	b.ReportMetric(float64(clock()-cpu0)/float64(b.N)/per, unit)
}
