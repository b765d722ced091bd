package mtproto

import (
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"

	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/storage"
)

// The keys of an account's tgvault_meta table that this package defines:
// how the account connects, chosen at login and kept sealed with it. Their
// meaning and format are listed in docs/design.md ("Account settings");
// the vault's own keys (tgvault.source, tgvault.state) are in
// vault/import.go and vault/state.go.
const (
	// MetaServer is the server the account logged in on (ServerConf as
	// JSON), so that run connects it there. Public data only: an address
	// and a public key.
	MetaServer = "tgvault.server"
	// MetaAPIHash is the api_hash it logged in with, when the user gave
	// one (run passes it on, for the few methods that take it).
	MetaAPIHash = "tgvault.api_hash"
	// MetaProxy is the account's own proxy URL. It may carry a password
	// or an MTProxy secret: it is never printed whole (dial.Redact).
	MetaProxy = "tgvault.proxy"
	// MetaDevice is its device parameters (Device as JSON), chosen once at
	// login.
	MetaDevice = "tgvault.device"
	// MetaGotd is where the session adapter keeps what gotd has and
	// Pyrogram's row lacks: the server salt, the address and gotd's config
	// subset, as JSON. It never holds the key.
	MetaGotd = "mtproto.gotd"
	// MetaDCKeys is the account's auth keys for DCs other than its home
	// DC, which the MTProto relay made (a real key exchange, then
	// auth.exportAuthorization/importAuthorization) so that relay clients
	// reach media there: a JSON object from DC id to the 256-byte key in
	// standard base64. Secret like the session's own key, and sealed with
	// it; written by RelayAccounts' SetDCKey, never printed.
	MetaDCKeys = "tgvault.dc_keys"
)

// DevAPIHash is the api_hash used with a custom server (the dev server)
// when none is given: it does not check it, and it is not stored.
const DevAPIHash = "tgvault-dev-server"

// ErrBadSettings reports an account setting that is stored but cannot be
// read: every such error is a *SettingsError.
var ErrBadSettings = errors.New("mtproto: unreadable account setting")

// SettingsError is a stored account setting that cannot be read. Its text
// says which ("the stored server is unreadable") and never quotes the
// value, which may hold a proxy password.
type SettingsError struct {
	Key    string // MetaServer, MetaProxy, ...
	Detail string
	Err    error // the parser's error, when it says more (never the value)
}

func (e *SettingsError) Error() string {
	if e.Err != nil {
		return e.Detail + ": " + e.Err.Error()
	}
	return e.Detail
}

// Unwrap gives ErrBadSettings and the parser's error.
func (e *SettingsError) Unwrap() []error {
	if e.Err != nil {
		return []error{ErrBadSettings, e.Err}
	}
	return []error{ErrBadSettings}
}

// ServerConf is where an account connects, as kept under MetaServer. The
// zero value is Telegram's production DCs.
type ServerConf struct {
	Addr      string `json:"addr,omitempty"`
	PublicKey string `json:"public_key,omitempty"` // PEM
	TestMode  bool   `json:"test_mode,omitempty"`
}

// Custom reports whether the configuration names a server of its own.
func (c ServerConf) Custom() bool { return c.Addr != "" }

// Server turns the configuration into a Server whose DC is dc.
func (c ServerConf) Server(dc int) (Server, error) {
	s := Server{DC: dc, Addr: c.Addr, TestMode: c.TestMode}
	if c.PublicKey != "" {
		k, err := ParsePublicKey([]byte(c.PublicKey))
		if err != nil {
			return Server{}, err
		}
		s.PublicKeys = []*rsa.PublicKey{k}
	}
	return s, nil
}

// ParsePublicKey reads an RSA public key in PEM (PKCS#1 or PKIX).
func ParsePublicKey(b []byte) (*rsa.PublicKey, error) {
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, errors.New("server key: no PEM block")
	}
	if k, err := x509.ParsePKCS1PublicKey(blk.Bytes); err == nil {
		return k, nil
	}
	k, err := x509.ParsePKIXPublicKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("server key: %w", err)
	}
	rk, ok := k.(*rsa.PublicKey)
	if !ok {
		return nil, errors.New("server key: not an RSA key")
	}
	return rk, nil
}

