package reliability

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/tgvault/tgvault/internal/memlock"
	"github.com/tgvault/tgvault/internal/realpart"
)

// The tgvault agent as an attacker meets it: another local user who
// reaches its socket, or who made its directory first. Headless: no test
// keyring, no D-Bus, so init and unlock hand the key to an agent.

const nobodyUID = 65534

// headless is a vault with no keyring reachable, whose agent socket lives
// under its own TMPDIR (so that tests do not share an agent): a service
// user's, with no home directory (with one, the sockets would be in it).
type headless struct {
	*tv
	tmp string
}

func newHeadless(t *testing.T, name string) *headless {
	t.Helper()
	v := &tv{t: t, name: name}
	v.dir = filepath.Join(root, "vaults", name+"-"+randHex(4))
	v.pass, v.passTxt = writePass(t)
	h := &headless{tv: v, tmp: filepath.Join(root, "tmp", name+"-"+randHex(4))}
	if err := os.MkdirAll(h.tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.run(nil, "lock") })
	return h
}

func (h *headless) run(extra []string, args ...string) result {
	return h.tv.run(append([]string{"TMPDIR=" + h.tmp, "HOME=" + filepath.Join(h.tmp, "no-home")}, extra...), args...)
}

func (h *headless) agentSock() string {
	return filepath.Join(h.tmp, fmt.Sprintf("tgvault-%d", os.Geteuid()), "agent.sock")
}

// errorKind is the kind of a --json error.
func errorKind(stderr string) string {
	var e struct {
		Kind string `json:"kind"`
	}
	lines := strings.Split(strings.TrimSpace(stderr), "\n")
	_ = json.Unmarshal([]byte(lines[len(lines)-1]), &e) // after any warnings
	return e.Kind
}

// TestAgentSocketDirOtherOwner: another user who makes the runtime
// directory ($TMPDIR/tgvault-<uid>) first, 0700 and theirs, gets nothing:
// init, unlock, run and every command that looks for the agent refuse with
// exit 1, kind unsafe_dir, naming the directory and the fix; nothing is
// sent to a socket in it.
func TestAgentSocketDirOtherOwner(t *testing.T) {
	if os.Geteuid() != 0 {
		realpart.Missing(t, "root", "a directory can only be given to another uid by root; CI runs as root")
	}
	h := newHeadless(t, "agentdir")
	dir := filepath.Dir(h.agentSock())
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	// A listener there, as the other user would serve one: it must never
	// see a connection.
	ln, err := net.Listen("unix", h.agentSock())
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	conns := make(chan struct{}, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- struct{}{}
			c.Close()
		}
	}()
	pass := "TGVAULT_PASSPHRASE_FILE=" + h.pass
	outcomes := 0
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{[]string{pass}, []string{"--json", "init"}},
		{[]string{pass}, []string{"--json", "unlock"}},
		{nil, []string{"--json", "run"}},
		{nil, []string{"--json", "list"}},
		{nil, []string{"--json", "status"}},
	} {
		r := h.run(c.env, c.args...)
		ok := r.code == 1 && errorKind(r.stderr) == "unsafe_dir" && strings.Contains(r.stderr, dir) &&
			strings.Contains(r.stderr, fmt.Sprintf("owned by uid %d, not by you", nobodyUID)) && strings.Contains(r.stderr, "rm -r "+dir)
		if c.args[1] == "list" || c.args[1] == "status" || c.args[1] == "unlock" {
			// No vault was made: not found (exit 4) is as good, as long
			// as nothing reached the socket.
			ok = ok || r.code == 4
		}
		if !ok {
			t.Errorf("tgvault %s: exit %d: %s", strings.Join(c.args, " "), r.code, firstLine(r.stderr))
		}
		if ok {
			outcomes++
		}
	}
	// With a vault made elsewhere first (the test keyring), the commands
	// that look for the agent still refuse.
	v := newVault(t, "agentdir-kr")
	for _, args := range [][]string{{"--json", "list"}, {"--json", "run"}} {
		r := v.run([]string{"TMPDIR=" + h.tmp, "HOME=" + filepath.Join(h.tmp, "no-home")}, args...)
		if r.code != 1 || errorKind(r.stderr) != "unsafe_dir" {
			t.Errorf("keyring vault, tgvault %s: exit %d: %s", args[1], r.code, firstLine(r.stderr))
		} else {
			outcomes++
		}
	}
	time.Sleep(100 * time.Millisecond)
	if n := len(conns); n > 0 {
		t.Errorf("%d connections reached the socket in the other user's directory", n)
	}
	figures.add("attack", "socket directory made first by uid %d: %d of 7 commands refused (exit 1 unsafe_dir, or 4 with no vault), connections to its socket %d", nobodyUID, outcomes, len(conns))
}

