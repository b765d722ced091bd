package demo

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/daemon"
	"github.com/tgvault/tgvault/internal/userdirs"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
	"github.com/tgvault/tgvault/vault"
)

// The demo's accounts: the dev server's demo bot and demo user.
const (
	BotName  = "demo-bot"
	UserName = "demo-user"
)

// ReadyTimeout bounds how long Run waits for its accounts to be online.
const ReadyTimeout = 60 * time.Second

// Config is what Run needs; the zero value is a valid choice for every
// field.
type Config struct {
	// TempDir is where the throwaway directory is made ("": os.TempDir()).
	TempDir string
	// Socket is the local API's socket. "" picks DefaultSocket unless a
	// run answers there, else a socket in the throwaway directory.
	Socket string
	// DefaultSocket is run's usual socket (localapi.DefaultSocket), where
	// `tgvault call` finds the demo without --socket.
	DefaultSocket string
	// Log receives run's warnings and notes (daemon.Config.Log) once the
	// accounts are online; before that they are kept, and part of Run's
	// error when run stops. nil discards them.
	Log *slog.Logger
	// LowerGC is daemon.Config.LowerGC.
	LowerGC bool

	// Ready, when set, is called once both accounts are online; an error
	// from it stops the demo, and Run returns it.
	Ready func(Ready) error
	// Stopped, when set, is called as daemon.Config.Stopped, once the
	// accounts were online.
	Stopped func(daemon.Stopped)
	// Removed, when set, is called once the throwaway directory is
	// removed, the last thing Run does.
	Removed func(dir string)
}

// Ready is what a running demo offers.
type Ready struct {
	Dir             string   // the throwaway directory (the vault is Dir/vault)
	Server          string   // the dev server's address
	Socket          string   // the local API's socket
	OnDefaultSocket bool     // Socket is Config.DefaultSocket, chosen because Config.Socket was ""
	Accounts        []string // BotName and UserName
}

// Run runs the demo until ctx ends: the throwaway directory, the dev
// server, the vault, the two logins, then run. It returns nil when ctx
// ends, also before the accounts are online (Ctrl-C then is a clean
// stop); whatever happens, the throwaway directory is removed once the
// server and run are done with it.
func Run(ctx context.Context, cfg Config) (err error) {
	tmp := cfg.TempDir
	if tmp == "" {
		tmp = os.TempDir()
	}
	dir, err := os.MkdirTemp(tmp, "tgvault-demo-")
	if err != nil {
		return err
	}
	defer func() {
		if rerr := os.RemoveAll(dir); rerr != nil {
			err = errors.Join(err, fmt.Errorf("removing the throwaway vault: %w", rerr))
			return
		}
		if cfg.Removed != nil {
			cfg.Removed(dir)
		}
	}()
	return run(ctx, cfg, dir)
}

// run is Run in the throwaway directory dir.
func run(ctx context.Context, cfg Config, dir string) error {
	sock, isDefault := cfg.Socket, false
	if sock == "" {
		sock, isDefault = socket(cfg.DefaultSocket, dir)
	}
	srv, stopSrv, err := devserver.StartDemo(filepath.Join(dir, "dev-server"))
	if err != nil {
		return err
	}
	defer stopSrv()
	conf, err := mtproto.ReadServerConf(srv.Addr(), srv.PublicKeyPath(), false)
	if err != nil {
		return err
	}
	v, err := setUp(ctx, dir, srv, conf)
	if err != nil {
		if ctx.Err() != nil {
			return nil // Ctrl-C during a login: a clean stop
		}
		return err
	}
	defer v.Close()

	// run, until ctx ends.
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()
	log := &heldLog{}
	stopped := func(daemon.Stopped) {}
	if cfg.Stopped != nil {
		stopped = func(s daemon.Stopped) {
			if log.released() {
				cfg.Stopped(s)
			}
		}
	}
	var serveErr error
	served := make(chan struct{})
	go func() {
		defer close(served)
		serveErr = daemon.Serve(runCtx, daemon.Config{Vault: v, Log: slog.New(log), Socket: sock,
			Defaults: mtproto.Defaults{Server: conf, ServerSet: true}, LowerGC: cfg.LowerGC, Stopped: stopped})
	}()
	// stop stops run and waits for it: it must be done with the
	// throwaway vault before the directory is removed.
	stop := func() error {
		stopRun()
		<-served
		return serveErr
	}
	if err := waitReady(ctx, sock, served); err != nil {
		rerr := stop()
		switch {
		case ctx.Err() != nil:
			return nil // Ctrl-C before the accounts were online: a clean stop
		case errors.Is(err, errRunStopped) && rerr == nil:
			return errors.New("demo: run stopped before its accounts were online")
		case errors.Is(err, errRunStopped):
			return fmt.Errorf("demo: run: %w%s", rerr, log.text())
		case rerr != nil:
			return errors.Join(err, rerr)
		}
		return err
	}
	if cfg.Ready != nil {
		if err := cfg.Ready(Ready{Dir: dir, Server: srv.Addr(), Socket: sock, OnDefaultSocket: isDefault,
			Accounts: []string{BotName, UserName}}); err != nil {
			_ = stop()
			return err
		}
	}
	// run's own warnings (an account's trouble) from here on.
	log.release(cfg.Log)
	select {
	case <-served:
		return serveErr
	case <-ctx.Done():
		return stop()
	}
}

