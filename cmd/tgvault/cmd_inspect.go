package main

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// inspectResult is what `tgvault inspect` prints. Fields the source does
// not carry are null.
type inspectResult struct {
	Format       string                `json:"format"`
	Ambiguous    bool                  `json:"ambiguous,omitempty"`
	Alternatives []string              `json:"alternatives,omitempty"`
	Session      sessionstring.Session `json:"session"`
	Peers        *int                  `json:"peers"`
	Lacks        []string              `json:"lacks,omitempty"`
}

func (a *app) inspectCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "inspect [FILE|-]",
		Short: "Show which session format FILE (or stdin) holds and what it carries",
		Long: `Show which session format FILE (or stdin) holds and what it carries, as JSON
(with or without --json): fields the format does not carry are null. Never the
auth key. It needs no vault.`,
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

func (a *app) inspect(src string) error {
	var data []byte
	var err error
	if src == "-" {
		data, err = io.ReadAll(io.LimitReader(a.stdin, maxStdin))
	} else {
		data, err = os.ReadFile(src)
	}
	if err != nil {
		return fmt.Errorf("inspect: %w", err)
	}
	defer clear(data)
	var res inspectResult
	if bytes.HasPrefix(data, []byte("SQLite format 3\x00")) {
		var f *storage.Foreign
		if src == "-" {
			f, err = storage.ReadForeign(data, nil)
		} else {
			f, err = storage.ReadForeignFile(src)
		}
		if err != nil {
			return fmt.Errorf("inspect: %w", err)
		}
		n := len(f.Peers)
		res = inspectResult{Format: string(f.Dialect), Session: f.Session, Peers: &n, Lacks: f.Lacks}
	} else {
		d, err := sessionstring.Decode(string(data))
		if err != nil {
			return fmt.Errorf("inspect: %w (expected a Pyrogram, Telethon, GramJS, mtcute or MTKruto session string, a gotd session file, or a .session file)", err)
		}
		res = inspectResult{Format: d.Format.String(), Ambiguous: d.Ambiguous, Session: d.Session}
		for _, alt := range d.Alternatives {
			res.Alternatives = append(res.Alternatives, alt.String())
		}
	}
	return a.printJSON(res)
}
