package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/privdir"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/vault"
)

// TestDemoFailure: whatever fails inside the demo, its failure is exit 1,
// kind "error", with the demo's text: the cause's own class (a bad input,
// an unsafe directory, a locked vault: the throwaway vault's, not the
// user's) does not reach the exit code.
func TestDemoFailure(t *testing.T) {
	t.Parallel()
	for _, cause := range []error{vault.ErrBadInput, privdir.ErrNotPrivate, vault.ErrLocked, vault.ErrNotFound, &localapi.SocketInUseError{Path: "/x"}} {
		inner := fmt.Errorf("demo: login demo-bot: %w", cause)
		err := demoFailure(inner)
		if code, kind := classify(err); code != exitError || kind != "error" {
			t.Errorf("%v: exit %d, kind %q; want %d, error", cause, code, kind, exitError)
		}
		if err.Error() != inner.Error() {
			t.Errorf("text %q; want %q", err, inner)
		}
	}
	if demoFailure(nil) != nil {
		t.Error("demoFailure(nil) is not nil")
	}
}

// TestDemoFails: end to end, a demo whose run cannot take its socket (the
// --socket path is a file) fails with exit 1, kind "error", saying why,
// and leaves no throwaway vault behind.
func TestDemoFails(t *testing.T) {
	file := filepath.Join(t.TempDir(), "not-a-socket")
	if err := os.WriteFile(file, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp) // where the demo makes its throwaway directory
	var out, errb bytes.Buffer
	if code := run([]string{"--json", "demo", "--socket", file}, nil, &out, &errb); code != exitError {
		t.Fatalf("exit %d; want %d\nstderr: %s", code, exitError, errb.String())
	}
	var e struct{ Error, Kind string }
	if err := json.Unmarshal(errb.Bytes(), &e); err != nil {
		t.Fatalf("stderr is not one JSON error: %v\n%s", err, errb.String())
	}
	if e.Kind != "error" || !strings.Contains(e.Error, "not a socket") {
		t.Errorf("error %+v; want kind error, saying the socket is not one", e)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("the demo left %v in TMPDIR", left)
	}
}
