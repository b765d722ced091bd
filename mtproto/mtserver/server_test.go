package mtserver_test

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"errors"
	"net"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
	tdtransport "github.com/gotd/td/transport"

	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// memKeys keeps keys in memory.
type memKeys struct {
	mu   sync.Mutex
	keys map[sessionstring.KeyID]sessionstring.AuthKey
}

func (m *memKeys) AuthKey(id sessionstring.KeyID) (sessionstring.AuthKey, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	k, ok := m.keys[id]
	return k, ok
}

func (m *memKeys) AddAuthKey(k sessionstring.AuthKey) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.keys[k.ID()] = k
	return nil
}

func (m *memKeys) forget(id sessionstring.KeyID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.keys, id)
}

// testKey is one RSA key for every test of the package (generating one
// takes a while under the race detector).
var testKey = sync.OnceValue(func() *rsa.PrivateKey {
	k, err := rsa.GenerateKey(rand.Reader, tdcrypto.RSAKeyBits)
	if err != nil {
		panic(err)
	}
	return k
})

// seen is what the test handler saw of one RPC.
type seen struct {
	typeID     uint32
	layer      int
	init       *mtserver.InitConnection
	transport  mtserver.Transport
	obfuscated bool
	obfDC      int
	key        sessionstring.KeyID
}

// fixture is a server on loopback with a small handler: help.getConfig
// names the server itself, users.getUsers answers a user later from
// another goroutine (as a relay would), updates.getState fails with an
// rpc_error.
type fixture struct {
	srv  *mtserver.Server
	keys *memKeys
	addr string

	mu   sync.Mutex
	seen []seen
}

const testDC = 2

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{keys: &memKeys{keys: map[sessionstring.KeyID]sessionstring.AuthKey{}}}
	srv, err := mtserver.New(mtserver.Config{DC: testDC, PrivateKey: testKey(), Keys: f.keys, Handler: mtserver.HandlerFunc(f.serve)})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
		if n := srv.Stats().Open; n != 0 {
			t.Errorf("%d connections open after Serve returned", n)
		}
	})
	return f
}

func (f *fixture) serve(ctx context.Context, req *mtserver.Request) error {
	f.mu.Lock()
	f.seen = append(f.seen, seen{
		typeID: req.TypeID(), layer: req.Layer, init: req.Init, key: req.KeyID,
		transport: req.Conn.Transport(), obfuscated: req.Conn.Obfuscated(), obfDC: req.Conn.ObfuscatedDC(),
	})
	f.mu.Unlock()
	b := &tdbin.Buffer{Buf: req.Body}
	switch req.TypeID() {
	case tdtg.HelpGetConfigRequestTypeID:
		host, port, _ := net.SplitHostPort(f.addr)
		p, _ := strconv.Atoi(port)
		return req.Encode(ctx, &tdtg.Config{ThisDC: testDC, DCOptions: []tdtg.DCOption{{ID: testDC, IPAddress: host, Port: p}}})
	case tdtg.UsersGetUsersRequestTypeID:
		var r tdtg.UsersGetUsersRequest
		if err := r.Decode(b); err != nil {
			return err
		}
		go func() {
			time.Sleep(10 * time.Millisecond)
			var out tdbin.Buffer
			out.PutVectorHeader(1)
			_ = (&tdtg.User{ID: 42, FirstName: "later"}).Encode(&out)
			_ = req.Result(context.Background(), out.Buf)
		}()
		return nil
	}
	return req.Error(ctx, 400, "METHOD_UNKNOWN_"+strconv.FormatUint(uint64(req.TypeID()), 16))
}

func (f *fixture) seenCopy() []seen {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]seen(nil), f.seen...)
}

// gotdClient runs fn on a gotd client of the fixture's server.
func (f *fixture) gotdClient(t *testing.T, proto tdtransport.Protocol, obfuscated bool, store tdtelegram.SessionStorage, fn func(context.Context, *tdtg.Client) error) error {
	t.Helper()
	host, port, _ := net.SplitHostPort(f.addr)
	p, _ := strconv.Atoi(port)
	if store == nil {
		store = new(tdsession.StorageMemory)
	}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             testDC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: testDC, IPAddress: host, Port: p}}},
		PublicKeys:     []tdtelegram.PublicKey{{RSA: &testKey().PublicKey}},
		Resolver:       tddcs.Plain(tddcs.PlainOptions{Protocol: proto, Obfuscated: obfuscated}),
		SessionStorage: store,
		NoUpdates:      true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	return c.Run(ctx, func(ctx context.Context) error { return fn(ctx, c.API()) })
}

