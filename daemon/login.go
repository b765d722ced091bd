package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/dial"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// loginTimeout bounds a login: it waits for a code or password typed by a
// person, so it is generous.
const loginTimeout = 10 * time.Minute

// ErrLoginMethod is a LoginRequest that names no way to log in, or more
// than one: exactly one of BotToken, Phone and QR is needed.
var ErrLoginMethod = errors.New("daemon: a login needs exactly one of a bot token, a phone number and QR")

// LoginRequest is one login (`tgvault login`): the new account's name,
// where it logs in and how, and what is kept with it.
type LoginRequest struct {
	// Name is the new account's name in the vault.
	Name string
	// Server is the server the account logs in on and keeps
	// (mtproto.MetaServer): Telegram's DCs when Addr is "", for its
	// TestMode.
	Server mtproto.ServerConf
	// APIID and APIHash are the application's credentials (see
	// mtproto.ServerConf.APICreds); the api_hash is kept with the account
	// unless it is mtproto.DevAPIHash.
	APIID   int32
	APIHash string
	// Device is what the client tells the server about itself, kept with
	// the account so that run tells the same.
	Device mtproto.Device
	// Proxy is the proxy URL the login connects through (dial.Parse's
	// forms), kept with the account; "" or dial.None for none.
	Proxy string

	// Exactly one of these: a bot's token, a user's phone number (the
	// code and 2FA password come from the LoginPrompts), or a QR login
	// (its tokens shown through the LoginPrompts).
	BotToken string
	Phone    string
	QR       bool
}

// Check reports ErrLoginMethod unless r names exactly one way to log in.
func (r LoginRequest) Check() error {
	n := 0
	for _, set := range []bool{r.BotToken != "", r.Phone != "", r.QR} {
		if set {
			n++
		}
	}
	if n != 1 {
		return ErrLoginMethod
	}
	return nil
}

// LoginPrompts answers what a user login asks a person for: the CLI
// prompts on the terminal (or reads the files the environment names),
// tests return fixed values. A bot login asks nothing.
type LoginPrompts interface {
	// Code returns the login code Telegram sent to the account.
	Code(ctx context.Context) (string, error)
	// Password returns the account's 2FA password; it is called only
	// when the account has one.
	Password(ctx context.Context) (string, error)
	// ShowQR shows a QR login token (the tg://login URL to draw), again
	// with each new token as the last one expires.
	ShowQR(ctx context.Context, url string, expires time.Time) error
}

// Login logs a new account in on its server and keeps the session in v
// under r.Name. Before anything reaches the server it checks that v would
// take the name (vault.CheckNewAccount: an invalid or taken name, a locked
// vault), so a refused login makes no authorization on the server. The
// session lives in memory until vault.CreateAccount seals it into the
// account file: the key is never on disk in plaintext. The login is
// bounded by ten minutes (a person types the code) and by ctx. A failure
// that is the input's fault (a wrong code, token or password, an unknown
// number) wraps vault.ErrBadInput.
func Login(ctx context.Context, v *vault.Vault, r LoginRequest, p LoginPrompts) (vault.Account, mtproto.Identity, error) {
	if err := r.Check(); err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	if p == nil && r.BotToken == "" {
		return vault.Account{}, mtproto.Identity{}, errors.New("daemon: a user login needs LoginPrompts")
	}
	opts, err := loginOptions(r)
	if err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	if err := v.CheckNewAccount(r.Name); err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	store, err := storage.NewMemory(nil, storage.Options{})
	if err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	defer store.Close()
	if err := mtproto.SaveLogin(store, mtproto.LoginSettings{Server: r.Server, Device: r.Device, APIHash: r.APIHash, Proxy: r.Proxy}); err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	var id mtproto.Identity
	switch {
	case r.BotToken != "":
		id, err = mtproto.LoginBot(ctx, store, r.BotToken, opts)
	case r.QR:
		id, err = mtproto.LoginQR(ctx, store, p, opts)
	default:
		id, err = mtproto.LoginUser(ctx, store, mtproto.NormalizePhone(r.Phone), p, opts)
	}
	if mtproto.IsLoginInputError(err) {
		err = fmt.Errorf("%w: %w", vault.ErrBadInput, err)
	}
	if err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	snap, err := store.Snapshot()
	if err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	acct, err := v.CreateAccount(r.Name, snap, "login")
	if err != nil {
		return vault.Account{}, mtproto.Identity{}, err
	}
	return acct, id, nil
}

// loginOptions is how the login connects: r's server (DC 0: the client
// finds the home DC), credentials, device and proxy.
func loginOptions(r LoginRequest) (mtproto.Options, error) {
	srv, err := r.Server.Server(0)
	if err != nil {
		return mtproto.Options{}, fmt.Errorf("%w: the server's key: %w", vault.ErrBadInput, err)
	}
	pc, err := dial.Parse(r.Proxy)
	if err != nil {
		return mtproto.Options{}, fmt.Errorf("%w: %w", vault.ErrBadInput, err)
	}
	return mtproto.Options{Server: srv, APIID: r.APIID, APIHash: r.APIHash, Device: r.Device, Dial: pc.Dial, MTProxy: pc.MTProxy}, nil
}
