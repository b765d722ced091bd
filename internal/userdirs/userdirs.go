// Package userdirs says where tgvault keeps things on a host: the vault
// directory's default, the user's state directory (format anchors, the
// dev server's state) and the runtime directory of the sockets. Each
// answer is a rule of the platform and of the environment given as a
// getenv function; nothing here makes a directory (internal/privdir makes
// and checks the private ones).
//
// Layer rule (docs/ARCHITECTURE.md): the standard library only.
package userdirs

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// Getenv reads an environment variable ("" when unset); os.Getenv, or a
// test's map.
type Getenv func(string) string

// DefaultVaultDoc describes VaultDir's default for --help.
const DefaultVaultDoc = "$XDG_DATA_HOME/tgvault or ~/.local/share/tgvault; on macOS ~/Library/Application Support/tgvault, on Windows %LocalAppData%\\tgvault"

// VaultDir is the vault directory when none is given: TGVAULT_DIR, else
// the platform default:
//
//   - $XDG_DATA_HOME/tgvault when XDG_DATA_HOME is set (any platform);
//   - macOS: ~/Library/Application Support/tgvault (os.UserConfigDir);
//   - Windows: %LocalAppData%\tgvault (not the roaming profile: a vault
//     that roams to a second machine invites using a session twice);
//   - elsewhere: ~/.local/share/tgvault.
func VaultDir(getenv Getenv) (string, error) {
	if d := getenv("TGVAULT_DIR"); d != "" {
		return d, nil
	}
	if d := getenv("XDG_DATA_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tgvault"), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := getenv("LocalAppData"); d != "" {
			return filepath.Join(d, "tgvault"), nil
		}
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no vault directory: %w (use --vault or TGVAULT_DIR)", err)
		}
		return filepath.Join(d, "tgvault"), nil
	case "darwin", "ios":
		d, err := os.UserConfigDir()
		if err != nil {
			return "", fmt.Errorf("no vault directory: %w (use --vault or TGVAULT_DIR)", err)
		}
		return filepath.Join(d, "tgvault"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("no vault directory: %w (use --vault or TGVAULT_DIR)", err)
	}
	return filepath.Join(home, ".local", "share", "tgvault"), nil
}

// StateDir is tgvault's directory of this user's state on this host:
// $XDG_STATE_HOME/tgvault, else ~/.local/state/tgvault (every OS: it is
// ours, not a platform convention's). It lies outside the vault, so its
// attacker cannot write it (the format anchors), and in the user's home,
// so another user cannot make it first (the sockets: RuntimeDir).
func StateDir(getenv Getenv) (string, error) {
	if d := getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tgvault"), nil
	}
	home := getenv("HOME")
	if runtime.GOOS == "windows" || home == "" {
		h, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		home = h
	}
	if !filepath.IsAbs(home) {
		return "", fmt.Errorf("the home directory %q is not absolute", home)
	}
	return filepath.Join(home, ".local", "state", "tgvault"), nil
}

// DevServerStateDir is `tgvault dev-server`'s state directory when none
// is given: dev-server in StateDir (whose error it returns).
func DevServerStateDir(getenv Getenv) (string, error) {
	d, err := StateDir(getenv)
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "dev-server"), nil
}

// HostStateDir is StateDir when the directory it lies under
// (XDG_STATE_HOME, else the home) exists: tgvault makes its own
// directories there, never a home (a service user's HOME=/nonexistent).
func HostStateDir(getenv Getenv) (string, bool) {
	sd, err := StateDir(getenv)
	if err != nil {
		return "", false
	}
	base := getenv("XDG_STATE_HOME")
	if base == "" || !filepath.IsAbs(base) {
		base = filepath.Dir(filepath.Dir(filepath.Dir(sd))) // ~ of ~/.local/state/tgvault
	}
	if fi, err := os.Stat(base); err != nil || !fi.IsDir() {
		return "", false
	}
	return sd, true
}

// MaxSocketDir is the longest runtime directory tgvault uses: a unix
// socket's path is limited to about 104 bytes (108 on Linux), and the
// longest name in it is AgentSocketName.
const MaxSocketDir = 90

// The names of the sockets in the runtime directory.
const (
	RunSocketName   = "run.sock"   // `tgvault run`'s local API
	AgentSocketName = "agent.sock" // the tgvault agent
)

// RunSocket is `tgvault run`'s local API socket when no flag names one:
// TGVAULT_SOCKET, else RunSocketName in RuntimeDir. inRuntimeDir says
// that it is the latter, which the caller makes or checks (privdir).
func RunSocket(getenv Getenv) (path string, inRuntimeDir bool) {
	if s := getenv("TGVAULT_SOCKET"); s != "" {
		return s, false
	}
	return filepath.Join(RuntimeDir(getenv), RunSocketName), true
}

// AgentSocket is the tgvault agent's socket: TGVAULT_AGENT_SOCKET, else
// AgentSocketName in RuntimeDir (beside run's).
func AgentSocket(getenv Getenv) string {
	if s := getenv("TGVAULT_AGENT_SOCKET"); s != "" {
		return s
	}
	return filepath.Join(RuntimeDir(getenv), AgentSocketName)
}

// RuntimeDir is where tgvault's sockets live (run's API, the agent's):
// $XDG_RUNTIME_DIR/tgvault; else run/ in the host state directory under
// the user's home (~/.local/state/tgvault/run), where no other user can
// make it first; else, with no home directory (a service user) or one so
// deep that a socket path in it would pass the OS limit (MaxSocketDir),
// tgvault-<uid> under the temp directory. The caller makes or checks it
// with package privdir: under a shared temp directory another user could
// have made it first.
func RuntimeDir(getenv Getenv) string {
	if d := getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, "tgvault")
	}
	if sd, ok := HostStateDir(getenv); ok {
		if d := filepath.Join(sd, "run"); len(d) <= MaxSocketDir {
			return d
		}
	}
	return filepath.Join(TempDir(getenv), "tgvault-"+strconv.Itoa(os.Geteuid()))
}

// TempDir is $TMPDIR when it is absolute, else the OS's temp directory.
func TempDir(getenv Getenv) string {
	if tmp := getenv("TMPDIR"); tmp != "" && filepath.IsAbs(tmp) {
		return tmp
	}
	return os.TempDir()
}
