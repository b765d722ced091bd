// Command tgvault is an encrypted vault for many Telegram accounts.
//
// This is the only package that reads argv, environment variables or the
// terminal, decides exit codes and prints. Everything else (the vault on
// disk, sealing, session formats) lives in the packages below it: a
// command here reads its inputs, calls the vault, classifies the error
// with errors.Is (exit.go) and prints the result, for people or, with
// --json, for scripts. Long work shows a progress bar on a terminal and
// stays quiet when piped.
//
// Layer rule (docs/ARCHITECTURE.md): cmd/tgvault is the top layer; nothing imports
// it. It talks to the vault through package vault's API only, never to
// its files.
//
// The commands, the environment variables and the exit codes are
// documented in README.md and in `tgvault --help`.
package main
