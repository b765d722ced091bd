package demo

import (
	"context"
	"errors"
	"net"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/internal/testhooks"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/localapi"
)

// shortTemp is a temporary directory short enough for a unix socket path
// inside it (t.TempDir's can exceed the 104 bytes of macOS).
func shortTemp(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "demo")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	return dir
}

// empty fails t unless dir holds nothing.
func empty(t *testing.T, dir string) {
	t.Helper()
	left, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range left {
		t.Errorf("left in %s: %s", dir, e.Name())
	}
}

// TestRun: the demo's two accounts are online behind the local API when
// Ready is called, the bot a bot and the user a user; everything lives in
// the throwaway directory, which is gone once ctx ends and Run returns
// nil, with Stopped and Removed called once each.
func TestRun(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	tmp, sockDir := shortTemp(t), shortTemp(t)
	sock := filepath.Join(sockDir, "d.sock")
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var (
		mu      sync.Mutex
		ready   []Ready
		stopped []daemon.Stopped
		removed []string
	)
	err := Run(ctx, Config{
		TempDir: tmp,
		Socket:  sock,
		Ready: func(r Ready) error {
			defer cancel() // the demo's Ctrl-C
			mu.Lock()
			ready = append(ready, r)
			mu.Unlock()
			if left, _ := os.ReadDir(tmp); len(left) != 1 || filepath.Join(tmp, left[0].Name()) != r.Dir {
				t.Errorf("the temporary directory holds %v, not only %s", left, r.Dir)
			}
			if _, err := os.Stat(filepath.Join(r.Dir, "vault")); err != nil {
				t.Errorf("no vault in the throwaway directory: %v", err)
			}
			c := localapi.NewClient(r.Socket)
			for name, bot := range map[string]bool{BotName: true, UserName: false} {
				me, err := c.Me(ctx, name)
				if err != nil || me.IsBot != bot {
					t.Errorf("%s: me %+v, %v; want is_bot %v", name, me, err, bot)
				}
			}
			return nil
		},
		Stopped: func(s daemon.Stopped) { mu.Lock(); stopped = append(stopped, s); mu.Unlock() },
		Removed: func(dir string) { removed = append(removed, dir) },
	})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(ready) != 1 {
		t.Fatalf("Ready called %d times", len(ready))
	}
	r := ready[0]
	if r.Socket != sock || r.OnDefaultSocket || r.Server == "" || len(r.Accounts) != 2 || r.Accounts[0] != BotName || r.Accounts[1] != UserName {
		t.Errorf("Ready %+v", r)
	}
	if len(stopped) != 1 || stopped[0].Changed != 2 {
		t.Errorf("Stopped %+v; want once, with the 2 accounts saved", stopped)
	}
	if len(removed) != 1 || removed[0] != r.Dir {
		t.Errorf("Removed %v; want [%s]", removed, r.Dir)
	}
	empty(t, tmp)
	if localapi.InUse(sock) {
		t.Error("something still answers on the demo's socket")
	}
}

// TestRunStopBeforeReady: ctx ending at any point before the accounts are
// online (Ctrl-C) is a clean stop: nil, Ready never called, Stopped not
// either (nothing was said to be running), the directory removed.
func TestRunStopBeforeReady(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	for _, after := range []time.Duration{0, 50 * time.Millisecond, 300 * time.Millisecond, time.Second} {
		t.Run(after.String(), func(t *testing.T) {
			tmp := shortTemp(t)
			ctx, cancel := context.WithTimeout(t.Context(), after)
			defer cancel()
			removed := 0
			err := Run(ctx, Config{
				TempDir: tmp,
				Socket:  filepath.Join(tmp, "d.sock"),
				Ready:   func(Ready) error { t.Error("Ready called"); return nil },
				Stopped: func(daemon.Stopped) { t.Error("Stopped called before the accounts were online") },
				Removed: func(string) { removed++ },
			})
			if ctx.Err() == nil {
				t.Skipf("the demo was online within %v (Run: %v)", after, err)
			}
			if err != nil {
				t.Errorf("Run stopped %v in: %v; want a clean stop", after, err)
			}
			if removed != 1 {
				t.Errorf("Removed called %d times", removed)
			}
			if left, _ := os.ReadDir(tmp); len(left) != 0 {
				t.Errorf("left behind: %v", left)
			}
		})
	}
}

// TestRunReadyError: an error from Ready (the CLI could not write
// --info-file) stops the demo: Run returns it, and the directory is gone.
func TestRunReadyError(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	tmp := shortTemp(t)
	errPrint := errors.New("cannot print")
	removed := 0
	err := Run(t.Context(), Config{
		TempDir: tmp,
		Socket:  filepath.Join(tmp, "d.sock"),
		Ready:   func(Ready) error { return errPrint },
		Removed: func(string) { removed++ },
	})
	if !errors.Is(err, errPrint) {
		t.Fatalf("Run: %v; want Ready's error", err)
	}
	if removed != 1 {
		t.Errorf("Removed called %d times", removed)
	}
	empty(t, tmp)
}

// TestRunSocketTaken: a socket where something answers is not taken over
// (run refuses it): Run fails saying so, before Ready, and cleans up.
func TestRunSocketTaken(t *testing.T) {
	testhooks.SetScryptWorkFactor(t, 10)
	tmp, sockDir := shortTemp(t), shortTemp(t)
	sock := listen(t, filepath.Join(sockDir, "taken.sock"))
	err := Run(t.Context(), Config{
		TempDir: tmp,
		Socket:  sock,
		Ready:   func(Ready) error { t.Error("Ready called"); return nil },
	})
	if _, ok := errors.AsType[*localapi.SocketInUseError](err); !ok {
		t.Fatalf("Run: %v; want a *localapi.SocketInUseError", err)
	}
	empty(t, tmp)
	if !localapi.InUse(sock) {
		t.Error("the demo took the socket away from what answered there")
	}
}

// listen answers on a unix socket at path until the test ends.
func listen(t *testing.T, path string) string {
	t.Helper()
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return path
}

// TestSocket: with no Socket given, the demo takes the default socket unless
// something answers there, else one in its throwaway directory.
func TestSocket(t *testing.T) {
	t.Parallel()
	dir := shortTemp(t)
	free := filepath.Join(dir, "free.sock")
	taken := listen(t, filepath.Join(dir, "taken.sock"))
	own := filepath.Join(dir, userdirs.RunSocketName)
	for _, c := range []struct {
		def, want string
		isDefault bool
	}{
		{free, free, true},
		{taken, own, false},
		{"", own, false}, // no usable default socket
	} {
		if got, isDefault := socket(c.def, dir); got != c.want || isDefault != c.isDefault {
			t.Errorf("socket(%q) = %q, %v; want %q, %v", c.def, got, isDefault, c.want, c.isDefault)
		}
	}
}
