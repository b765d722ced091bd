package daemon_test

import (
	"context"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/vault"
)

// Serving a vault from a Go program, as `tgvault run alice` does: until
// SIGINT or SIGTERM, then every account is saved. (Compiled, not run: it
// needs an unlocked vault.)
func ExampleServe() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	v, err := vault.Open(vault.Options{Dir: os.Getenv("TGVAULT_DIR"), Keyring: vault.SystemKeyring()})
	if err != nil {
		slog.Error("opening the vault", "err", err)
		return
	}
	defer v.Close()
	err = daemon.Serve(ctx, daemon.Config{
		Vault:  v,
		Log:    slog.Default(), // sentences, with "account" / "worker" attributes
		Socket: filepath.Join(os.TempDir(), "my-run.sock"),
		Names:  []string{"alice"}, // empty: every active account
	})
	if err != nil {
		slog.Error("serving", "err", err)
	}
}
