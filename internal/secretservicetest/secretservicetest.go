// Package secretservicetest gives tests a real Secret Service: a private
// D-Bus session bus (dbus-daemon) with an unlocked gnome-keyring on it,
// started once per test binary on first use and stopped by Main, as
// internal/pgtest does for PostgreSQL. Inside .ci/secret-service (which
// sets TGVAULT_REAL_KEYRING=1) the one that script started is used
// instead. Where dbus-daemon or gnome-keyring-daemon is not installed the
// test skips loudly (fails under TGVAULT_REQUIRE_REAL=1), through
// internal/realpart. It can also lock and unlock the login collection, so
// that tests can show what a locked keyring does to tgvault. It is for
// tests only; nothing outside tests imports it.
//
// A test package that uses it calls Main from its TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(secretservicetest.Main(m)) }
//
// and each test asks for the service:
//
//	svc := secretservicetest.Start(t) // sets DBUS_SESSION_BUS_ADDRESS for this process
package secretservicetest

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/tgvault/tgvault/internal/realpart"
)

const (
	// EnvReal is 1 inside .ci/secret-service.
	EnvReal = "TGVAULT_REAL_KEYRING"
	// EnvPassword holds the login collection's throw-away password there
	// (and in this process once Start has run).
	EnvPassword = "TGVAULT_REAL_KEYRING_PASSWORD"

	secretsName = "org.freedesktop.secrets"
	secretsPath = dbus.ObjectPath("/org/freedesktop/secrets")
	// LoginCollection is the collection go-keyring stores secrets in.
	LoginCollection = dbus.ObjectPath("/org/freedesktop/secrets/collection/login")

	installHint   = "apt-get install --no-install-recommends gnome-keyring dbus"
	startDeadline = 20 * time.Second
)

// ErrNotInstalled: dbus-daemon or gnome-keyring-daemon is missing.
var ErrNotInstalled = errors.New("secretservicetest: dbus-daemon or gnome-keyring-daemon not installed")

// Service is a running Secret Service on a session bus.
type Service struct {
	// Addr is the bus's address, for DBUS_SESSION_BUS_ADDRESS.
	Addr string
	// Password unlocks the login collection.
	Password string

	dir     string    // the temporary directory of a private one
	bus     *exec.Cmd // dbus-daemon; nil for .ci/secret-service's
	keyring *exec.Cmd // gnome-keyring-daemon
}

// shared is the one service of this test binary.
var shared struct {
	inMain bool
	once   sync.Once
	svc    *Service
	err    error
}

// Main runs the tests of m and then stops the Secret Service Start
// started for them, if any, and removes its files.
func Main(m interface{ Run() int }) int {
	shared.inMain = true
	code := m.Run()
	if shared.svc != nil {
		shared.svc.stop()
	}
	return code
}

// Get returns the test binary's Secret Service, starting it on first use,
// and points this process at it (DBUS_SESSION_BUS_ADDRESS, EnvPassword:
// go-keyring's shared connection reads the address once). It fails with
// ErrNotInstalled where the programs are missing. Start is the form for
// tests; Get is for test harnesses without a testing.TB (testscript).
func Get() (*Service, error) {
	if !shared.inMain {
		return nil, errors.New("secretservicetest: the test binary's TestMain must call secretservicetest.Main, which stops the service Get starts")
	}
	shared.once.Do(func() {
		shared.svc, shared.err = start()
		if shared.err == nil {
			os.Setenv("DBUS_SESSION_BUS_ADDRESS", shared.svc.Addr)
			os.Setenv(EnvPassword, shared.svc.Password)
		}
	})
	return shared.svc, shared.err
}

// Start is Get for a test: it skips t loudly where the programs are
// missing (fails it under TGVAULT_REQUIRE_REAL=1), and fails it when the
// service does not start.
func Start(t testing.TB) *Service {
	t.Helper()
	svc, err := Get()
	if errors.Is(err, ErrNotInstalled) {
		realpart.Missing(t, "Secret Service", installHint)
	}
	if err != nil {
		t.Fatalf("secretservicetest: %v", err)
	}
	return svc
}

