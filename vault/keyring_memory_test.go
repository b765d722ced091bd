package vault

import (
	"errors"
	"testing"
)

func TestMemoryKeyring(t *testing.T) {
	t.Parallel()
	var k MemoryKeyring
	if _, err := k.Get("s", "u"); !errors.Is(err, ErrKeyringNotFound) {
		t.Fatalf("Get of nothing: %v", err)
	}
	if err := k.Delete("s", "u"); !errors.Is(err, ErrKeyringNotFound) {
		t.Fatalf("Delete of nothing: %v", err)
	}
	if err := k.Set("s", "u", "secret"); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get("s", "u"); got != "secret" || err != nil {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := k.Get("s", "other"); !errors.Is(err, ErrKeyringNotFound) {
		t.Fatalf("another user's: %v", err)
	}
	if err := k.Delete("s", "u"); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Get("s", "u"); !errors.Is(err, ErrKeyringNotFound) {
		t.Fatalf("Get after Delete: %v", err)
	}
}
