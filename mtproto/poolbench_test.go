package mtproto

import (
	"bufio"
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// The pool benchmarks connect N accounts with stored keys to a dev server
// running in a child process (so that the server's connections, goroutines
// and memory are not counted), and measure, once all are online: the time
// it took, RSS and goroutines per account, idle CPU, and the key exchanges
// the server saw (must be 0). BenchmarkPoolOnline runs tgvault's pool over
// sealed file stores, as `tgvault run` does; BenchmarkGotdOnline runs N
// plain gotd clients, each on its own gotd FileStorage, for comparison.
//
//	go test -run '^$' -bench 'Online' -benchtime 1x -timeout 30m ./mtproto/
//	TGVAULT_BENCH_ACCOUNTS=100,1000 go test ...   (the counts; default 100,1000,10000)
//	TGVAULT_BENCH_IDLE=10s go test ...            (the idle window; default 5s)

// envDevServerProcess makes the test binary a dev server on the state
// directory it names (see TestDevServerProcess).
const envDevServerProcess = "TGVAULT_TEST_DEVSERVER_DIR"

// TestDevServerProcess is not a test: started by the pool benchmarks with
// envDevServerProcess set, it serves the dev server on that state
// directory, writes its address to "addr" there and its counters to
// "stats.json" every 100 ms, and exits when its stdin closes.
func TestDevServerProcess(t *testing.T) {
	dir := os.Getenv(envDevServerProcess)
	if dir == "" {
		t.Skip("helper process only")
	}
	srv, err := devserver.Open(devserver.Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	writeStats := func() {
		b, _ := json.Marshal(srv.Stats())
		_ = atomicfile.WriteFile(filepath.Join(dir, "stats.json"), b)
	}
	writeStats()
	if err := atomicfile.WriteFile(filepath.Join(dir, "addr"), []byte(srv.Addr())); err != nil {
		t.Fatal(err)
	}
	eof := make(chan struct{})
	go func() { _, _ = bufio.NewReader(os.Stdin).ReadString(0); close(eof) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			writeStats()
		case <-eof:
			writeStats()
			cancel()
			_ = srv.Close()
			<-done
			return
		}
	}
}

// childServer is a dev server in a child process with seeded accounts.
type childServer struct {
	dir   string
	opts  Options
	seeds []devserver.Seed
}

func (s *childServer) stats(b *testing.B) devserver.Stats {
	b.Helper()
	var st devserver.Stats
	raw, err := os.ReadFile(filepath.Join(s.dir, "stats.json"))
	if err == nil {
		err = json.Unmarshal(raw, &st)
	}
	if err != nil {
		b.Fatalf("dev server stats: %v", err)
	}
	return st
}

func startChildServer(b *testing.B, accounts int) *childServer {
	b.Helper()
	dir := b.TempDir()
	seedSrv, err := devserver.Open(devserver.Options{Dir: dir})
	if err != nil {
		b.Fatal(err)
	}
	seeds, err := seedSrv.SeedAccounts(accounts)
	if err != nil {
		b.Fatal(err)
	}
	dc := seedSrv.DC()
	if err := seedSrv.Close(); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestDevServerProcess$", "-test.count=1", "-test.timeout=0")
	cmd.Env = append(os.Environ(), envDevServerProcess+"="+dir)
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = stdin.Close(); _ = cmd.Wait() })
	var addr []byte
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(20 * time.Millisecond) {
		if addr, err = os.ReadFile(filepath.Join(dir, "addr")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			b.Fatal("the dev server process did not start")
		}
	}
	pemData, err := os.ReadFile(filepath.Join(dir, devserver.PublicKeyFile))
	if err != nil {
		b.Fatal(err)
	}
	block, _ := pem.Decode(pemData)
	if block == nil {
		b.Fatal("dev server public key: no PEM block")
	}
	pub, err := x509.ParsePKCS1PublicKey(block.Bytes)
	if err != nil {
		b.Fatal(err)
	}
	return &childServer{
		dir:   dir,
		seeds: seeds,
		opts: Options{
			Server:         Server{DC: dc, Addr: string(addr), PublicKeys: []*rsa.PublicKey{pub}},
			APIID:          17349,
			APIHash:        "344583e45741c457fe1862106095a5eb",
			ConnectTimeout: time.Minute,
		},
	}
}