// TestTransportsGotd connects gotd over every transport it speaks, plain
// and inside obfuscated2: each makes a key, announces its layer and
// initConnection, gets an answer made at once, one made later from another
// goroutine, and an rpc_error.
func TestTransportsGotd(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name       string
		proto      tdtransport.Protocol
		obfuscated bool
		want       mtserver.Transport
	}{
		{"abridged", tdtransport.Abridged, false, mtserver.Abridged},
		{"intermediate", tdtransport.Intermediate, false, mtserver.Intermediate},
		{"padded", tdtransport.PaddedIntermediate, false, mtserver.PaddedIntermediate},
		{"full", tdtransport.Full, false, mtserver.Full},
		{"obfuscated-abridged", tdtransport.Abridged, true, mtserver.Abridged},
		{"obfuscated-intermediate", tdtransport.Intermediate, true, mtserver.Intermediate},
		{"obfuscated-padded", tdtransport.PaddedIntermediate, true, mtserver.PaddedIntermediate},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFixture(t)
			err := f.gotdClient(t, tc.proto, tc.obfuscated, nil, func(ctx context.Context, api *tdtg.Client) error {
				users, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
				if err != nil {
					return err
				}
				if len(users) != 1 || users[0].(*tdtg.User).FirstName != "later" {
					t.Errorf("users.getUsers = %v", users)
				}
				_, err = api.UpdatesGetState(ctx)
				if !tdtgerr.Is(err, "METHOD_UNKNOWN_edd4882a") {
					t.Errorf("updates.getState: %v, want the handler's rpc_error", err)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			got := f.seenCopy()
			if len(got) < 3 {
				t.Fatalf("handler saw %d RPCs", len(got))
			}
			first := got[0]
			if first.typeID != tdtg.HelpGetConfigRequestTypeID || first.layer != tdtg.Layer || first.init == nil || first.init.APIID != 17349 {
				t.Errorf("first RPC: type %x layer %d init %+v, want help.getConfig in layer %d with initConnection", first.typeID, first.layer, first.init, tdtg.Layer)
			}
			for _, s := range got {
				if s.transport != tc.want || s.obfuscated != tc.obfuscated {
					t.Errorf("transport %s obfuscated %v, want %s %v", s.transport, s.obfuscated, tc.want, tc.obfuscated)
				}
				if tc.obfuscated && s.obfDC != testDC {
					t.Errorf("obfuscated2 DC %d, want %d", s.obfDC, testDC)
				}
				if s.layer != tdtg.Layer {
					t.Errorf("RPC %x: layer %d, want the connection's %d", s.typeID, s.layer, tdtg.Layer)
				}
			}
			st := f.srv.Stats()
			if st.KeyExchanges != 1 || st.Duplicates != 0 || len(st.UnknownKeys) != 0 {
				t.Errorf("stats %+v: want one key exchange, no duplicate, no unknown key", st)
			}
		})
	}
}

// TestUnknownKey: a key the server forgot gets -404, is counted, and the
// client makes a new key.
func TestUnknownKey(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	store := new(tdsession.StorageMemory)
	call := func(ctx context.Context, api *tdtg.Client) error {
		_, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
		return err
	}
	if err := f.gotdClient(t, tdtransport.Intermediate, false, store, call); err != nil {
		t.Fatal(err)
	}
	old := f.seenCopy()[0].key
	f.keys.forget(old)
	if err := f.gotdClient(t, tdtransport.Intermediate, false, store, call); err != nil {
		t.Fatal(err)
	}
	st := f.srv.Stats()
	if st.UnknownKeys[old] == 0 {
		t.Errorf("unknown key not counted: %v", st.UnknownKeys)
	}
	if st.KeyExchanges != 2 {
		t.Errorf("%d key exchanges, want 2 (the client makes a new key after -404)", st.KeyExchanges)
	}
}

// TestPush: a push reaches the client on its session, once per
// connection of the key; before any message there is no session.
func TestPush(t *testing.T) {
	t.Parallel()
	f := newFixture(t)
	host, port, _ := net.SplitHostPort(f.addr)
	p, _ := strconv.Atoi(port)
	got := make(chan string, 1)
	d := tdtg.NewUpdateDispatcher()
	d.OnNewMessage(func(_ context.Context, _ tdtg.Entities, u *tdtg.UpdateNewMessage) error {
		if m, ok := u.Message.(*tdtg.Message); ok {
			select {
			case got <- m.Message:
			default:
			}
		}
		return nil
	})
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             testDC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: testDC, IPAddress: host, Port: p}}},
		PublicKeys:     []tdtelegram.PublicKey{{RSA: &testKey().PublicKey}},
		SessionStorage: new(tdsession.StorageMemory),
		UpdateHandler:  d,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	err := c.Run(ctx, func(ctx context.Context) error {
		if _, err := c.API().UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}}); err != nil {
			return err
		}
		key := f.seenCopy()[0].key
		conns := f.srv.Conns(key)
		if len(conns) == 0 {
			return errors.New("no connection of the key")
		}
		var b tdbin.Buffer
		u := &tdtg.Updates{
			Updates: []tdtg.UpdateClass{&tdtg.UpdateNewMessage{Message: &tdtg.Message{ID: 1, PeerID: &tdtg.PeerUser{UserID: 42}, Message: "pushed", Date: int(time.Now().Unix())}, Pts: 1, PtsCount: 1}},
			Users:   []tdtg.UserClass{&tdtg.User{ID: 42, FirstName: "x"}},
			Chats:   []tdtg.ChatClass{},
			Date:    int(time.Now().Unix()),
			Seq:     0,
		}
		if err := u.Encode(&b); err != nil {
			return err
		}
		for _, cn := range conns {
			if err := cn.Push(ctx, b.Buf); err != nil {
				return err
			}
		}
		select {
		case m := <-got:
			if m != "pushed" {
				t.Errorf("pushed message %q", m)
			}
		case <-ctx.Done():
			return ctx.Err()
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDuplicateAddrs: a key used on two connections at once is a
// duplicate; from two IP addresses it is one key in two places too.
func TestDuplicateAddrs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		secondIP string
		addrs    int64
	}{
		{"same-address", "127.0.0.1", 0},
		{"other-address", "127.0.0.2", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if tc.secondIP != "127.0.0.1" && runtime.GOOS != "linux" {
				t.Skip("only Linux routes all of 127/8 to loopback")
			}
			f := newFixture(t)
			store := new(tdsession.StorageMemory)
			call := func(ctx context.Context, api *tdtg.Client) error {
				_, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}})
				return err
			}
			err := f.gotdClientFrom(t, "127.0.0.1", store, func(ctx context.Context, api *tdtg.Client) error {
				if err := call(ctx, api); err != nil {
					return err
				}
				// The first client stays connected while the second uses
				// the same key.
				return f.gotdClientFrom(t, tc.secondIP, store, call)
			})
			if err != nil {
				t.Fatal(err)
			}
			st := f.srv.Stats()
			if st.Duplicates != 1 || st.DuplicateAddrs != tc.addrs {
				t.Errorf("duplicates %d, from another address %d; want 1, %d", st.Duplicates, st.DuplicateAddrs, tc.addrs)
			}
		})
	}
}

