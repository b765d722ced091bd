// Package demo is `tgvault demo` as a library: tgvault's main job on a
// throwaway vault. Run makes a temporary directory, starts a dev server
// in it (package mtproto/devserver: real MTProto key exchange and
// encryption; not Telegram), creates a vault there whose key lives only
// in this process's memory (vault.MemoryKeyring), logs the dev server's
// demo bot and demo user in (daemon.Login), serves them with the local
// API (daemon.Serve) until ctx ends, and removes the directory.
//
// Layer rule (docs/ARCHITECTURE.md): demo joins vault and mtproto through
// daemon, as daemon does for run; it sits above daemon and nothing but
// cmd/tgvault imports it. It reads no flags, environment or terminal and
// prints nothing: what the user sees (the lines to try, --info-file) is
// cmd/tgvault's, from the Ready it is given; run's warnings and notes go
// to Config.Log once the accounts are online.
package demo