func benchAccountCounts(b *testing.B) []int {
	spec := os.Getenv("TGVAULT_BENCH_ACCOUNTS")
	if spec == "" {
		return []int{100, 1000, 10000}
	}
	var out []int
	for _, f := range strings.Split(spec, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			b.Fatalf("TGVAULT_BENCH_ACCOUNTS: bad count %q", f)
		}
		out = append(out, n)
	}
	return out
}

func benchIdle(b *testing.B) time.Duration {
	if s := os.Getenv("TGVAULT_BENCH_IDLE"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil {
			b.Fatalf("TGVAULT_BENCH_IDLE: %v", err)
		}
		return d
	}
	return 5 * time.Second
}

// footprint is what the process holds at one moment, after a full GC.
type footprint struct {
	rss        int64 // bytes; the Go runtime's Sys where /proc is missing
	goroutines int
}

func measureFootprint() footprint {
	runtime.GC()
	debug.FreeOSMemory()
	f := footprint{goroutines: runtime.NumGoroutine()}
	if raw, err := os.ReadFile("/proc/self/status"); err == nil {
		for _, l := range strings.Split(string(raw), "\n") {
			if rest, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(rest), " kB"), 10, 64)
				f.rss = kb << 10
			}
		}
	}
	if f.rss == 0 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		f.rss = int64(ms.Sys)
	}
	return f
}

// reportOnline measures and reports, once n accounts are online: the time
// since start, RSS and goroutines per account over base, CPU while idle,
// and the server's key exchanges since exchanges0.
func reportOnline(b *testing.B, srv *childServer, n int, start time.Time, base footprint, exchanges0 int64) {
	b.Helper()
	online := time.Since(start)
	now := measureFootprint()
	idle := benchIdle(b)
	cpu0 := mttest.ProcessCPU(b)
	time.Sleep(idle)
	cpu := mttest.ProcessCPU(b) - cpu0
	b.ReportMetric(online.Seconds(), "s-online")
	b.ReportMetric(float64(n)/online.Seconds(), "accounts/s")
	b.ReportMetric(float64(now.rss-base.rss)/1024/float64(n), "KiB-RSS/account")
	b.ReportMetric(float64(now.goroutines-base.goroutines)/float64(n), "goroutines/account")
	b.ReportMetric(100*cpu.Seconds()/idle.Seconds()*1000/float64(n), "idle-%core/1k")
	b.ReportMetric(float64(srv.stats(b).KeyExchanges-exchanges0), "key-exchanges")
}

// BenchmarkPoolOnline: N accounts with stored keys in sealed file stores,
// connected by one Pool, as `tgvault run` does.
func BenchmarkPoolOnline(b *testing.B) {
	for _, n := range benchAccountCounts(b) {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			srv := startChildServer(b, n)
			id, err := crypto.GenerateIdentity()
			if err != nil {
				b.Fatal(err)
			}
			sealer, err := crypto.NewSealer([]*crypto.Identity{id}, []*crypto.Recipient{id.Recipient()})
			if err != nil {
				b.Fatal(err)
			}
			dir := b.TempDir()
			bindings := make([]storage.Binding, n)
			for i, s := range srv.seeds {
				bindings[i] = storage.Binding{VaultID: "bench", AccountID: strconv.Itoa(i), Revision: 1}
				snap := &storage.Snapshot{Session: sessionRowOf(s)}
				f, err := storage.CreateFile(filepath.Join(dir, strconv.Itoa(i)+".age"), sealer, bindings[i], snap, storage.Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := f.Close(); err != nil {
					b.Fatal(err)
				}
			}
			// A first, unmeasured round is the first connect after import:
			// it stores each account's address and config once. The
			// measured rounds are what every later start of run does.
			round := func(report bool) {
				base := measureFootprint()
				exchanges0 := srv.stats(b).KeyExchanges
				start := time.Now()
				var ready sync.WaitGroup
				ready.Add(n)
				var failed atomic.Value
				pool := NewPool(PoolOptions{Client: srv.opts, OnStatus: func(name string, s Status, err error) {
					switch {
					case s == StatusReady:
						ready.Done()
					case s.Final() && s != StatusStopped:
						failed.Store(fmt.Errorf("%s: %v: %v", name, s, err))
					}
				}})
				stores := make([]*storage.File, n)
				for i := range n {
					f, err := storage.OpenFile(filepath.Join(dir, strconv.Itoa(i)+".age"), sealer, bindings[i], storage.Options{})
					if err != nil {
						b.Fatal(err)
					}
					stores[i] = f
					if err := pool.Add(strconv.Itoa(i), f); err != nil {
						b.Fatal(err)
					}
				}
				opened := time.Since(start)
				ctx, cancel := context.WithCancel(b.Context())
				done := make(chan error, 1)
				go func() { done <- pool.Run(ctx) }()
				waitAll(b, &ready, &failed)
				if report {
					b.ReportMetric(opened.Seconds(), "s-open")
					reportOnline(b, srv, n, start, base, exchanges0)
				}
				cancel()
				if err := <-done; err != nil && !errors.Is(err, context.Canceled) {
					b.Fatal(err)
				}
				for i, f := range stores {
					if err := f.Close(); err != nil {
						b.Fatal(err)
					}
					bindings[i].Revision = f.Revision()
				}
			}
			round(false)
			for b.Loop() {
				round(true)
			}
		})
	}
}

