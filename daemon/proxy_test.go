package daemon

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// TestSetProxy: an account's own proxy is set, shown without its secret,
// refused when unparsable (nothing changes), removed by "none" or "", an
// empty row is none (and served), and it is not changed while a Serve
// holds the account.
func TestSetProxy(t *testing.T) {
	srv, _, v := seededVault(t, "alice", "bob")
	show := func(name string) string {
		t.Helper()
		p, err := AccountProxy(v, name)
		if err != nil {
			t.Fatalf("AccountProxy(%s): %v", name, err)
		}
		return p
	}
	if p := show("alice"); p != dial.None {
		t.Fatalf("a new account's proxy: %q, want none", p)
	}
	const secret = "s3cr3t-pw"
	if err := SetProxy(v, "alice", "socks5://user:"+secret+"@127.0.0.1:1080"); err != nil {
		t.Fatal(err)
	}
	if p := show("alice"); strings.Contains(p, secret) || !strings.Contains(p, "127.0.0.1:1080") {
		t.Errorf("the proxy shown: %q, want it redacted", p)
	}
	if err := SetProxy(v, "alice", "http://127.0.0.1:8080"); !errors.Is(err, dial.ErrBadProxy) {
		t.Errorf("an HTTP proxy: %v, want dial.ErrBadProxy", err)
	}
	if p := show("alice"); !strings.Contains(p, "socks5://") {
		t.Errorf("after a refused SetProxy: %q, want the SOCKS5 one kept", p)
	}
	if err := SetProxy(v, "alice", dial.None); err != nil {
		t.Fatal(err)
	}
	if p := show("alice"); p != dial.None {
		t.Errorf("after none: %q", p)
	}
	// "" removes the row too (before 15, `proxy NAME ""` stored an empty
	// one, shown as "(unreadable)").
	if err := SetProxy(v, "alice", "socks5://127.0.0.1:1080"); err != nil {
		t.Fatal(err)
	}
	if err := SetProxy(v, "alice", ""); err != nil {
		t.Fatal(err)
	}
	if p := show("alice"); p != dial.None {
		t.Errorf(`after "": %q`, p)
	}
	if _, ok := proxyRow(t, v, "alice"); ok {
		t.Error(`SetProxy "" kept a tgvault.proxy row`)
	}
	if _, err := AccountProxy(v, "nobody"); !errors.Is(err, vault.ErrNotFound) {
		t.Errorf("AccountProxy of an unknown account: %v", err)
	}

	// An empty row, as an older vault may keep, is no proxy: shown as
	// none, and Serve serves the account (without a proxy of its own).
	if err := v.UpdateAccount("bob", func(f *storage.File) error { return f.SetMeta(mtproto.MetaProxy, []byte{}) }); err != nil {
		t.Fatal(err)
	}
	if b, ok := proxyRow(t, v, "bob"); !ok || len(b) != 0 {
		t.Fatalf("the planted row: %q, %v; want an empty row", b, ok)
	}
	if p := show("bob"); p != dial.None {
		t.Errorf("an empty proxy row shows as %q, want none", p)
	}

	sock := filepath.Join(t.TempDir(), "run.sock")
	startServe(t, Config{Vault: v, Names: []string{"bob"}, Socket: sock, Defaults: devDefaults(srv)})
	waitStatus(t, localapi.NewClient(sock), "bob", "ready")
	if err := SetProxy(v, "bob", "socks5://127.0.0.1:1080"); !errors.As(err, new(*vault.HeldError)) || !strings.HasSuffix(err.Error(), ": stop it first") {
		t.Errorf("SetProxy of an account Serve holds: %v, want a *vault.HeldError saying stop it first", err)
	}
	// "stop it first" is advice for a held account only.
	if err := SetProxy(v, "nobody", dial.None); !errors.Is(err, vault.ErrNotFound) || strings.Contains(err.Error(), "stop it first") {
		t.Errorf("SetProxy of an unknown account: %v, want ErrNotFound without the advice", err)
	}
	if p := show("bob"); p != dial.None {
		t.Errorf("bob's proxy after a refused SetProxy: %q", p)
	}
}

// proxyRow is the account's stored tgvault.proxy row.
func proxyRow(t *testing.T, v *vault.Vault, name string) ([]byte, bool) {
	t.Helper()
	f, err := v.OpenAccount(name)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b, ok, err := f.Meta(mtproto.MetaProxy)
	if err != nil {
		t.Fatal(err)
	}
	return b, ok
}
