package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/storage"
)

// apiPool is a running pool of seeded dev-server accounts behind the local
// API, served over HTTP on loopback for the test.
type apiPool struct {
	pool   *mtproto.Pool
	srv    *devserver.Server
	seeds  []devserver.Seed
	stores []*storage.Memory
	url    string
}

// startAPIPool seeds n accounts named a0, a1, ... (the revoked ones
// revoked on the server first), runs a pool over them and serves
// APIHandler until the test ends.
func startAPIPool(t *testing.T, n int, revoked int, opts mtproto.PoolOptions) *apiPool {
	t.Helper()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(n + revoked)
	if err != nil {
		t.Fatal(err)
	}
	opts.Client = serverOptions(srv)
	pool := mtproto.NewPool(opts)
	var stores []*storage.Memory
	for i, s := range seeds {
		m := mttest.NewMemory(t)
		stores = append(stores, m)
		mttest.SeedStore(t, m, s.Key, s.DC, s.UserID)
		if i >= n {
			if err := srv.RevokeKey(s.Key.ID()); err != nil {
				t.Fatal(err)
			}
		}
		if err := pool.Add(fmt.Sprint("a", i), m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = pool.Run(ctx)
	}()
	hs := httptest.NewServer(Handler(pool))
	t.Cleanup(func() {
		hs.CloseClientConnections()
		hs.Close()
		cancel()
		<-done
	})
	return &apiPool{pool: pool, srv: srv, seeds: seeds, stores: stores, url: hs.URL}
}

// waitSettled waits until every account is ready or final.
func (p *apiPool) waitSettled(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*mttest.ConnectTimeout())
	defer cancel()
	for _, name := range p.pool.Names() {
		err := p.pool.Do(ctx, name, func(context.Context, *mtproto.Client) error { return nil })
		if errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("%s did not settle", name)
		}
	}
}

func (p *apiPool) get(t *testing.T, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.url+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// scrape reads /metrics into "name{labels}" → value, checking that every
// sample has a TYPE line before it.
func (p *apiPool) scrape(t *testing.T) map[string]float64 {
	t.Helper()
	code, body := p.get(t, "/metrics")
	if code != http.StatusOK {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	return mttest.ParseMetrics(t, body)
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	p := startAPIPool(t, 2, 1, mtproto.PoolOptions{})
	p.waitSettled(t)
	m := p.scrape(t)
	for i := mtproto.Status(0); !strings.HasPrefix(i.String(), "status("); i++ {
		st := i.String()
		if _, ok := m[`tgvault_accounts{state="`+st+`"}`]; !ok {
			t.Errorf("state %s not listed", st)
		}
	}
	for key, want := range map[string]float64{
		`tgvault_accounts{state="ready"}`:        2,
		`tgvault_accounts{state="unauthorized"}`: 1,
		`tgvault_accounts{state="waiting"}`:      0,
	} {
		if m[key] != want {
			t.Errorf("%s = %v, want %v", key, m[key], want)
		}
	}
	// Two connected clients hold gotd's goroutines (11 each when idle).
	if got := m["go_goroutines"]; got < 20 {
		t.Errorf("go_goroutines = %v, want the pool's clients counted", got)
	}
	if got := m["tgvault_connects_total"]; got != 2 {
		t.Errorf("connects = %v, want 2", got)
	}
	if got := m["tgvault_connect_attempts_total"]; got < 3 {
		t.Errorf("connect attempts = %v, want >= 3", got)
	}
	if got := m[`tgvault_rpc_errors_total{type="AUTH_KEY_UNREGISTERED"}`]; got < 1 {
		t.Errorf("AUTH_KEY_UNREGISTERED errors = %v, want >= 1", got)
	}
	if code, body := p.get(t, "/v1/accounts/a0/me"); code != http.StatusOK {
		t.Fatalf("me: %d %s", code, body)
	}
	m2 := p.scrape(t)
	if m2[`tgvault_rpc_total{outcome="ok"}`] <= m[`tgvault_rpc_total{outcome="ok"}`] {
		t.Errorf("rpc ok did not rise after /me: %v then %v", m[`tgvault_rpc_total{outcome="ok"}`], m2[`tgvault_rpc_total{outcome="ok"}`])
	}
}
