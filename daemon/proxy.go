package daemon

import (
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// SetProxy sets the account name's own proxy (mtproto.MetaProxy, which
// run prefers over its --proxy) to url, one of dial.Parse's forms; "" or
// dial.None removes it. A url dial.Parse refuses fails with an error
// matching dial.ErrBadProxy and changes nothing. The change is made under
// the account's ownership lock (vault.UpdateAccount): while another
// process holds the account (a run serving it) it fails with a
// *vault.HeldError.
func SetProxy(v *vault.Vault, name, url string) error {
	if _, err := dial.Parse(url); err != nil {
		return err
	}
	var b []byte // nil deletes the key
	if !dial.IsNone(url) {
		b = []byte(url)
	}
	return v.UpdateAccount(name, func(f *storage.File) error { return f.SetMeta(mtproto.MetaProxy, b) })
}

// AccountProxy returns the account name's own proxy URL without its
// password or MTProxy secret (dial.Redact), or dial.None (also for an
// empty row, which an older SetProxy stored for "").
func AccountProxy(v *vault.Vault, name string) (string, error) {
	f, err := v.OpenAccount(name)
	if err != nil {
		return "", err
	}
	defer f.Close()
	cur, ok, err := f.Meta(mtproto.MetaProxy)
	if err != nil || !ok || len(cur) == 0 {
		// An empty row is no proxy, as run reads it (mtproto.LoadOptions).
		return dial.None, err
	}
	return dial.Redact(string(cur)), nil
}
