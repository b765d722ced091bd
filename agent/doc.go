// Package agent keeps unlocked vault keys in a per-user process where
// there is no OS keyring (a headless server with no D-Bus session, no
// Secret Service), as ssh-agent, gpg-agent and rbw's agent keep theirs.
//
// Serve runs the agent: it listens on a unix socket (mode 0600) in a
// directory of the user's own (0700, checked with package privdir: a
// directory another user made first is refused), answers only peers of
// its own uid (SO_PEERCRED on Linux, LOCAL_PEERCRED on FreeBSD), holds each secret in its own page of locked memory (mlock,
// and MADV_DONTDUMP on Linux; the whole process is locked with mlockall
// where package memlock allows it), never writes one anywhere, forgets
// each at its expiry, and exits once it holds nothing (locked or expired),
// when its socket is removed or replaced, or when nothing is stored within
// a short while of its start. A Client talks to it: Get, Set (starting
// the agent through its Start function when none answers), SetUntil,
// Delete and Info. The vault sees a Client behind its Keyring interface;
// cmd/tgvault only starts the process (tgvault agent) and hardens it (no
// core file, not dumpable).
//
// The agent runs where it reads peer credentials: Linux and FreeBSD
// (Supported). On macOS and Windows the OS keyring is the way; on the
// other BSDs the per-process ways in (TGVAULT_PASSPHRASE_FILE,
// --identity) remain.
//
// Layer rule: agent imports the standard library, golang.org/x/sys and
// internal/privdir; it never imports vault, mtproto,
// storage or cmd (internal/deptest checks the table).
package agent
