// Command tgvault is an encrypted vault for many Telegram accounts.
//
// This is the only package that reads argv, environment variables or the
// terminal, decides exit codes and prints.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// Exit codes, documented in README.md.
const (
	exitOK    = 0
	exitError = 1 // the operation failed (bad input, unreadable file, ...)
	exitUsage = 2 // the command line is wrong
)

const usage = `usage: tgvault <command> [arguments]

commands:
  inspect [FILE|-]   show which session format FILE (or stdin) holds and what
                     it carries, as JSON; never the auth key
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	switch args[0] {
	case "inspect":
		return inspect(args[1:], stdin, stdout, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	fmt.Fprintf(stderr, "tgvault: unknown command %q\n%s", args[0], usage)
	return exitUsage
}

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

func inspect(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) > 1 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	var data []byte
	var err error
	src := "-"
	if len(args) == 1 {
		src = args[0]
	}
	if src == "-" {
		data, err = io.ReadAll(io.LimitReader(stdin, 256<<20))
	} else {
		data, err = os.ReadFile(src)
	}
	if err != nil {
		fmt.Fprintf(stderr, "tgvault: inspect: %v\n", err)
		return exitError
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
			fmt.Fprintf(stderr, "tgvault: inspect: %v\n", err)
			return exitError
		}
		n := len(f.Peers)
		res = inspectResult{Format: string(f.Dialect), Session: f.Session, Peers: &n, Lacks: f.Lacks}
	} else {
		d, err := sessionstring.Decode(string(data))
		if err != nil {
			fmt.Fprintf(stderr, "tgvault: inspect: %v\n", err)
			if errors.Is(err, sessionstring.ErrUnknownFormat) {
				fmt.Fprintln(stderr, "tgvault: expected a Pyrogram, Telethon, GramJS, mtcute or MTKruto session string, a gotd session file, or a .session file")
			}
			return exitError
		}
		res = inspectResult{Format: d.Format.String(), Ambiguous: d.Ambiguous, Session: d.Session}
		for _, a := range d.Alternatives {
			res.Alternatives = append(res.Alternatives, a.String())
		}
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(res); err != nil {
		fmt.Fprintf(stderr, "tgvault: inspect: %v\n", err)
		return exitError
	}
	return exitOK
}