// gotdClientFrom runs fn on a gotd client that connects from the local IP
// address ip (any of 127/8 works on Linux's loopback).
func (f *fixture) gotdClientFrom(t *testing.T, ip string, store tdtelegram.SessionStorage, fn func(context.Context, *tdtg.Client) error) error {
	t.Helper()
	host, port, _ := net.SplitHostPort(f.addr)
	p, _ := strconv.Atoi(port)
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c := tdtelegram.NewClient(17349, "344583e45741c457fe1862106095a5eb", tdtelegram.Options{
		DC:             testDC,
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: testDC, IPAddress: host, Port: p}}},
		PublicKeys:     []tdtelegram.PublicKey{{RSA: &testKey().PublicKey}},
		Resolver:       tddcs.Plain(tddcs.PlainOptions{Dial: d.DialContext}),
		SessionStorage: store,
		NoUpdates:      true,
	})
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	return c.Run(ctx, func(ctx context.Context) error { return fn(ctx, c.API()) })
}

// TestCloseUnbinds: when Close returns, no connection is bound to a key
// (Conns is empty) and the Handler's context of a call still running has
// ended — even while that call holds the connection's read loop, which
// used to keep the binding until the loop returned.
func TestCloseUnbinds(t *testing.T) {
	t.Parallel()
	keys := &memKeys{keys: map[sessionstring.KeyID]sessionstring.AuthKey{}}
	f := &fixture{keys: keys}
	release := make(chan struct{})
	blocked := make(chan context.Context, 1)
	handler := mtserver.HandlerFunc(func(ctx context.Context, req *mtserver.Request) error {
		if req.TypeID() == tdtg.HelpGetNearestDCRequestTypeID {
			blocked <- ctx
			<-release // holds the read loop, whatever ctx says
			return nil
		}
		return f.serve(ctx, req)
	})
	srv, err := mtserver.New(mtserver.Config{DC: testDC, PrivateKey: testKey(), Keys: keys, Handler: handler})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.srv, f.addr = srv, ln.Addr().String()
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	clientDone := make(chan error, 1)
	go func() {
		clientDone <- f.gotdClient(t, tdtransport.Intermediate, false, nil, func(ctx context.Context, api *tdtg.Client) error {
			if _, err := api.UsersGetUsers(ctx, []tdtg.InputUserClass{&tdtg.InputUserSelf{}}); err != nil {
				return err
			}
			_, err := api.HelpGetNearestDC(ctx)
			return err
		})
	}()
	var hctx context.Context
	select {
	case hctx = <-blocked:
	case err := <-clientDone:
		t.Fatalf("the client ended before its call reached the handler: %v", err)
	}
	keys.mu.Lock()
	var id sessionstring.KeyID
	for k := range keys.keys {
		id = k
	}
	keys.mu.Unlock()
	if n := len(srv.Conns(id)); n != 1 {
		t.Fatalf("%d connections bound to the key before Close, want 1", n)
	}
	if err := srv.Close(); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.Conns(id)); n != 0 {
		t.Errorf("%d connections bound to the key after Close, want 0", n)
	}
	select {
	case <-hctx.Done():
	default:
		t.Error("the running call's context did not end with Close")
	}
	close(release)
	if err := <-served; err != nil {
		t.Errorf("serve: %v", err)
	}
	// The client retries until the test's context ends.
	t.Cleanup(func() { <-clientDone })
}
