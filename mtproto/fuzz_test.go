package mtproto

import (
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/sessionstring"
)

// FuzzStoreSession: whatever gotd hands StoreSession, an authorized row
// keeps its key and its user.
func FuzzStoreSession(f *testing.F) {
	key := mttest.RandomKey(f)
	f.Add(gotdJSON(f, key, 2, 1))
	f.Add(gotdJSON(f, mttest.RandomKey(f), 4, 0))
	f.Add([]byte(`{"Version":2,"Data":{}}`))
	f.Add([]byte(`{"Version":1,"Data":{"DC":2,"AuthKey":null}}`))
	f.Add([]byte(`null`))
	m := mttest.NewMemory(f)
	f.Fuzz(func(t *testing.T, raw []byte) {
		mttest.SeedStore(t, m, key, 2, 42)
		s := NewSessionStorage(m, SessionOptions{AllowNewKey: true})
		_ = s.StoreSession(t.Context(), raw)
		r := row(t, m)
		if !r.AuthKey.Equal(key) || r.UserID != sessionstring.Some[int64](42) || r.DCID != 2 {
			t.Fatal("authorized row changed")
		}
	})
}
