package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/agent"
	"github.com/tgvault/tgvault/internal/agentkeyring"
	"github.com/tgvault/tgvault/internal/memlock"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/vault"
)

// agentKeyring returns the tgvault agent behind the vault's Keyring
// interface, or nil where the agent does not run (agent.Supported).
func (a *app) agentKeyring() vault.Keyring {
	if !agent.Supported() {
		return nil
	}
	sock := userdirs.AgentSocket(a.getenv)
	return agentkeyring.New(&agent.Client{Socket: sock, Start: func() error { return startAgent(sock) }})
}

// startAgent starts `tgvault agent` on sock (agent.Spawn).
func startAgent(sock string) error {
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("starting the agent: %w", err)
	}
	return agent.Spawn([]string{exe, "agent", "--socket", sock})
}

// agentCmd is the agent process itself, started by startAgent (hidden:
// nobody runs it by hand).
func (a *app) agentCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:    "agent --socket PATH",
		Short:  "Hold unlocked vault keys in memory for the other tgvault processes (started by unlock)",
		Hidden: true,
		Args:   exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if socket == "" {
				return usagef("--socket is required")
			}
			// The process is hardened in main (no core file, not
			// dumpable); here all of it is locked against swap where
			// that cannot fail later, and each secret's pages anyway.
			locked, _, _ := memlock.Lock(memlock.Auto)
			ctx, stop := signalContext()
			defer stop()
			return agent.ServeSpawned(ctx, agent.Config{Socket: socket, MemoryLocked: locked}, a.stdout)
		},
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the socket `PATH` to serve on")
	return cmd
}
