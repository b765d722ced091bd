package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tgvault/tgvault/internal/socks5test"

	"github.com/tgvault/tgvault/vault"
)

// cmdTermRun runs `termrun VAULTDIR`: it sends SIGTERM to the `tgvault
// run` holding the vault's run lock (the pid in its lock record), as a
// service manager stops it. testscript's own kill sends INT or KILL only.
func cmdTermRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: termrun VAULTDIR")
	}
	b, err := os.ReadFile(filepath.Join(ts.MkAbs(args[0]), "run.lock"))
	ts.Check(err)
	var h vault.LockHolder
	ts.Check(json.Unmarshal(b, &h))
	if h.PID <= 0 {
		ts.Fatalf("termrun: no pid in the run lock")
	}
	p, err := os.FindProcess(h.PID)
	ts.Check(err)
	ts.Check(p.Signal(sigTERM))
}

// cmdStatWait runs `statwait FILE KEY N`: it waits up to 20 s for the
// number KEY of the JSON object in FILE (dev-server --stats-file) to be N,
// then checks that it stays N for a moment (the file is rewritten every
// 50 ms).
func cmdStatWait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: statwait FILE KEY N")
	}
	want, err := strconv.ParseInt(args[2], 10, 64)
	ts.Check(err)
	read := func() (int64, bool) {
		b, err := os.ReadFile(ts.MkAbs(args[0]))
		if err != nil {
			return 0, false
		}
		var m map[string]int64
		if json.Unmarshal(b, &m) != nil {
			return 0, false
		}
		v, ok := m[args[1]]
		return v, ok
	}
	var got int64
	for range 200 {
		var ok bool
		if got, ok = read(); ok && got == want {
			time.Sleep(300 * time.Millisecond)
			if got, _ = read(); got == want {
				return
			}
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	ts.Fatalf("statwait: %s is %d, want %d", args[1], got, want)
}

// cmdSocks5 runs `socks5 FILE USER PASS`: it starts a SOCKS5 proxy for the
// rest of the script (in the test process) that needs USER and PASS, and
// keeps FILE up to date with {"addr", "relayed", "refused"}.
func cmdSocks5(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: socks5 FILE USER PASS")
	}
	srv, err := socks5test.Start(args[1], args[2])
	ts.Check(err)
	path := ts.MkAbs(args[0])
	write := func() {
		b, _ := json.Marshal(map[string]any{"addr": srv.Addr(), "relayed": srv.Relayed(), "refused": srv.Refused()})
		_ = os.WriteFile(path+".tmp", b, 0o600)
		_ = os.Rename(path+".tmp", path)
	}
	write()
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(stopped)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				write()
			}
		}
	}()
	ts.Defer(func() {
		close(done)
		<-stopped
		_ = srv.Close()
	})
}
