package mtproto

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// DevAPIID is the api_id used with a custom server (the dev server) when
// none is given: it does not check it.
const DevAPIID = 1

// ErrNeedAPICreds: Telegram's DCs need the application's api_id and
// api_hash (from my.telegram.org); only a custom server does without.
var ErrNeedAPICreds = errors.New("mtproto: Telegram needs an api_id and api_hash")

// APICreds fills in what a custom server does without: DevAPIID and
// DevAPIHash for a zero id or an empty hash. For Telegram's DCs both must
// be given (ErrNeedAPICreds).
func (c ServerConf) APICreds(id int32, hash string) (int32, string, error) {
	if id != 0 && hash != "" {
		return id, hash, nil
	}
	if !c.Custom() {
		return 0, "", ErrNeedAPICreds
	}
	if id == 0 {
		id = DevAPIID
	}
	if hash == "" {
		hash = DevAPIHash
	}
	return id, hash, nil
}

// ReadServerConf's answers to an address without a key or a key without
// an address: a custom server is named by both.
var (
	ErrServerNeedsKey = errors.New("mtproto: a custom server needs its RSA public key")
	ErrKeyNeedsServer = errors.New("mtproto: a server key needs the server's address")
)

// ServerKeyError is a server key file that holds no RSA public key.
type ServerKeyError struct {
	Path string
	Err  error // ParsePublicKey's error
}

func (e *ServerKeyError) Error() string { return e.Path + ": " + e.Err.Error() }
func (e *ServerKeyError) Unwrap() error { return e.Err }

// ReadServerConf is where a login, or run for the accounts that keep no
// server, connects: the custom server at addr whose RSA public key is the
// PEM file keyPath (both given, or ErrServerNeedsKey / ErrKeyNeedsServer),
// else Telegram's DCs; testMode picks the test DCs (and is kept for a
// custom server too). A key file that cannot be read fails with the
// file's error, one that holds no RSA public key with a *ServerKeyError.
func ReadServerConf(addr, keyPath string, testMode bool) (ServerConf, error) {
	switch {
	case addr != "" && keyPath == "":
		return ServerConf{}, ErrServerNeedsKey
	case addr == "" && keyPath != "":
		return ServerConf{}, ErrKeyNeedsServer
	}
	c := ServerConf{Addr: addr, TestMode: testMode}
	if keyPath != "" {
		b, err := os.ReadFile(keyPath)
		if err != nil {
			return ServerConf{}, fmt.Errorf("server key: %w", err)
		}
		if _, err := ParsePublicKey(b); err != nil {
			return ServerConf{}, &ServerKeyError{Path: keyPath, Err: err}
		}
		c.PublicKey = string(b)
	}
	return c, nil
}

// NormalizePhone keeps the digits of a phone number, the form Telegram
// takes: "+1 (555) 010-0000" is "15550100000".
func NormalizePhone(p string) string {
	var b strings.Builder
	for _, r := range p {
		if r >= '0' && r <= '9' {
			b.WriteRune(r)
		}
	}
	return b.String()
}

// IsLoginInputError reports whether a login failed for what it was given
// (a bot token, phone number, code or password the server refused, or a
// number without an account), rather than for the server or the network.
func IsLoginInputError(err error) bool {
	for _, e := range []error{ErrBotTokenInvalid, ErrPhoneInvalid, ErrCodeInvalid,
		ErrCodeExpired, ErrPasswordInvalid, ErrSignUpRequired} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}