// MetaReader reads an account's meta table (storage.Storage has it).
type MetaReader interface {
	Meta(key string) ([]byte, bool, error)
}

// MetaWriter writes an account's meta table (storage.Storage has it).
type MetaWriter interface {
	SetMeta(key string, value []byte) error
}

// LoginSettings is what a login keeps with a new account.
type LoginSettings struct {
	Server  ServerConf
	Device  Device
	APIHash string // kept unless "" or DevAPIHash
	Proxy   string // kept unless dial.IsNone
}

// SaveLogin writes s to w's meta table.
func SaveLogin(w MetaWriter, s LoginSettings) error {
	b, err := json.Marshal(s.Server)
	if err != nil {
		return err
	}
	if err := w.SetMeta(MetaServer, b); err != nil {
		return err
	}
	if err := SaveDevice(w, s.Device); err != nil {
		return err
	}
	if s.APIHash != "" && s.APIHash != DevAPIHash {
		if err := w.SetMeta(MetaAPIHash, []byte(s.APIHash)); err != nil {
			return err
		}
	}
	if !dial.IsNone(s.Proxy) {
		if err := w.SetMeta(MetaProxy, []byte(s.Proxy)); err != nil {
			return err
		}
	}
	return nil
}

// SaveDevice keeps d with the account.
func SaveDevice(w MetaWriter, d Device) error {
	b, err := json.Marshal(d)
	if err != nil {
		return err
	}
	return w.SetMeta(MetaDevice, b)
}

// LoadDevice is the account's stored device, else one derived from its
// key id (an imported session: stable for as long as its key lives,
// without writing to the account).
func LoadDevice(r MetaReader, row storage.SessionRow) (Device, error) {
	b, ok, err := r.Meta(MetaDevice)
	if err != nil {
		return Device{}, err
	}
	if !ok {
		return DeviceForKey(row.AuthKey.ID()), nil
	}
	var d Device
	if err := json.Unmarshal(b, &d); err != nil || d.Check() != nil {
		return Device{}, &SettingsError{Key: MetaDevice, Detail: "the stored device parameters are unreadable"}
	}
	return d, nil
}

// Defaults are what run gives the accounts that keep no setting of their
// own: its --server (when ServerSet), --api-id and --proxy.
type Defaults struct {
	Server    ServerConf
	ServerSet bool
	APIID     int32
	Proxy     string
}

// LoadOptions is how run connects one account: to the server it logged in
// on (MetaServer), else the defaults' server when set, else Telegram's DCs
// for the row's test mode; with the row's api_id, else the default; with
// its own proxy (MetaProxy, unless empty), else the default proxy; its
// api_hash (MetaAPIHash) and its device (LoadDevice). A setting that is
// stored but unreadable fails with a *SettingsError.
func LoadOptions(r MetaReader, row storage.SessionRow, d Defaults) (Options, error) {
	c := ServerConf{TestMode: row.TestMode.Or(false)}
	if b, ok, err := r.Meta(MetaServer); err != nil {
		return Options{}, err
	} else if ok {
		if err := json.Unmarshal(b, &c); err != nil {
			return Options{}, &SettingsError{Key: MetaServer, Detail: "the stored server is unreadable"}
		}
	} else if d.ServerSet {
		c = d.Server
	}
	srv, err := c.Server(row.DCID)
	if err != nil {
		return Options{}, err
	}
	id := d.APIID
	if v, ok := row.APIID.Get(); ok {
		id = v
	}
	proxy := d.Proxy
	if b, ok, err := r.Meta(MetaProxy); err != nil {
		return Options{}, err
	} else if ok && len(b) > 0 {
		// An empty row (`tgvault proxy NAME ""` stored one before it
		// removed the row) is no proxy of the account's own.
		proxy = string(b)
	}
	pc, err := dial.Parse(proxy)
	if err != nil {
		return Options{}, &SettingsError{Key: MetaProxy, Detail: "the account's proxy", Err: err}
	}
	dev, err := LoadDevice(r, row)
	if err != nil {
		return Options{}, err
	}
	hash, _, err := r.Meta(MetaAPIHash)
	if err != nil {
		return Options{}, err
	}
	return Options{Server: srv, APIID: id, APIHash: string(hash), Device: dev, Dial: pc.Dial, MTProxy: pc.MTProxy}, nil
}
