package foreign

import (
	"os"
	"path/filepath"
	"testing"
)

func TestIsSQLite(t *testing.T) {
	t.Parallel()
	file, err := os.ReadFile(filepath.Join(foreignVectors, "pyrogram/pyrogram_v3.session"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tt := range []struct {
		name string
		data []byte
		want bool
	}{
		{"a Pyrogram .session file", file, true},
		{"the magic alone", []byte(sqliteMagic), true},
		{"the magic cut short", []byte(sqliteMagic[:15]), false},
		{"a session string", []byte("1BVtsOK4Bu"), false},
		{"empty", nil, false},
		{"the magic later", append([]byte(" "), sqliteMagic...), false},
	} {
		if got := IsSQLite(tt.data); got != tt.want {
			t.Errorf("%s: IsSQLite = %v, want %v", tt.name, got, tt.want)
		}
	}
}
