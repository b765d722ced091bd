package mtproto

import (
	"errors"
	"fmt"
	"testing"
)

func TestAPICreds(t *testing.T) {
	t.Parallel()
	dev, tg := ServerConf{Addr: "127.0.0.1:1"}, ServerConf{}
	for _, c := range []struct {
		name     string
		conf     ServerConf
		id       int32
		hash     string
		wantID   int32
		wantHash string
		wantErr  error
	}{
		{"given", tg, 7, "h", 7, "h", nil},
		{"telegram without", tg, 0, "", 0, "", ErrNeedAPICreds},
		{"telegram without hash", tg, 7, "", 0, "", ErrNeedAPICreds},
		{"custom without", dev, 0, "", DevAPIID, DevAPIHash, nil},
		{"custom with id", dev, 7, "", 7, DevAPIHash, nil},
		{"custom given", dev, 7, "h", 7, "h", nil},
	} {
		id, hash, err := c.conf.APICreds(c.id, c.hash)
		if id != c.wantID || hash != c.wantHash || !errors.Is(err, c.wantErr) || (c.wantErr == nil && err != nil) {
			t.Errorf("%s: %d %q %v, want %d %q %v", c.name, id, hash, err, c.wantID, c.wantHash, c.wantErr)
		}
	}
}

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"+1 (555) 010-0000": "15550100000", "99900001": "99900001", "": ""} {
		if got := NormalizePhone(in); got != want {
			t.Errorf("NormalizePhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsLoginInputError(t *testing.T) {
	t.Parallel()
	if !IsLoginInputError(fmt.Errorf("mtproto: sign in: %w", ErrCodeInvalid)) {
		t.Error("a wrapped wrong code is not the input's fault")
	}
	for _, err := range []error{nil, ErrUnreachable, ErrAlreadyAuthorized, errors.New("mtproto: login code invalid")} {
		if IsLoginInputError(err) {
			t.Errorf("%v counted as the input's fault", err)
		}
	}
}
