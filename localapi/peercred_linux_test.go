package localapi

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/realpart"
)

// envPeerClient makes the test binary a client of the unix socket it names
// (see TestPeerCredClient).
const envPeerClient = "TGVAULT_TEST_PEER_CLIENT"

// TestPeerCredClient is not a test: run by TestAPIRefusesOtherUser as
// another user, it sends one HTTP request to the socket and prints what
// came back (or "refused").
func TestPeerCredClient(t *testing.T) {
	sock := os.Getenv(envPeerClient)
	if sock == "" {
		t.Skip("helper process only")
	}
	c, err := net.DialTimeout("unix", sock, 5*time.Second)
	if err != nil {
		fmt.Println("dial-error", err)
		return
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.WriteString(c, "GET /v1/accounts HTTP/1.0\r\nHost: tgvault\r\n\r\n"); err != nil {
		fmt.Println("refused")
		return
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil || line == "" {
		fmt.Println("refused")
		return
	}
	fmt.Println("answered", strings.TrimSpace(line))
}

// TestAPIRefusesOtherUser runs a client as another uid (nobody) against
// the API socket. The socket and its directory are opened up to everyone
// first, so that only the SO_PEERCRED check stands between the two; a
// control run against a listener without the check, and one as our own
// uid, show that the client does get answers where it should.
func TestAPIRefusesOtherUser(t *testing.T) {
	if os.Getuid() != 0 {
		realpart.Missing(t, "root", "a client can only be run as another uid by root; CI runs as root")
	}
	// The test binary is copied where nobody can execute it.
	dir, err := os.MkdirTemp("", "tgvault-peercred-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "client.test")
	copyFile(t, exe, bin, 0o755)

	const nobody = 65534
	client := func(sock string, uid int) string {
		t.Helper()
		cmd := exec.Command(bin, "-test.run=^TestPeerCredClient$", "-test.count=1")
		cmd.Env = append(os.Environ(), envPeerClient+"="+sock)
		cmd.Dir = dir
		if uid != os.Getuid() {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: nobody}}
		}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("client as uid %d: %v\n%s", uid, err, out)
		}
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "answered") || l == "refused" || strings.HasPrefix(l, "dial-error") {
				return l
			}
		}
		t.Fatalf("client as uid %d printed no outcome:\n%s", uid, out)
		return ""
	}
	serve := func(ln net.Listener) {
		hs := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "[]") }), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = hs.Serve(ln) }()
		t.Cleanup(func() { _ = hs.Close() })
	}

	guarded := filepath.Join(dir, "api.sock")
	ln, err := ListenUnix(guarded)
	if err != nil {
		t.Fatal(err)
	}
	serve(ln)
	if fi, err := os.Stat(guarded); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("API socket mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	if err := os.Chmod(guarded, 0o666); err != nil {
		t.Fatal(err)
	}
	plainPath := filepath.Join(dir, "plain.sock")
	plain, err := net.Listen("unix", plainPath)
	if err != nil {
		t.Fatal(err)
	}
	serve(plain)
	if err := os.Chmod(plainPath, 0o666); err != nil {
		t.Fatal(err)
	}

	if got := client(plainPath, nobody); !strings.HasPrefix(got, "answered") {
		t.Fatalf("control: another uid on an unguarded socket got %q; the test cannot tell the check from the setup", got)
	}
	if got := client(guarded, os.Getuid()); !strings.HasPrefix(got, "answered HTTP/1.0 200") {
		t.Fatalf("our own uid on the API socket got %q, want an answer", got)
	}
	if got := client(guarded, nobody); got != "refused" {
		t.Fatalf("another uid on the API socket got %q, want refused", got)
	}
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	in, err := os.Open(from)
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(out, in); err != nil {
		t.Fatal(err)
	}
	if err := out.Close(); err != nil {
		t.Fatal(err)
	}
}
