package agentkeyring

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/tgvault/tgvault/agent"
	"github.com/tgvault/tgvault/vault"
)

// TestKeyringOverRealAgent: against a real agent, a secret set is got,
// PID is the agent's, a deleted secret and an agent that does not run
// are vault.ErrKeyringNotFound.
func TestKeyringOverRealAgent(t *testing.T) {
	if !agent.Supported() {
		t.Skip("no tgvault agent on this OS (agent.Supported)")
	}
	dir, err := os.MkdirTemp("", "akr") // short: a socket path has ~107 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "run", "agent.sock")
	k := New(&agent.Client{Socket: sock})
	if _, err := k.Get("s", "u"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Get with no agent running: %v, want ErrKeyringNotFound", err)
	}

	ready := make(chan agent.Info, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- agent.Serve(ctx, agent.Config{Socket: sock, Ready: func(in agent.Info) { ready <- in }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	var in agent.Info
	select {
	case in = <-ready:
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the agent did not get ready")
	}
	if err := k.SetUntil("s", "u", "secret", time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got, err := k.Get("s", "u"); got != "secret" || err != nil {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if pid, err := k.PID(); pid != in.PID || err != nil {
		t.Fatalf("PID = %d, %v; want %d", pid, err, in.PID)
	}
	if _, err := k.Get("s", "other"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("Get of a secret it does not hold: %v", err)
	}
	if err := k.Delete("s", "u"); err != nil {
		t.Fatal(err)
	}
	if err := k.Delete("s", "u"); !errors.Is(err, vault.ErrKeyringNotFound) {
		t.Fatalf("second Delete: %v", err)
	}
}
