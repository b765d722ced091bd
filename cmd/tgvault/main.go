package main

import (
	"io"
	"os"

	"github.com/tgvault/tgvault/internal/memlock"
)

func main() {
	memlock.Harden()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run runs one tgvault command line and returns its exit code. It reads
// the process environment through os.Getenv.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	a := &app{stdin: stdin, stdout: stdout, stderr: stderr, getenv: os.Getenv}
	return a.run(args)
}
