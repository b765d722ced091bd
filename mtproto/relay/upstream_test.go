package relay

import (
	"crypto/rsa"

	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

func encodeQuery(t testing.TB, q tdbin.Encoder) []byte {
	t.Helper()
	var b tdbin.Buffer
	if err := q.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Buf
}

// TestUpstreamRaw: an upstream session on a seeded account's key passes a
// query's bytes inside invokeWithLayer(initConnection(the account's
// device)) and gives the result's bytes back as the server sent them; no
// key exchange happens, the server sees the account's one device, and a
// pushed update arrives as raw bytes.
func TestUpstreamRaw(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	seed := seeds[0]
	updates := make(chan []byte, 4)
	ctx := t.Context()
	u, err := dialUpstream(ctx, upstreamConfig{
		DC: seed.DC, Key: seed.Key, Dial: devDial(map[int]string{seed.DC: srv.Addr()}),
		OnUpdates: func(raw []byte) { updates <- raw }, Timeout: testTimeout(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()

	query := encodeQuery(t, &tdtg.UsersGetUsersRequest{ID: []tdtg.InputUserClass{&tdtg.InputUserSelf{}}})
	raw, err := u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, query))
	if err != nil {
		t.Fatal(err)
	}
	var users tdtg.UserClassVector
	if err := users.Decode(&tdbin.Buffer{Buf: raw}); err != nil {
		t.Fatalf("result is not a vector of users: %v", err)
	}
	if len(users.Elems) != 1 || users.Elems[0].(*tdtg.User).ID != seed.UserID {
		t.Fatalf("got %v, want the seeded user %d", users.Elems, seed.UserID)
	}

	// A later call goes without initConnection.
	raw, err = u.Invoke(ctx, wrapQuery(tdtg.Layer, nil, false, encodeQuery(t, &tdtg.UpdatesGetStateRequest{})))
	if err != nil {
		t.Fatal(err)
	}
	var st tdtg.UpdatesState
	if err := st.Decode(&tdbin.Buffer{Buf: raw}); err != nil {
		t.Fatalf("updates.getState: %v", err)
	}

	// An rpc_error comes back as such.
	_, err = u.Invoke(ctx, wrapQuery(tdtg.Layer, nil, false, encodeQuery(t, &tdtg.MessagesGetAllStickersRequest{})))
	if rpcErr, ok := tdtgerr.As(err); !ok || rpcErr.Code != 400 {
		t.Fatalf("unknown method: got %v, want an rpc_error 400", err)
	}

	if _, err := srv.PushUpdates(ctx, seed.UserID, &tdtg.UpdateShort{Update: &tdtg.UpdateUserTyping{UserID: 7, Action: &tdtg.SendMessageTypingAction{}}, Date: 1}); err != nil {
		t.Fatal(err)
	}
	select {
	case raw := <-updates:
		var short tdtg.UpdateShort
		if err := short.Decode(&tdbin.Buffer{Buf: raw}); err != nil {
			t.Fatalf("pushed bytes are not the updateShort: %v", err)
		}
	case <-ctx.Done():
		t.Fatal(ctx.Err())
	}

	st2 := srv.Stats()
	if st2.KeyExchanges != 0 || st2.Duplicates != 0 {
		t.Errorf("key exchanges %d, duplicates %d; want 0, 0", st2.KeyExchanges, st2.Duplicates)
	}
	clients := srv.Clients(seed.Key.ID())
	if len(clients) != 1 || clients[0].DeviceModel != testDevice.DeviceModel || clients[0].APIID != testDevice.APIID {
		t.Errorf("server saw devices %+v, want the account's one", clients)
	}
}

// TestUpstreamUnknownKey: a key the server does not know ends the session
// with ErrUpstreamKeyUnknown; no key exchange makes a new one.
func TestUpstreamUnknownKey(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.ForgetKey(seeds[0].Key.ID()); err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()
	u, err := dialUpstream(ctx, upstreamConfig{
		DC: seeds[0].DC, Key: seeds[0].Key, Dial: devDial(map[int]string{seeds[0].DC: srv.Addr()}), Timeout: testTimeout(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	_, err = u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.HelpGetConfigRequest{})))
	if err == nil {
		t.Fatal("call with an unknown key succeeded")
	}
	<-u.Done()
	if got := u.failure(); got != ErrUpstreamKeyUnknown {
		t.Fatalf("failure %v, want ErrUpstreamKeyUnknown", got)
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Fatalf("%d key exchanges after -404, want 0", n)
	}
}

// TestUpstreamExchange: a zero key makes a new one by a real key exchange
// with the server (the account's key for another DC), and the session
// then works on that key; the home key path never exchanges (above).
func TestUpstreamExchange(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	ctx := t.Context()
	u, err := dialUpstream(ctx, upstreamConfig{
		DC: srv.DC(), PublicKeys: []*rsa.PublicKey{srv.PublicKey()},
		Dial: devDial(map[int]string{srv.DC(): srv.Addr()}), Timeout: testTimeout(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	key, err := u.Key()
	if err != nil {
		t.Fatal(err)
	}
	if key.IsZero() {
		t.Fatal("no key after the exchange")
	}
	raw, err := u.Invoke(ctx, wrapQuery(tdtg.Layer, &testDevice, false, encodeQuery(t, &tdtg.HelpGetConfigRequest{})))
	if err != nil {
		t.Fatal(err)
	}
	var cfg tdtg.Config
	if err := cfg.Decode(&tdbin.Buffer{Buf: raw}); err != nil {
		t.Fatalf("help.getConfig on the new key: %v", err)
	}
	if _, known := srv.KeyUser(key.ID()); !known {
		t.Fatal("the server does not know the exchanged key")
	}
	// Counted once the server has the key (a call on it answered).
	if n := srv.Stats().KeyExchanges; n != 1 {
		t.Fatalf("%d key exchanges, want 1", n)
	}
}

// TestUpstreamExchangeNoKeys: without the server's public keys there is
// no exchange, and a clear error.
func TestUpstreamExchangeNoKeys(t *testing.T) {
	t.Parallel()
	srv := mttest.StartServer(t, devserver.Options{})
	_, err := dialUpstream(t.Context(), upstreamConfig{
		DC: srv.DC(), Dial: devDial(map[int]string{srv.DC(): srv.Addr()}), Timeout: testTimeout(),
	})
	if err == nil {
		t.Fatal("an exchange without server keys succeeded")
	}
	if n := srv.Stats().KeyExchanges; n != 0 {
		t.Fatalf("%d key exchanges, want 0", n)
	}
}
