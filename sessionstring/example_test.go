package sessionstring_test

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/tgvault/tgvault/sessionstring"
)

func Example() {
	raw, err := os.ReadFile("../testdata/vectors/pyrogram/session_string_v3.txt")
	if err != nil {
		panic(err)
	}
	d, err := sessionstring.Decode(string(raw))
	if err != nil {
		panic(err)
	}
	s := d.Session
	fmt.Println(d.Format, s.DCID, s.APIID.Or(0), s.UserID.Or(0), s.AuthKey, s.AuthKey.ID())

	// Pyrogram strings carry no address; Telethon needs one.
	tele, err := sessionstring.Encode(sessionstring.Telethon, s.WithDefaultAddress())
	if err != nil {
		panic(err)
	}
	fmt.Println(len(tele), strings.HasSuffix(tele, "="))

	// Telethon strings carry no api_id; Pyrogram needs one.
	back, _ := sessionstring.Decode(tele)
	_, err = sessionstring.Encode(sessionstring.Pyrogram, back.Session)
	var missing *sessionstring.MissingFieldError
	fmt.Println(errors.As(err, &missing), missing.Field)
	// Output:
	// pyrogram 2 12345 123456789 (redacted) 32d1586ea457dfc8
	// 353 true
	// true api_id
}
