package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"rsc.io/qr"

	"github.com/tgvault/tgvault/mtproto"
)

var _ mtproto.QRAuthenticator = userAuth{}

// ShowQR draws a QR login token on stderr, the URL below it, and how long
// it is valid; it is called again with each new token.
func (u userAuth) ShowQR(_ context.Context, url string, expires time.Time) error {
	w := u.a.stderr
	code, err := qr.Encode(url, qr.L)
	if err != nil {
		return fmt.Errorf("draw the QR code: %w", err)
	}
	fmt.Fprintln(w)
	writeQR(w, code)
	fmt.Fprintf(w, "Scan it with Telegram on a device where the account is logged in:\n")
	fmt.Fprintf(w, "Settings > Devices > Link Desktop Device. Valid for %s; a new code follows.\n", time.Until(expires).Round(time.Second))
	fmt.Fprintf(w, "%s\n", url)
	return nil
}

// writeQR draws code with Unicode half blocks, two modules per character
// row, light modules drawn (for the usual light-on-dark terminal) inside
// a quiet zone of two modules.
func writeQR(w io.Writer, code *qr.Code) {
	const quiet = 2
	dark := func(x, y int) bool {
		if x < 0 || y < 0 || x >= code.Size || y >= code.Size {
			return false
		}
		return code.Black(x, y)
	}
	var b strings.Builder
	for y := -quiet; y < code.Size+quiet; y += 2 {
		for x := -quiet; x < code.Size+quiet; x++ {
			top, bottom := !dark(x, y), !dark(x, y+1) && y+1 < code.Size+quiet
			switch {
			case top && bottom:
				b.WriteString("█")
			case top:
				b.WriteString("▀")
			case bottom:
				b.WriteString("▄")
			default:
				b.WriteString(" ")
			}
		}
		b.WriteString("\n")
	}
	io.WriteString(w, b.String())
}
