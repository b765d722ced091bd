package main

import (
	"fmt"

	"os"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/vault"
)

func (a *app) inspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [FILE|-]",
		Short: "Show which session format FILE (or stdin) holds and what it carries",
		Long: `Show which session format FILE (or stdin) holds and what it carries, as JSON
(with or without --json): fields the format does not carry are null. Never the
auth key. It needs no vault.

A sealed string or file (tgvault's hand-off strings from export --to or
--passphrase, or any age file) is recognised without a key: inspect says how
it was sealed (to how many age X25519 recipients, to SSH keys, or with a
passphrase), from its public header; what is inside stays sealed.`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usagef("inspect takes at most one FILE")
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			src := "-"
			if len(args) == 1 {
				src = args[0]
			}
			return a.inspect(src)
		},
	}
}

// inspect prints what vault.Inspect finds in src (a file, or - for
// stdin).
func (a *app) inspect(src string) error {
	var data []byte
	var err error
	path := src
	// As import reads a source: no more than the largest session, and a
	// larger one is an error (ErrSourceTooLarge), not cut off.
	if src == "-" {
		path = ""
		data, err = vault.ReadStream(a.stdin)
	} else {
		var f *os.File
		if f, err = os.Open(src); err == nil {
			data, err = vault.ReadStream(f)
			f.Close()
		}
	}
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer clear(data)
	res, err := vault.Inspect(data, path)
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	return a.printJSON(res)
}