// TestAgentPeerHelper is not a test: run by TestAgentRefusesOtherUser, it
// asks the agent on the socket in envAgentPeer for the key of the vault id
// in TGVAULT_TEST_AGENT_VAULT, speaking the agent's wire protocol directly
// (no client-side checks), and prints "answered-with-secret", "refused"
// (closed unread) or what else happened. It never prints the secret.
func TestAgentPeerHelper(t *testing.T) {
	sock := os.Getenv(envAgentPeer)
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
	field := func(b []byte, s string) []byte {
		b = binary.BigEndian.AppendUint16(b, uint16(len(s)))
		return append(b, s...)
	}
	body := field(field([]byte{1, 'G'}, "tgvault"), os.Getenv("TGVAULT_TEST_AGENT_VAULT"))
	req := append(binary.BigEndian.AppendUint16(nil, uint16(len(body))), body...)
	if _, err := c.Write(req); err != nil {
		fmt.Println("refused")
		return
	}
	ans, err := io.ReadAll(c)
	switch {
	case err != nil || len(ans) == 0:
		fmt.Println("refused")
	case len(ans) > 3 && ans[2] == 0 && (strings.Contains(string(ans), "AGE-SECRET-KEY-") || strings.Contains(string(ans), "identity")):
		fmt.Println("answered-with-secret")
	default:
		fmt.Printf("answered status %d\n", ans[min(2, len(ans)-1)])
	}
}

