package main

import (
	"encoding/json"
	"net"
	"os"
	"strconv"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/tgvault/tgvault/internal/mtproxytest"
	"github.com/tgvault/tgvault/internal/socks5test"
	"github.com/tgvault/tgvault/mtproto/dial"
)

// cmdTermRun runs `termrun SOCKET`: it sends SIGTERM to the `tgvault
// run` serving the local API on SOCKET (the socket's peer process), as a
// service manager stops it. testscript's own kill sends INT or KILL only.
func cmdTermRun(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: termrun SOCKET")
	}
	p, err := os.FindProcess(socketPID(ts, ts.MkAbs(args[0])))
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
	proxyStats(ts, args[0], srv.Addr, srv.Relayed, srv.Refused, srv.Close)
}

// cmdMTProxy runs `mtproxy FILE SECRET DC ADDR`: it starts an MTProxy for
// the rest of the script (in the test process) with SECRET (hex or base64,
// as in links) that forwards DC to ADDR, and keeps FILE up to date with
// {"addr", "port", "relayed", "refused"}.
func cmdMTProxy(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 4 {
		ts.Fatalf("usage: mtproxy FILE SECRET DC ADDR")
	}
	secret, err := dial.ParseMTProxySecret(args[1])
	ts.Check(err)
	dc, err := strconv.Atoi(args[2])
	ts.Check(err)
	srv, err := mtproxytest.Start(secret, map[int]string{dc: args[3]})
	ts.Check(err)
	proxyStats(ts, args[0], srv.Addr, srv.Relayed, srv.Refused, srv.Close)
}

// proxyStats keeps FILE up to date with a test proxy's {"addr", "relayed",
// "refused"} until the script ends, and then closes the proxy.
func proxyStats(ts *testscript.TestScript, file string, addr func() string, relayed, refused func() int64, closeProxy func() error) {
	path := ts.MkAbs(file)
	write := func() {
		_, port, _ := net.SplitHostPort(addr())
		b, _ := json.Marshal(map[string]any{"addr": addr(), "port": port, "relayed": relayed(), "refused": refused()})
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
		_ = closeProxy()
	})
}