// socket is the default socket unless a run answers there, else one in
// the throwaway directory dir.
func socket(defaultSocket, dir string) (path string, isDefault bool) {
	if defaultSocket != "" && !localapi.InUse(defaultSocket) {
		return defaultSocket, true
	}
	return filepath.Join(dir, userdirs.RunSocketName), false
}

// setUp creates the throwaway vault in dir/vault, its key held in this
// process's memory only, and logs the dev server's demo bot and demo user
// in to it.
func setUp(ctx context.Context, dir string, srv *devserver.Server, conf mtproto.ServerConf) (*vault.Vault, error) {
	token, err := srv.Demo() // the same token every call
	if err != nil {
		return nil, err
	}
	pass := crypto.Passphrase(hex.EncodeToString(randBytes(16)))
	defer pass.Wipe()
	v, err := vault.Init(vault.InitOptions{Options: vault.Options{Dir: filepath.Join(dir, "vault"), Keyring: &vault.MemoryKeyring{}}}, pass)
	if err != nil {
		return nil, err
	}
	for _, r := range []daemon.LoginRequest{
		{Name: BotName, BotToken: token},
		{Name: UserName, Phone: "+" + devserver.DemoPhone},
	} {
		r.Server = conf
		r.APIID, r.APIHash, _ = r.Server.APICreds(0, "") // a custom server: the placeholders
		r.Device = mtproto.DeviceFor(binary.LittleEndian.Uint64(randBytes(8)))
		if _, _, err := daemon.Login(ctx, v, r, demoPrompts{}); err != nil {
			v.Close()
			return nil, fmt.Errorf("demo: login %s: %w", r.Name, err)
		}
	}
	return v, nil
}

// demoPrompts answers the demo user's login: the dev server's code; the
// demo user has no 2FA password, and the demo logs in by phone, not QR.
type demoPrompts struct{}

var _ daemon.LoginPrompts = demoPrompts{}

func (demoPrompts) Code(context.Context) (string, error) { return devserver.DefaultLoginCode, nil }

func (demoPrompts) Password(context.Context) (string, error) {
	return "", errors.New("demo: the demo user has no 2FA password")
}

func (demoPrompts) ShowQR(context.Context, string, time.Time) error {
	return errors.New("demo: no QR login")
}

// errRunStopped is waitReady's answer when run stopped first.
var errRunStopped = errors.New("demo: run stopped")

// waitReady waits until both demo accounts are ready in run's pool, run
// stops (served is closed: errRunStopped), or ctx ends.
func waitReady(ctx context.Context, sock string, served <-chan struct{}) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	ready := make(chan error, 1)
	go func() { ready <- localapi.NewClient(sock).WaitReady(ctx, BotName, UserName) }()
	select {
	case err := <-ready:
		if errors.Is(err, context.DeadlineExceeded) {
			return fmt.Errorf("demo: the accounts were not online within %v (%w)", ReadyTimeout, err)
		}
		return err
	case <-served:
		cancel()
		<-ready
		return errRunStopped
	}
}

func randBytes(n int) []byte {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return b
}

// heldLog is run's slog.Handler: it keeps the records until release,
// then passes them and everything after to the handler released to.
type heldLog struct {
	mu   sync.Mutex
	held []slog.Record
	out  slog.Handler // nil until release
	open bool
}

var _ slog.Handler = (*heldLog)(nil)

func (h *heldLog) Enabled(context.Context, slog.Level) bool { return true }

func (h *heldLog) Handle(ctx context.Context, r slog.Record) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.open {
		h.held = append(h.held, r.Clone())
		return nil
	}
	if h.out == nil || !h.out.Enabled(ctx, r.Level) {
		return nil
	}
	return h.out.Handle(ctx, r)
}

// WithAttrs and WithGroup are not used by daemon, which logs each
// sentence's attributes in its record.
func (h *heldLog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h *heldLog) WithGroup(string) slog.Handler      { return h }

// release passes what was kept to l's handler, and everything after it
// (l nil: discards all).
func (h *heldLog) release(l *slog.Logger) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.open = true
	if l != nil {
		h.out = l.Handler()
	}
	for _, r := range h.held {
		if h.out != nil && h.out.Enabled(context.Background(), r.Level) {
			_ = h.out.Handle(context.Background(), r)
		}
	}
	h.held = nil
}

func (h *heldLog) released() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.open
}

// text is what was kept, one sentence after another, for an error ("" if
// nothing).
func (h *heldLog) text() string {
	h.mu.Lock()
	defer h.mu.Unlock()
	var b strings.Builder
	for _, r := range h.held {
		b.WriteString("; ")
		b.WriteString(r.Message)
	}
	return b.String()
}
