package main

import (
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

// pick returns a new account's device (mtproto.NewDevice with the flags
// given).
func (f *deviceFlags) pick() (mtproto.Device, error) {
	d, err := mtproto.NewDevice(mtproto.Device{Model: f.model, System: f.system, AppVersion: f.app, LangCode: f.lang})
	if err != nil {
		return mtproto.Device{}, usagef("%v", err)
	}
	return d, nil
}