// start finds .ci/secret-service's service or starts a private one.
//
// Long: starting the real parts takes their steps in order (a private bus
// config, dbus-daemon, gnome-keyring unlocked), each undone on failure;
// test helper.
func start() (*Service, error) {
	if os.Getenv(EnvReal) == "1" {
		addr, pw := os.Getenv("DBUS_SESSION_BUS_ADDRESS"), os.Getenv(EnvPassword)
		if addr == "" || pw == "" {
			return nil, errors.New(EnvReal + "=1 but DBUS_SESSION_BUS_ADDRESS or " + EnvPassword + " is empty")
		}
		return &Service{Addr: addr, Password: pw}, nil
	}
	busBin, err1 := exec.LookPath("dbus-daemon")
	krBin, err2 := exec.LookPath("gnome-keyring-daemon")
	if err1 != nil || err2 != nil {
		return nil, ErrNotInstalled
	}
	dir, err := os.MkdirTemp("", "ss") // short: it holds the bus socket
	if err != nil {
		return nil, err
	}
	s := &Service{dir: dir, Password: "tgvault-test-" + rand.Text()}
	ok := false
	defer func() {
		if !ok {
			s.stop()
		}
	}()
	for _, d := range []string{"run", "data", "config", "cache"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	// A bus with no service directories: nothing is activated on it, so
	// the Secret Service is the gnome-keyring started below, unlocked.
	conf := filepath.Join(dir, "bus.conf")
	if err := os.WriteFile(conf, []byte(`<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <listen>unix:dir=`+dir+`</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`), 0o600); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(filepath.Join(dir, "log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s.bus = exec.Command(busBin, "--config-file="+conf, "--nofork", "--print-address")
	s.bus.Stderr = logf
	out, err := s.bus.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := s.bus.Start(); err != nil {
		return nil, fmt.Errorf("starting dbus-daemon: %w", err)
	}
	addrc := make(chan string, 1)
	go func() {
		l, _ := bufio.NewReader(out).ReadString('\n')
		addrc <- strings.TrimSpace(l)
	}()
	select {
	case s.Addr = <-addrc:
	case <-time.After(startDeadline):
	}
	if s.Addr == "" {
		return nil, fmt.Errorf("dbus-daemon printed no address; %s", s.logTail())
	}

	env := []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + dir,
		"DBUS_SESSION_BUS_ADDRESS=" + s.Addr,
		"XDG_RUNTIME_DIR=" + filepath.Join(dir, "run"), // gnome-keyring's control socket
		"XDG_DATA_HOME=" + filepath.Join(dir, "data"),  // keyrings/login.keyring
		"XDG_CONFIG_HOME=" + filepath.Join(dir, "config"),
		"XDG_CACHE_HOME=" + filepath.Join(dir, "cache"),
		"NO_AT_BRIDGE=1",
	}
	// The login collection is made, and unlocked, with the password on
	// stdin; it must not be empty (no login collection is made then).
	s.keyring = exec.Command(krBin, "--foreground", "--unlock", "--components=secrets")
	s.keyring.Env = env
	s.keyring.Dir = dir
	s.keyring.Stdin = strings.NewReader(s.Password)
	s.keyring.Stdout, s.keyring.Stderr = logf, logf
	if err := s.keyring.Start(); err != nil {
		return nil, fmt.Errorf("starting gnome-keyring-daemon: %w", err)
	}
	if err := s.waitOwned(); err != nil {
		return nil, err
	}
	ok = true
	return s, nil
}

// waitOwned waits until org.freedesktop.secrets has an owner on the bus.
func (s *Service) waitOwned() error {
	ctx, cancel := context.WithTimeout(context.Background(), startDeadline)
	defer cancel()
	conn, err := dbus.Connect(s.Addr, dbus.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("connecting to the private bus: %w; %s", err, s.logTail())
	}
	defer conn.Close()
	for {
		var owned bool
		err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, secretsName).Store(&owned)
		if err == nil && owned {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%s has no owner %v after starting gnome-keyring-daemon; %s", secretsName, startDeadline, s.logTail())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// stop ends a private service and removes its files.
func (s *Service) stop() {
	for _, c := range []*exec.Cmd{s.keyring, s.bus} {
		if c != nil && c.Process != nil {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}
	if s.dir != "" {
		_ = os.RemoveAll(s.dir)
	}
}

// logTail is the end of the daemons' log, for errors.
func (s *Service) logTail() string {
	b, err := os.ReadFile(filepath.Join(s.dir, "log"))
	if err != nil || len(b) == 0 {
		return "the daemons logged nothing"
	}
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return "their log ends: " + string(b)
}

// Available reports whether Get would give a Secret Service without
// starting one: inside .ci/secret-service, or once Get succeeded.
func Available() bool { return os.Getenv(EnvReal) == "1" || shared.svc != nil }

// LockLogin locks the login collection. A Secret Service that asks for a
// prompt to lock (none does for Lock in gnome-keyring) is an error.
func LockLogin() error {
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	var locked []dbus.ObjectPath
	var prompt dbus.ObjectPath
	if err := conn.Object(secretsName, secretsPath).Call("org.freedesktop.Secret.Service.Lock", 0,
		[]dbus.ObjectPath{LoginCollection}).Store(&locked, &prompt); err != nil {
		return fmt.Errorf("locking the login collection: %w", err)
	}
	if len(locked) != 1 || prompt != "/" {
		return fmt.Errorf("locking the login collection gave %v, prompt %v", locked, prompt)
	}
	return nil
}

// UnlockLogin unlocks the login collection with the password in
// EnvPassword, through gnome-keyring's interface for unlocking without a
// prompt.
func UnlockLogin() error {
	password := os.Getenv(EnvPassword)
	if password == "" {
		return errors.New(EnvPassword + " is empty: call Start first")
	}
	conn, err := dbus.SessionBus()
	if err != nil {
		return err
	}
	var disregard dbus.Variant
	var session dbus.ObjectPath
	svc := conn.Object(secretsName, secretsPath)
	if err := svc.Call("org.freedesktop.Secret.Service.OpenSession", 0, "plain", dbus.MakeVariant("")).Store(&disregard, &session); err != nil {
		return fmt.Errorf("unlocking: OpenSession: %w", err)
	}
	defer conn.Object(secretsName, session).Call("org.freedesktop.Secret.Session.Close", 0)
	master := struct {
		Session     dbus.ObjectPath
		Parameters  []byte
		Value       []byte
		ContentType string
	}{session, []byte{}, []byte(password), "text/plain"}
	if err := svc.Call("org.gnome.keyring.InternalUnsupportedGuiltRiddenInterface.UnlockWithMasterPassword", 0,
		LoginCollection, master).Err; err != nil {
		return fmt.Errorf("unlocking the login collection: %w", err)
	}
	return nil
}
