package relay

import (
	"context"
	"crypto/rand"
	"net"
	"sync"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"
)

// TestRelayBadClients: a client that sends garbage, one that floods calls
// and one that hangs up in the middle of calls leave the account's other
// relay session working, and leave nothing of theirs behind.
func TestRelayBadClients(t *testing.T) {
	t.Parallel()
	f := newRelayFixture(t)
	ctx := t.Context()
	good, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	bad, err := f.relay.Mint(ctx, MintRequest{Account: "alice"})
	if err != nil {
		t.Fatal(err)
	}
	dial := devDial(map[int]string{good.DC: good.addr()})
	client, err := dialUpstream(ctx, upstreamConfig{DC: good.DC, Key: good.Key, Dial: dial, Timeout: testTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	call := func(u *upstream, ctx context.Context) error {
		_, err := u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})))
		return err
	}
	if err := call(client, ctx); err != nil {
		t.Fatal(err)
	}

	// Garbage: the relay closes that connection.
	for range 3 {
		nc, err := net.Dial("tcp", good.addr())
		if err != nil {
			t.Fatal(err)
		}
		junk := make([]byte, 4096)
		_, _ = rand.Read(junk)
		_, _ = nc.Write(junk)
		_ = nc.SetReadDeadline(time.Now().Add(testTimeout()))
		if _, err := nc.Read(make([]byte, 1024)); err == nil {
			// A transport error code is allowed; then it must close.
			_, err = nc.Read(make([]byte, 1024))
			if err == nil {
				t.Error("garbage: the relay kept answering")
			}
		}
		_ = nc.Close()
	}

	// A flood on the bad session while the good one calls.
	flooder, err := dialUpstream(ctx, upstreamConfig{DC: bad.DC, Key: bad.Key, Dial: dial, Timeout: testTimeout()})
	if err != nil {
		t.Fatal(err)
	}
	floodCtx, stopFlood := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for range 4 * maxInFlight {
		wg.Go(func() {
			for floodCtx.Err() == nil {
				_ = call(flooder, floodCtx)
			}
		})
	}
	for i := range 20 {
		cctx, cancel := context.WithTimeout(ctx, testTimeout())
		err := call(client, cctx)
		cancel()
		if err != nil {
			t.Fatalf("good call %d during the flood: %v", i, err)
		}
	}
	// Hang up in the middle of the flood's calls.
	flooder.Close()
	stopFlood()
	wg.Wait()
	if err := call(client, ctx); err != nil {
		t.Fatalf("good call after the flooder hung up: %v", err)
	}
	// The flooder's connection is gone from the relay.
	for {
		var conns int
		for _, s := range f.relay.Sessions() {
			if s.ID == bad.ID {
				conns = s.Connections
			}
		}
		if conns == 0 {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("the flooder's connection outlived it (%d)", conns)
		case <-time.After(20 * time.Millisecond):
		}
	}
	if st := f.srv.Stats(); st.KeyExchanges != 0 {
		t.Errorf("%d key exchanges at the dev server, want 0", st.KeyExchanges)
	}
}