// BenchmarkGotdOnline: N plain gotd clients, each on its own gotd
// FileStorage holding the same stored keys, each making the same first
// call as the pool (users.getUsers of itself).
func BenchmarkGotdOnline(b *testing.B) {
	for _, n := range benchAccountCounts(b) {
		b.Run(fmt.Sprintf("accounts=%d", n), func(b *testing.B) {
			srv := startChildServer(b, n)
			dir := b.TempDir()
			host, portStr, _ := net.SplitHostPort(srv.opts.Server.Addr)
			port, _ := strconv.Atoi(portStr)
			for i, s := range srv.seeds {
				key := tdcrypto.Key{}
				copy(key[:], s.Key.Bytes())
				withID := key.WithID()
				data := &tdsession.Data{DC: s.DC, Addr: srv.opts.Server.Addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}
				fs := &tdsession.FileStorage{Path: filepath.Join(dir, strconv.Itoa(i)+".json")}
				if err := (&tdsession.Loader{Storage: fs}).Save(b.Context(), data); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				base := measureFootprint()
				exchanges0 := srv.stats(b).KeyExchanges
				start := time.Now()
				ctx, cancel := context.WithCancel(b.Context())
				var ready, stopped sync.WaitGroup
				ready.Add(n)
				var failed atomic.Value
				for i := range n {
					client := tdtelegram.NewClient(int(srv.opts.APIID), srv.opts.APIHash, tdtelegram.Options{
						DC:             srv.opts.Server.DC,
						SessionStorage: &tdsession.FileStorage{Path: filepath.Join(dir, strconv.Itoa(i)+".json")},
						NoUpdates:      true,
						PublicKeys:     []tdtelegram.PublicKey{{RSA: srv.opts.Server.PublicKeys[0]}},
						DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: srv.opts.Server.DC, IPAddress: host, Port: port}}},
						Resolver:       tddcs.Plain(tddcs.PlainOptions{}),
					})
					stopped.Add(1)
					go func() {
						defer stopped.Done()
						err := client.Run(ctx, func(ctx context.Context) error {
							if _, err := client.Self(ctx); err != nil {
								return err
							}
							ready.Done()
							<-ctx.Done()
							return nil
						})
						if err != nil && ctx.Err() == nil {
							failed.Store(err)
						}
					}()
				}
				waitAll(b, &ready, &failed)
				reportOnline(b, srv, n, start, base, exchanges0)
				cancel()
				stopped.Wait()
			}
		})
	}
}

// waitAll waits until ready is done, failing b on the first failure stored
// in failed or after ten minutes.
func waitAll(b *testing.B, ready *sync.WaitGroup, failed *atomic.Value) {
	b.Helper()
	all := make(chan struct{})
	go func() { ready.Wait(); close(all) }()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.After(10 * time.Minute)
	for {
		select {
		case <-all:
			return
		case <-tick.C:
			if err, _ := failed.Load().(error); err != nil {
				b.Fatalf("an account failed: %v", err)
			}
		case <-deadline:
			b.Fatal("not all accounts came online within 10 minutes")
		}
	}
}

// sessionRowOf is the session row of a seeded account.
func sessionRowOf(s devserver.Seed) storage.SessionRow {
	return storage.SessionRow{
		DCID:     s.DC,
		APIID:    sessionstring.Some[int32](17349),
		TestMode: sessionstring.Some(false),
		AuthKey:  s.Key,
		UserID:   sessionstring.Some(s.UserID),
		IsBot:    sessionstring.Some(false),
	}
}
