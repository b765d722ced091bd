package localapi

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto"
)

func TestFloodWait(t *testing.T) {
	t.Parallel()
	p := startAPIPool(t, 1, 0, mtproto.PoolOptions{})
	p.waitSettled(t)
	if _, err := p.srv.AddChannel("News", "newschan", true); err != nil {
		t.Fatal(err)
	}
	// Only the API's peer lookups call contacts.resolveUsername (gotd calls
	// users.getUsers on its own after a connect).
	method := uint32(tdtg.ContactsResolveUsernameRequestTypeID)
	before := p.srv.Stats().Calls[method]
	m0 := p.scrape(t)

	// Waited out: the call succeeds on the retry, a second later.
	p.srv.FloodWait(method, 1, 1)
	start := time.Now()
	if code, body := p.get(t, "/v1/accounts/a0/peers/newschan"); code != http.StatusOK {
		t.Fatalf("me during FLOOD_WAIT_1: %d %s", code, body)
	}
	if d := time.Since(start); d < time.Second {
		t.Errorf("answered after %s, before the second the server asked for", d)
	}
	if got := p.srv.Stats().Calls[method] - before; got != 2 {
		t.Errorf("server saw %d contacts.resolveUsername calls, want 2 (refused, retried)", got)
	}
	m := p.scrape(t)
	for key, want := range map[string]float64{
		"tgvault_flood_waits_total":                   1,
		"tgvault_flood_wait_seconds_total":            1,
		`tgvault_rpc_errors_total{type="FLOOD_WAIT"}`: 1,
	} {
		if got := m[key] - m0[key]; got != want {
			t.Errorf("%s rose by %v, want %v", key, got, want)
		}
	}

	// Longer than MaxFloodWait: refused at once with 429 and Retry-After.
	p.srv.FloodWait(method, 1, 3600)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, p.url+"/v1/accounts/a0/peers/other1", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "3600" {
		t.Errorf("FLOOD_WAIT_3600: %d, Retry-After %q; want 429, 3600", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	var fw *mtproto.FloodWaitError
	err = p.pool.Do(t.Context(), "a0", func(ctx context.Context, c *mtproto.Client) error {
		p.srv.FloodWait(method, 1, 3600)
		_, err := c.ResolvePeer(ctx, "other2")
		return err
	})
	if !errors.As(err, &fw) || !errors.Is(err, mtproto.ErrFloodWait) || fw.Wait != time.Hour {
		t.Errorf("a lookup during FLOOD_WAIT_3600: %v, want a *mtproto.FloodWaitError of 1h", err)
	}

	// A context that ends during the wait ends the call.
	p.srv.FloodWait(method, 1, 30)
	ctx, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = p.pool.Do(ctx, "a0", func(ctx context.Context, c *mtproto.Client) error {
		_, err := c.ResolvePeer(ctx, "other3")
		return err
	})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("a lookup with a short deadline during FLOOD_WAIT_30: %v, want DeadlineExceeded", err)
	}
	if got := p.scrape(t)["tgvault_flood_waits_total"]; got != m["tgvault_flood_waits_total"] {
		t.Errorf("flood waits counted %v, want %v: the abandoned and refused waits are not waits", got, m["tgvault_flood_waits_total"])
	}
}