// TestAgentRefusesOtherUser: the agent that `tgvault init` starts on a
// headless host answers its own uid only. Its directory and socket are
// opened to everyone first, so that only the agent's peer-uid check
// (SO_PEERCRED) stands between another user and the key: as nobody the
// request is closed unread; the same request as our own uid gets the key.
func TestAgentRefusesOtherUser(t *testing.T) {
	if os.Geteuid() != 0 {
		realpart.Missing(t, "root", "a client can only be run as another uid by root; CI runs as root")
	}
	h := newHeadless(t, "agentpeer")
	// A socket where nobody can reach it once opened up: under a 0755
	// directory outside the harness root (which is 0700).
	pub, err := os.MkdirTemp("", "tgvault-agentpeer-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(pub, "a", "agent.sock")
	env := []string{"TGVAULT_AGENT_SOCKET=" + sock}
	r := h.run(append(env, "TGVAULT_PASSPHRASE_FILE="+h.pass), "--json", "init")
	if r.code != 0 || !strings.Contains(r.stdout, `"held_by": "agent"`) {
		t.Fatalf("headless init: exit %d: %s %s", r.code, r.stdout, r.stderr)
	}
	t.Cleanup(func() { h.run(env, "lock") })
	var st struct {
		VaultID string `json:"vault_id"`
		By      string `json:"unlocked_by"`
	}
	r = h.run(env, "--json", "status")
	if json.Unmarshal([]byte(r.stdout), &st) != nil || st.By != "agent" {
		t.Fatalf("status: %s %s", r.stdout, r.stderr)
	}
	for _, p := range []string{filepath.Dir(sock), sock} {
		if err := os.Chmod(p, 0o777); err != nil {
			t.Fatal(err)
		}
	}
	// The test binary, copied where nobody can execute it.
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	helper := filepath.Join(pub, "peer.test")
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(helper, b, 0o755); err != nil {
		t.Fatal(err)
	}
	ask := func(uid uint32) string {
		cmd := exec.Command(helper, "-test.run=^TestAgentPeerHelper$", "-test.count=1")
		cmd.Env = []string{envAgentPeer + "=" + sock, "TGVAULT_TEST_AGENT_VAULT=" + st.VaultID}
		cmd.Dir = pub
		if uid != 0 {
			cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		}
		out, _ := cmd.CombinedOutput()
		for _, l := range strings.Split(string(out), "\n") {
			if l == "refused" || l == "answered-with-secret" || strings.HasPrefix(l, "answered ") || strings.HasPrefix(l, "dial-error") {
				return l
			}
		}
		return "no outcome: " + string(out)
	}
	own := ask(0)
	other := ask(nobodyUID)
	if own != "answered-with-secret" {
		t.Fatalf("our own uid got %q: the test cannot tell the check from the setup", own)
	}
	if other != "refused" {
		t.Errorf("uid %d got %q, want refused", nobodyUID, other)
	}
	figures.add("attack", "agent socket opened to everyone: own uid %s; uid %d %s", own, nobodyUID, other)
	// Our own client refuses the loosened directory too, and goes on once
	// it is private again.
	if r := h.run(env, "--json", "list"); r.code != 1 || errorKind(r.stderr) != "unsafe_dir" {
		t.Errorf("list through an agent in a 0777 directory: exit %d: %s", r.code, r.stderr)
	}
	if err := os.Chmod(filepath.Dir(sock), 0o700); err != nil {
		t.Fatal(err)
	}
	if r := h.run(env, "--json", "list"); r.code != 0 {
		t.Errorf("list through the agent after the attempt: exit %d: %s", r.code, r.stderr)
	}
}

// TestAgentProcess: the agent process keeps no core file, locks what it
// can, and leaves no file but its socket and lock behind it.
func TestAgentProcess(t *testing.T) {
	h := newHeadless(t, "agentproc")
	r := h.run([]string{"TGVAULT_PASSPHRASE_FILE=" + h.pass}, "--json", "init")
	if r.code != 0 {
		t.Fatalf("headless init: exit %d: %s", r.code, r.stderr)
	}
	pid := agentPID(t, h.agentSock())
	limits, err := os.ReadFile(fmt.Sprintf("/proc/%d/limits", pid))
	if err != nil {
		t.Fatal(err)
	}
	var core string
	for _, l := range strings.Split(string(limits), "\n") {
		if strings.HasPrefix(l, "Max core file size") {
			core = strings.Join(strings.Fields(l)[4:6], " ")
		}
	}
	if core != "0 0" {
		t.Errorf("agent core limit %q, want 0 0", core)
	}
	lck, err := memlock.ProcKB(pid, "status", "VmLck:")
	if err != nil {
		t.Fatal(err)
	}
	if lck == 0 {
		t.Errorf("agent VmLck is 0: not even its secret's page is locked")
	}
	ents, _ := os.ReadDir(filepath.Dir(h.agentSock()))
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "agent.sock agent.sock.lock" {
		t.Errorf("agent directory holds %v", names)
	}
	figures.add("agent", "pid %d: core limit %s, VmLck %d kB, files %v", pid, core, lck, names)
	if r := h.run(nil, "lock"); r.code != 0 {
		t.Fatal(r.stderr)
	}
	for range 50 {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Errorf("the agent (pid %d) still runs 5 s after lock", pid)
}

// TestAgentNotDumpable: an agent running as another user than root is
// not dumpable: its /proc entries belong to root, not to its own uid, so
// that no other process of that user can ptrace it or read its memory.
// (Run as root the ownership cannot tell; the agent here runs as nobody.)
func TestAgentNotDumpable(t *testing.T) {
	if os.Geteuid() != 0 {
		realpart.Missing(t, "root", "an agent can only be run as another uid by root; CI runs as root")
	}
	pub, err := os.MkdirTemp("", "tgvault-agentdump-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(pub) })
	if err := os.Chmod(pub, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	exe := filepath.Join(pub, "tgvault")
	if err := os.WriteFile(exe, b, 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(pub, "run")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, nobodyUID, nobodyUID); err != nil {
		t.Fatal(err)
	}
	sock := filepath.Join(dir, "agent.sock")
	cmd := exec.Command(exe, "agent", "--socket", sock)
	cmd.Env = []string{}
	cmd.Dir = pub
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobodyUID, Gid: nobodyUID}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	line := make([]byte, 64)
	n, _ := out.Read(line)
	if !strings.HasPrefix(string(line[:n]), "ok pid") {
		t.Fatalf("the agent as nobody said %q", line[:n])
	}
	var st syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/environ", cmd.Process.Pid), &st); err != nil {
		t.Fatal(err)
	}
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", cmd.Process.Pid))
	if !strings.Contains(string(status), fmt.Sprintf("Uid:\t%d", nobodyUID)) {
		t.Fatalf("the agent does not run as nobody:\n%s", status)
	}
	if st.Uid != 0 {
		t.Errorf("/proc/PID/environ of the agent (uid %d) belongs to uid %d: it is dumpable", nobodyUID, st.Uid)
	}
	figures.add("agent", "run as uid %d: /proc/PID owned by uid %d (0: not dumpable)", nobodyUID, st.Uid)
}

// agentPID finds the pid of the process listening on sock.
func agentPID(t *testing.T, sock string) int {
	t.Helper()
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
		if strings.Contains(string(cmdline), "agent\x00--socket\x00"+sock) {
			return pid
		}
	}
	t.Fatalf("no agent process serves %s", sock)
	return 0
}
