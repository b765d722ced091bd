package mtproto

import (
	"crypto/rand"
	"encoding/binary"
	"errors"

	tdtelegram "github.com/gotd/td/telegram"

	"github.com/tgvault/tgvault/sessionstring"
)

// Device is what a client tells Telegram about itself in initConnection.
// Telegram shows it in the account's list of sessions and fingerprints
// it, so an account should keep one Device for as long as it has its key:
// a session whose device changes from connect to connect looks like a
// stolen one.
type Device struct {
	Model          string `json:"model"`
	System         string `json:"system"`
	AppVersion     string `json:"app_version"`
	LangCode       string `json:"lang_code"`
	SystemLangCode string `json:"system_lang_code"`
}

// ErrBadDevice is a Device with an empty or oversized field.
var ErrBadDevice = errors.New("mtproto: device parameters must be 1 to 64 characters each")

// Check reports whether every field is set and of a sane length.
func (d Device) Check() error {
	for _, f := range []string{d.Model, d.System, d.AppVersion, d.LangCode, d.SystemLangCode} {
		if f == "" || len(f) > 64 {
			return ErrBadDevice
		}
	}
	return nil
}

func (d Device) config() tdtelegram.DeviceConfig {
	return tdtelegram.DeviceConfig{
		DeviceModel:    d.Model,
		SystemVersion:  d.System,
		AppVersion:     d.AppVersion,
		LangCode:       d.LangCode,
		SystemLangCode: d.SystemLangCode,
	}
}

// The desktop machines a Device is chosen from: common ones, so that an
// account does not stand out, each with the OS it ships with.
var deviceModels = []struct{ model, system string }{
	{"Desktop", "Windows 10 x64"},
	{"Desktop", "Windows 11 x64"},
	{"MacBookPro18,3", "macOS 14.5"},
	{"MacBookAir10,1", "macOS 13.6"},
	{"Mac14,2", "macOS 15.1"},
	{"ThinkPad X1 Carbon", "Windows 11 x64"},
	{"OptiPlex 7090", "Windows 10 x64"},
	{"System Product Name", "Windows 11 x64"},
	{"Laptop", "Ubuntu 24.04 LTS x64"},
	{"Desktop", "Fedora 40 x64"},
}

var deviceLangs = []string{"en", "en", "en", "de", "es", "fr", "it", "pt", "ru", "tr"}

// DeviceFor picks an account's Device from seed, the same for the same
// seed: a login picks a random seed and stores the Device it got; an
// account that has none stored (an imported session) uses its key id,
// which is stable for as long as the session lives. App version: a
// Telegram Desktop version.
func DeviceFor(seed uint64) Device {
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], seed)
	m := deviceModels[int(b[0])%len(deviceModels)]
	lang := deviceLangs[int(b[1])%len(deviceLangs)]
	return Device{Model: m.model, System: m.system, AppVersion: "5.8.3 x64", LangCode: lang, SystemLangCode: lang}
}

// NewDevice picks a new account's Device: a random common desktop
// (DeviceFor a random seed), with the fields of over that are set (a
// login's --device-model, --system-version, --app-version, --lang)
// applied over it; LangCode sets SystemLangCode too. The result must pass
// Check, else ErrBadDevice.
func NewDevice(over Device) (Device, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return Device{}, err
	}
	d := DeviceFor(binary.LittleEndian.Uint64(b[:]))
	for _, o := range []struct {
		to  *string
		val string
	}{{&d.Model, over.Model}, {&d.System, over.System}, {&d.AppVersion, over.AppVersion}, {&d.LangCode, over.LangCode}, {&d.SystemLangCode, over.LangCode}} {
		if o.val != "" {
			*o.to = o.val
		}
	}
	if err := d.Check(); err != nil {
		return Device{}, err
	}
	return d, nil
}

// DeviceForKey is DeviceFor seeded with a key id.
func DeviceForKey(id sessionstring.KeyID) Device { return DeviceFor(uint64(id)) }
