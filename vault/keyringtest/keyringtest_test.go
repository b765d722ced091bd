package keyringtest_test

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/keyringtest"
)

func TestFakeKeyring(t *testing.T) {
	t.Parallel()
	f := keyringtest.New()
	if _, err := f.Get("s", "u"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Get missing = %v", err)
	}
	if err := f.Delete("s", "u"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Delete missing = %v", err)
	}
	if err := f.Set("s", "u", "one"); err != nil {
		t.Fatal(err)
	}
	if err := f.Set("s", "u", "two"); err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get("s", "u"); err != nil || got != "two" {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if _, err := f.Get("other", "u"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Get of another service = %v", err)
	}
	boom := errors.New("boom")
	f.Fail(boom)
	if err := f.Delete("s", "u"); err != boom {
		t.Fatalf("Delete while failing = %v", err)
	}
	f.Fail(nil)
	if err := f.Delete("s", "u"); err != nil {
		t.Fatal(err)
	}
	if f.Len() != 0 || f.Calls() != 8 {
		t.Fatalf("Len, Calls = %d, %d; want 0, 8", f.Len(), f.Calls())
	}
}

func TestFakeKeyringBlock(t *testing.T) {
	t.Parallel()
	f := keyringtest.New()
	f.Block()
	done := make(chan error, 1)
	go func() { done <- f.Set("s", "u", "x") }()
	select {
	case err := <-done:
		t.Fatalf("Set returned %v while blocked", err)
	case <-time.After(50 * time.Millisecond):
	}
	f.Unblock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, err := f.Get("s", "u"); err != nil || got != "x" {
		t.Fatalf("Get = %q, %v", got, err)
	}
}

func TestFakeKeyringConcurrent(t *testing.T) {
	t.Parallel()
	f := keyringtest.New()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			user := fmt.Sprint(i)
			for range 100 {
				if err := f.Set("s", user, user); err != nil {
					t.Error(err)
				}
				if got, err := f.Get("s", user); err != nil || got != user {
					t.Errorf("Get = %q, %v", got, err)
				}
			}
			if err := f.Delete("s", user); err != nil {
				t.Error(err)
			}
		})
		if i == 8 {
			f.Block()
			f.Unblock()
			f.Fail(nil)
		}
	}
	wg.Wait()
	if f.Len() != 0 {
		t.Fatalf("Len = %d", f.Len())
	}
}
