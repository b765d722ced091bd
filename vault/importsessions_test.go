package vault

import (
	"errors"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
)

func TestImportSessions(t *testing.T) {
	tv := newTestVault(t)
	s := func(user int64) sessionstring.Session {
		return sessionstring.Session{DCID: 2, AuthKey: variantKey(t, int(user)), UserID: sessionstring.Some(user), IsBot: sessionstring.Some(false)}
	}
	rs, err := tv.ImportSessions([]sessionstring.Session{s(1), s(2)}, "tdesktop", "/src/tdata", ImportOptions{Name: "tg"})
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 2 || rs[0].Account.Name != "tg" || rs[1].Account.Name != "tg-2" ||
		rs[1].Account.UserID != sessionstring.Some[int64](2) || rs[0].Source != "tdesktop" ||
		!rs[0].PlaintextRemains || rs[0].Lacks[0] != "api_id" {
		t.Fatalf("got %+v", rs)
	}
	// Unnamed: user<ID>.
	rs, err = tv.ImportSessions([]sessionstring.Session{s(3)}, "tdesktop", "", ImportOptions{})
	if err != nil || rs[0].Account.Name != "user3" || rs[0].PlaintextRemains {
		t.Fatalf("got %+v, %v", rs, err)
	}
	// All or none: a-2 is taken, so a is not kept either.
	if _, err := tv.ImportSessions([]sessionstring.Session{s(4)}, "tdesktop", "", ImportOptions{Name: "a-2"}); err != nil {
		t.Fatal(err)
	}
	before, _ := tv.List()
	if _, err := tv.ImportSessions([]sessionstring.Session{s(5), s(6)}, "tdesktop", "", ImportOptions{Name: "a"}); !errors.Is(err, ErrExists) {
		t.Fatalf("got %v, want ErrExists", err)
	}
	after, _ := tv.List()
	if len(after) != len(before) {
		t.Fatalf("%d accounts after a failed import, want %d", len(after), len(before))
	}
	if rep := tv.Doctor(); len(rep) > 0 {
		for _, c := range rep {
			if !c.OK {
				t.Fatalf("doctor: %+v", c)
			}
		}
	}
	if _, err := tv.ImportSessions(nil, "tdesktop", "", ImportOptions{}); !errors.Is(err, ErrBadInput) {
		t.Fatalf("got %v, want ErrBadInput", err)
	}
}
