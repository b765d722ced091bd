package vault

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
)

func some[T any](v T) sessionstring.Opt[T] { return sessionstring.Some(v) }

// TestSetFillsWhatTheSourceLacked: a Telethon string lacks api_id, user id
// and bot flag, so the Pyrogram export refuses, naming `tgvault set`; Set
// fills them in (a sealed save, the index too) and the export is then
// Pyrogram's own string for the same session.
func TestSetFillsWhatTheSourceLacked(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "telethon/string_session.txt"), "", ImportOptions{Name: "t"}); err != nil {
		t.Fatal(err)
	}
	_, err := tv.Export("t", sessionstring.Pyrogram, false)
	if !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), "tgvault set NAME --api-id N") {
		t.Fatalf("export before set: %v, want ErrMissingField naming tgvault set", err)
	}
	if strings.Contains(err.Error(), "import") {
		t.Errorf("the error still says to import again: %v", err)
	}
	before, _ := tv.Show("t")
	a, changes, err := tv.Set("t", SetFields{APIID: some[int32](12345), UserID: some[int64](123456789), IsBot: some(false)})
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Field != "api_id" || changes[0].Old != nil || changes[0].New != "12345" {
		t.Errorf("changes = %+v", changes)
	}
	if a.APIID != some[int32](12345) || a.UserID != some[int64](123456789) || a.IsBot != some(false) || a.Revision <= before.Revision {
		t.Errorf("account after set: %+v", a)
	}
	shown, err := tv.Show("t")
	if err != nil || shown.APIID != a.APIID || shown.UserID != a.UserID || shown.IsBot != a.IsBot {
		t.Errorf("show after set: %+v, %v", shown, err)
	}
	got, err := tv.Export("t", sessionstring.Pyrogram, false)
	if err != nil || got != strings.TrimSpace(string(vector(t, "pyrogram/session_string_v3.txt"))) {
		t.Errorf("pyrogram export after set: %v (want Pyrogram's own vector)", err)
	}
	// The same values again: nothing changes, nothing is written.
	again, changes, err := tv.Set("t", SetFields{APIID: some[int32](12345)})
	if err != nil || len(changes) != 0 || again.Revision != a.Revision {
		t.Errorf("set of the same value: %+v %+v %v", again, changes, err)
	}
	// A known value changed: the change names the old one.
	_, changes, err = tv.Set("t", SetFields{APIID: some[int32](777)})
	if err != nil || len(changes) != 1 || changes[0].Old == nil || *changes[0].Old != "12345" || changes[0].New != "777" {
		t.Errorf("changing a known value: %+v %v", changes, err)
	}
}

func TestSetRefusals(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "mtcute/mtkruto_from_mtcute.txt"), "", ImportOptions{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	for name, f := range map[string]SetFields{
		"zero api_id":        {APIID: some[int32](0)},
		"negative user":      {UserID: some[int64](-5)},
		"host without port":  {Host: some("149.154.167.41")},
		"port 0":             {Host: some("149.154.167.41"), Port: some(0)},
		"bad host":           {Host: some("a b"), Port: some(443)},
		"another DC":         {Host: some("149.154.175.53"), Port: some(443)},
		"a test DC address":  {Host: some("149.154.167.40"), Port: some(80)},
		"test mode mismatch": {TestMode: some(true), Host: some("149.154.167.41"), Port: some(443)},
	} {
		if _, _, err := tv.Set("k", f); !errors.Is(err, ErrBadInput) {
			t.Errorf("%s: %v, want ErrBadInput", name, err)
		}
	}
	if _, _, err := tv.Set("nobody", SetFields{APIID: some[int32](1)}); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown account: %v", err)
	}
	list, _ := tv.List()
	taken, _, err := tv.be.LockAccounts([]string{list[0].ID}, LockHolder{PID: 4242, Command: "tgvault run"})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := tv.Set("k", SetFields{APIID: some[int32](1)}); !errors.Is(err, ErrHeldByRun) {
		t.Errorf("while run holds the account: %v, want ErrHeldByRun", err)
	}
	for _, rel := range taken {
		_ = rel()
	}
}

// TestSetAddressAndTestMode: an MTKruto string has no address: Set gives
// the one Telethon exports write. A Telethon string on an address outside
// Telegram's table has no test mode: formats that carry it refuse, naming
// it, until Set gives it.
func TestSetAddressAndTestMode(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.Import(vector(t, "mtcute/mtkruto_from_mtcute.txt"), "", ImportOptions{Name: "k"}); err != nil {
		t.Fatal(err)
	}
	if _, _, err := tv.Set("k", SetFields{Host: some("149.154.167.41"), Port: some(443)}); err != nil {
		t.Fatal(err)
	}
	tele, err := tv.Export("k", sessionstring.Telethon, false)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := sessionstring.Decode(tele); err != nil || d.Session.Host != some("149.154.167.41") {
		t.Errorf("telethon export after set --address: %v %v", d.Session.Host, err)
	}

	key, _ := sessionstring.NewAuthKey(vector(t, "pyrogram/pyrogram_v3.session")[:256])
	str, err := sessionstring.Encode(sessionstring.Telethon, sessionstring.Session{DCID: 2, AuthKey: key, Host: some("10.0.0.1"), Port: some(443)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tv.Import([]byte(str), "", ImportOptions{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	for _, f := range []sessionstring.Format{sessionstring.Mtcute, sessionstring.MTKruto} {
		_, err := tv.Export("p", f, false)
		if !errors.Is(err, ErrMissingField) || !strings.Contains(err.Error(), "test_mode") || !strings.Contains(err.Error(), "--no-test-mode") {
			t.Errorf("%v export without test mode: %v", f, err)
		}
	}
	if _, _, err := tv.Set("p", SetFields{TestMode: some(false)}); err != nil {
		t.Fatal(err)
	}
	out, err := tv.Export("p", sessionstring.Mtcute, false)
	if err != nil {
		t.Fatal(err)
	}
	if d, err := sessionstring.DecodeAs(sessionstring.Mtcute, out); err != nil || d.TestMode != some(false) || d.Host != some("10.0.0.1") {
		t.Errorf("mtcute export after set: %+v %v", d, err)
	}
}

// TestSetClearsMismatch: an account that run marked mismatch is active
// again once the field is corrected.
func TestSetClearsMismatch(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "p"}); err != nil {
		t.Fatal(err)
	}
	if err := tv.SetStatus("p", StatusMismatch, "the server says user 42"); err != nil {
		t.Fatal(err)
	}
	a, _, err := tv.Set("p", SetFields{APIID: some[int32](999)})
	if err != nil || a.Status != StatusMismatch {
		t.Errorf("api_id does not clear the mark: %v %v", a.Status, err)
	}
	a, _, err = tv.Set("p", SetFields{UserID: some[int64](42)})
	if err != nil || a.Status != StatusActive || a.UserID != some[int64](42) {
		t.Errorf("after set --user-id: %+v %v", a, err)
	}
}
