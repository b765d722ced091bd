package vault

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
)

// TestWriteAccountsJSONMatchesEncodingJSON: the fast writer gives the same
// JSON values as encoding/json for every field shape.
func TestWriteAccountsJSONMatchesEncodingJSON(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 24, 7, 0, 0, 123456789, time.UTC)
	for _, accts := range [][]Account{
		nil,
		{},
		{{Name: "alice", ID: "00ff", UserID: sessionstring.Some[int64](123456789), DCID: 2, IsBot: sessionstring.Some(false),
			TestMode: sessionstring.Some(true), APIID: sessionstring.Some[int32](12345), KeyID: "32d1586ea457dfc8", Status: StatusActive, Peers: 5, Revision: 7,
			Source: "pyrogram-v3", Created: now, Updated: now.In(time.FixedZone("x", 3600))}},
		{{Name: "no \"fields\"\t\\ ünïcode \u2028 <&>", ID: "x", DCID: 5, Status: StatusBroken, Reason: "file is older than expected", Created: now},
			{Name: "b", UserID: sessionstring.Some[int64](-1), APIID: sessionstring.Some[int32](-5)}},
	} {
		var fast bytes.Buffer
		if err := WriteAccountsJSON(&fast, accts); err != nil {
			t.Fatal(err)
		}
		want := accts
		if want == nil {
			want = []Account{}
		}
		std, _ := json.Marshal(want)
		var a, b any
		if err := json.Unmarshal(fast.Bytes(), &a); err != nil {
			t.Fatalf("fast output is not JSON: %v\n%s", err, fast.Bytes())
		}
		json.Unmarshal(std, &b)
		if !reflect.DeepEqual(a, b) {
			t.Fatalf("fast output differs:\n%s\nencoding/json:\n%s", fast.Bytes(), std)
		}
	}
}
