package localapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
)

// TestAPIBodyTimeout: a client that sends its headers and then trickles
// (or withholds) the body gets 408 once the body timeout passes, and its
// connection is closed; one whose body arrives in parts within the
// timeout is served as usual.
func TestAPIBodyTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	pool := mtproto.NewPool(mtproto.PoolOptions{})
	m := mttest.NewMemory(t)
	mttest.SeedStore(t, m, mttest.RandomKey(t), 2, 1000)
	if err := pool.Add("alice", m); err != nil {
		t.Fatal(err)
	}
	sock := serveAPI(t, handler(pool, Options{}, timeout))

	// send writes the request head announcing size body bytes, then the
	// parts, pause apart, and returns the status and whether the server
	// closed the connection after its answer.
	send := func(t *testing.T, size int, pause time.Duration, parts ...string) (int, string, bool, time.Duration) {
		t.Helper()
		c, err := net.Dial("unix", sock)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(10 * time.Second))
		start := time.Now()
		if _, err := fmt.Fprintf(c, "POST /v1/accounts/alice/invoke HTTP/1.1\r\nHost: tgvault\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", size); err != nil {
			t.Fatal(err)
		}
		for i, p := range parts {
			if i > 0 {
				time.Sleep(pause)
			}
			if _, err := io.WriteString(c, p); err != nil {
				break // the server gave up on the body and closed: read why
			}
		}
		br := bufio.NewReader(c)
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		took := time.Since(start)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// A closed connection reads EOF at once; an open one times out.
		_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		_, err = br.ReadByte()
		closed := err == io.EOF
		return resp.StatusCode, string(b), closed, took
	}

	t.Run("withheld", func(t *testing.T) {
		code, body, closed, took := send(t, 100, 0, `{"_":"help.getConfig"`)
		if code != http.StatusRequestTimeout || !strings.Contains(body, "timed out") {
			t.Errorf("answer %d %s, want 408 naming the timeout", code, body)
		}
		if took < timeout || took > timeout+2*time.Second {
			t.Errorf("answered after %v, want just after %v", took, timeout)
		}
		if !closed {
			t.Error("connection left open after the 408")
		}
	})
	t.Run("trickled", func(t *testing.T) {
		parts := strings.Split(strings.Repeat("x", 20), "")
		code, body, closed, _ := send(t, len(parts), timeout/5, parts...)
		if code != http.StatusRequestTimeout || !closed {
			t.Errorf("answer %d %s (closed %v), want 408 and closed", code, body, closed)
		}
	})
	t.Run("in time", func(t *testing.T) {
		// Malformed on purpose: decoding fails at once without a session,
		// which shows the body was read whole, in parts, within the limit.
		parts := []string{`{"_":`, `"help.getConfig",`}
		size := len(parts[0]) + len(parts[1])
		code, body, closed, _ := send(t, size, timeout/3, parts...)
		if code != http.StatusBadRequest || closed {
			t.Errorf("answer %d %s (closed %v), want 400 on an open connection", code, body, closed)
		}
	})
}
