package mtproto

import (
	"testing"

	tdsession "github.com/gotd/td/session"

	"github.com/tgvault/tgvault/internal/mttest"
)

// TestSessionMetaParsedOncePerBytes: the session adapter parses the same
// stored meta once (parseMeta), and meta that changed under it (another
// writer of the store) is read anew, never the parse of the old bytes.
func TestSessionMetaParsedOncePerBytes(t *testing.T) {
	t.Parallel()
	store := mttest.NewMemory(t)
	key := mttest.RandomKey(t)
	mttest.SeedStore(t, store, key, 4, 42)
	s := NewSessionStorage(store, SessionOptions{})
	load := func() *tdsession.Data {
		t.Helper()
		data, err := (&tdsession.Loader{Storage: s}).Load(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		return data
	}
	if err := s.StoreSession(t.Context(), gotdJSON(t, key, 4, 777)); err != nil {
		t.Fatal(err)
	}
	if d := load(); d.Salt != 777 || d.Config.ThisDC != 4 {
		t.Fatalf("salt %d, config dc %d", d.Salt, d.Config.ThisDC)
	}
	raw := s.metaRaw
	if raw == nil {
		t.Fatal("the meta was not kept parsed")
	}
	load()
	if &s.metaRaw[0] != &raw[0] {
		t.Error("the same meta was parsed again")
	}
	// Another writer changes the stored meta (a new address and salt).
	if err := store.SetMeta(MetaGotd, []byte(`{"salt":888,"addr":"10.0.0.9:443","config":{"ThisDC":4,"Date":5}}`)); err != nil {
		t.Fatal(err)
	}
	if d := load(); d.Salt != 888 || d.Addr != "10.0.0.9:443" || d.Config.Date != 5 {
		t.Errorf("after the store changed: salt %d, addr %q, config date %d; want 888, 10.0.0.9:443, 5", d.Salt, d.Addr, d.Config.Date)
	}
}
