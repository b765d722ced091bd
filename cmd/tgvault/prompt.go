package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"golang.org/x/term"

	"github.com/tgvault/tgvault/crypto"
)

// askPassphrase reads a passphrase from the terminal without echo: stdin
// when it is a terminal, else /dev/tty (stdin may carry a session being
// imported). With confirm it asks twice and requires a match. It never
// reads a passphrase from anything but a terminal or a file named by the
// environment.
func (a *app) askPassphrase(prompt string, confirm bool) (crypto.Passphrase, error) {
	in, out, closeTTY, err := a.terminal()
	if err != nil {
		return nil, err
	}
	defer closeTTY()
	read := func(prompt string) (crypto.Passphrase, error) {
		fmt.Fprint(out, prompt)
		b, err := term.ReadPassword(int(in.Fd()))
		fmt.Fprintln(out)
		if err != nil {
			return nil, fmt.Errorf("reading the passphrase: %w", err)
		}
		return crypto.Passphrase(b), nil
	}
	p, err := read(prompt)
	if err != nil {
		return nil, err
	}
	if len(p) == 0 {
		return nil, errors.New("empty passphrase")
	}
	if confirm {
		q, err := read("Repeat it: ")
		if err != nil {
			p.Wipe()
			return nil, err
		}
		defer q.Wipe()
		if !bytes.Equal(p, q) {
			p.Wipe()
			return nil, errors.New("the passphrases do not match")
		}
	}
	return p, nil
}

// terminal returns the terminal to prompt on.
func (a *app) terminal() (in *os.File, out io.Writer, closeTTY func(), err error) {
	if f, ok := a.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		return f, a.stderr, func() {}, nil
	}
	tty, err := os.OpenFile("/dev/tty", os.O_RDWR, 0)
	if err != nil || !term.IsTerminal(int(tty.Fd())) {
		if tty != nil {
			tty.Close()
		}
		return nil, nil, nil, errNoTerminal
	}
	return tty, tty, func() { tty.Close() }, nil
}

// passphrase returns the passphrase in the file named by env, or asks for
// it on the terminal.
func (a *app) passphrase(env, prompt string, confirm bool) (crypto.Passphrase, error) {
	p, err := a.passphraseFromEnv(env)
	if err != nil || p != nil {
		return p, err
	}
	p, err = a.askPassphrase(prompt, confirm)
	if errors.Is(err, errNoTerminal) {
		return nil, fmt.Errorf("%w; set %s to a file holding it", err, env)
	}
	return p, err
}

// errNotAsked is a question that could not be put: no terminal, and no
// flag that answers it.
var errNotAsked = errors.New("no terminal to ask on")

// confirm asks question on the terminal (stdin when it is one, else
// /dev/tty) and reports whether the answer was yes. Without a terminal it
// fails with errNotAsked: the caller names the flag that answers it.
func (a *app) confirm(question string) (bool, error) {
	in, out, closeTTY, err := a.terminal()
	if errors.Is(err, errNoTerminal) {
		return false, errNotAsked
	}
	if err != nil {
		return false, err
	}
	defer closeTTY()
	fmt.Fprintf(out, "%s [y/N] ", question)
	line, err := bufio.NewReader(in).ReadString('\n')
	if err != nil && line == "" {
		fmt.Fprintln(out)
		return false, nil
	}
	switch strings.ToLower(strings.TrimSpace(line)) {
	case "y", "yes":
		return true, nil
	}
	return false, nil
}

// newPassphrase returns a new passphrase (init, passwd, export
// --passphrase) from the file named by env, or asked twice on the
// terminal, and refuses one shorter than crypto.MinPassphraseLen unless
// weak is set (--weak-passphrase).
func (a *app) newPassphrase(env, prompt string, weak bool) (crypto.Passphrase, error) {
	p, err := a.passphrase(env, prompt, true)
	if err != nil {
		return nil, err
	}
	if err := crypto.CheckPassphrase(p); err != nil && !weak {
		p.Wipe()
		return nil, usagef("%v: a passphrase that short falls to an offline guessing attack on a copy of the file it seals; choose a longer one (a few words), or add --weak-passphrase to accept it", err)
	}
	return p, nil
}
