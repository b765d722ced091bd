package main

import (
	"crypto/rand"
	"encoding/binary"

	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/mtproto"
)

// deviceFlags override parts of the device a login picks.
type deviceFlags struct {
	model, system, app, lang string
}

func (f *deviceFlags) register(fs *pflag.FlagSet) {
	fs.StringVar(&f.model, "device-model", "", "the device `MODEL` Telegram shows for this session (default: one picked from common desktops, then kept)")
	fs.StringVar(&f.system, "system-version", "", "the `OS` version Telegram shows for this session")
	fs.StringVar(&f.app, "app-version", "", "the app `VERSION` Telegram shows for this session")
	fs.StringVar(&f.lang, "lang", "", "the language `CODE` (ISO 639-1) of the session")
}

// pick returns a new account's device: a random common desktop, with the
// flags given applied over it.
func (f *deviceFlags) pick() (mtproto.Device, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return mtproto.Device{}, err
	}
	d := mtproto.DeviceFor(binary.LittleEndian.Uint64(b[:]))
	for _, o := range []struct {
		to  *string
		val string
	}{{&d.Model, f.model}, {&d.System, f.system}, {&d.AppVersion, f.app}, {&d.LangCode, f.lang}, {&d.SystemLangCode, f.lang}} {
		if o.val != "" {
			*o.to = o.val
		}
	}
	if err := d.Check(); err != nil {
		return mtproto.Device{}, usagef("%v", err)
	}
	return d, nil
}
