package mtproto

import (
	"context"
	"errors"
	"fmt"
	"time"

	tdqrlogin "github.com/gotd/td/telegram/auth/qrlogin"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/storage"
)

// QRAuthenticator supplies what a QR-code login asks for: a way to show
// each login token, and the 2FA password when the account has one.
type QRAuthenticator interface {
	// ShowQR shows a login token as the tg://login URL to draw as a QR
	// code; it is called again with a new token each time one expires
	// before a logged-in device scans it.
	ShowQR(ctx context.Context, url string, expires time.Time) error
	// Password returns the account's 2FA password; it is called only
	// when the account has one.
	Password(ctx context.Context) (string, error)
}

// LoginQR logs a user in by QR code (https://core.telegram.org/api/qr-login):
// it shows login tokens until a device where the user is logged in scans
// one (Settings → Devices → Link Desktop Device), then asks for the 2FA
// password if the account has one. Like LoginUser it creates a key only if
// the store has none and records the identity in the store. A DC migration
// during the QR login is not supported yet (ErrQRMigrate): log in by phone.
func LoginQR(ctx context.Context, store storage.Storage, qa QRAuthenticator, opts Options) (Identity, error) {
	d := tdtg.NewUpdateDispatcher()
	loggedIn := tdqrlogin.OnLoginToken(d)
	opts.onUpdates = d.Handle
	return login(ctx, store, opts, func(ctx context.Context, c *Client) (*tdtg.AuthAuthorization, error) {
		qr := tdqrlogin.NewQR(c.API(), int(opts.APIID), opts.APIHash, tdqrlogin.Options{})
		a, err := qr.Auth(ctx, loggedIn, func(ctx context.Context, t tdqrlogin.Token) error {
			return qa.ShowQR(ctx, t.URL(), t.Expires())
		})
		var migrate *tdqrlogin.MigrationNeededError
		switch {
		case errors.As(err, &migrate):
			return nil, ErrQRMigrate
		case tdtgerr.Is(err, "SESSION_PASSWORD_NEEDED"):
			return c.checkPassword(ctx, qa.Password, "mtproto: QR login")
		}
		if err != nil {
			return nil, fmt.Errorf("mtproto: QR login: %w", loginErr(err))
		}
		return a, nil
	})
}
