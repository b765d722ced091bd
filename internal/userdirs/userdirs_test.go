package userdirs

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
)

func env(m map[string]string) Getenv { return func(k string) string { return m[k] } }

func TestVaultDir(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"TGVAULT_DIR": "/env", "XDG_DATA_HOME": "/xdg"}, "/env"},
		{map[string]string{"XDG_DATA_HOME": "/xdg"}, filepath.Join("/xdg", "tgvault")},
		{map[string]string{"XDG_DATA_HOME": "relative"}, ""}, // ignored: the platform default
	} {
		got, err := VaultDir(env(c.env))
		if err != nil {
			t.Fatal(err)
		}
		if c.want != "" && got != c.want {
			t.Errorf("VaultDir(%v) = %q, want %q", c.env, got, c.want)
		}
		if c.want == "" && (strings.Contains(got, "relative") || !filepath.IsAbs(got)) {
			t.Errorf("VaultDir(%v) = %q, want the absolute platform default", c.env, got)
		}
	}
}

// TestRuntimeDir: XDG_RUNTIME_DIR wins; else run/ in the host state
// directory when its base exists and the path is short enough for a
// socket; else tgvault-<uid> in TMPDIR.
func TestRuntimeDir(t *testing.T) {
	t.Parallel()
	if runtime.GOOS == "windows" {
		t.Skip("HOME is not read on Windows")
	}
	home := t.TempDir()
	deep := filepath.Join(home, strings.Repeat("d", MaxSocketDir))
	if err := os.MkdirAll(deep, 0o700); err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	uid := "tgvault-" + strconv.Itoa(os.Geteuid())
	for _, c := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"xdg", map[string]string{"XDG_RUNTIME_DIR": "/run/user/7", "HOME": home}, "/run/user/7/tgvault"},
		{"home", map[string]string{"HOME": home, "TMPDIR": tmp}, filepath.Join(home, ".local", "state", "tgvault", "run")},
		{"state", map[string]string{"XDG_STATE_HOME": home, "TMPDIR": tmp}, filepath.Join(home, "tgvault", "run")},
		{"no home", map[string]string{"HOME": "/nonexistent-tgvault", "TMPDIR": tmp}, filepath.Join(tmp, uid)},
		{"too deep", map[string]string{"HOME": deep, "TMPDIR": tmp}, filepath.Join(tmp, uid)},
		{"relative tmp", map[string]string{"HOME": "/nonexistent-tgvault", "TMPDIR": "rel"}, filepath.Join(os.TempDir(), uid)},
	} {
		if got := RuntimeDir(env(c.env)); got != c.want {
			t.Errorf("%s: RuntimeDir = %q, want %q", c.name, got, c.want)
		}
	}
	if _, ok := HostStateDir(env(map[string]string{"HOME": "/nonexistent-tgvault"})); ok {
		t.Error("HostStateDir under a home that does not exist")
	}
	if _, err := StateDir(env(map[string]string{"HOME": "relative"})); err == nil {
		t.Error("StateDir with a relative home: no error")
	}
}

// TestSockets: the variables win; else each socket is in RuntimeDir.
func TestSockets(t *testing.T) {
	t.Parallel()
	e := env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000"})
	if got, in := RunSocket(e); got != filepath.Join("/run/user/1000", "tgvault", "run.sock") || !in {
		t.Errorf("RunSocket = %q, %v", got, in)
	}
	if got := AgentSocket(e); got != filepath.Join("/run/user/1000", "tgvault", "agent.sock") {
		t.Errorf("AgentSocket = %q", got)
	}
	e = env(map[string]string{"XDG_RUNTIME_DIR": "/run/user/1000", "TGVAULT_SOCKET": "/srv/api.sock", "TGVAULT_AGENT_SOCKET": "/srv/agent.sock"})
	if got, in := RunSocket(e); got != "/srv/api.sock" || in {
		t.Errorf("RunSocket with TGVAULT_SOCKET = %q, %v", got, in)
	}
	if got := AgentSocket(e); got != "/srv/agent.sock" {
		t.Errorf("AgentSocket with TGVAULT_AGENT_SOCKET = %q", got)
	}
}

// TestDevServerStateDir: dev-server in the state directory; a home that
// is not absolute is StateDir's error.
func TestDevServerStateDir(t *testing.T) {
	t.Parallel()
	got, err := DevServerStateDir(env(map[string]string{"XDG_STATE_HOME": "/xdg"}))
	if want := filepath.Join("/xdg", "tgvault", "dev-server"); err != nil || got != want {
		t.Errorf("with XDG_STATE_HOME: %q, %v; want %q", got, err, want)
	}
	if runtime.GOOS == "windows" {
		return // the home comes from the OS there
	}
	got, err = DevServerStateDir(env(map[string]string{"HOME": "/home/u"}))
	if want := filepath.Join("/home/u", ".local", "state", "tgvault", "dev-server"); err != nil || got != want {
		t.Errorf("with HOME: %q, %v; want %q", got, err, want)
	}
	if _, err := DevServerStateDir(env(map[string]string{"HOME": "relative"})); err == nil {
		t.Error("a relative home: no error")
	}
}
