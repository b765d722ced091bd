package agent

import (
	"context"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"

	"github.com/tgvault/tgvault/internal/peercred"
	"github.com/tgvault/tgvault/internal/privdir"
)

var (
	// ErrRunning is Serve's answer when another agent already serves the
	// socket: the caller has nothing to do.
	ErrRunning = errors.New("agent: another agent serves this socket")
	// ErrUnsupported: the agent does not run on this OS (Supported).
	ErrUnsupported = errors.New("agent: not supported on this OS")

	errLocked = errors.New("agent: lock held")
)

// Supported reports whether the agent runs on this OS: where it can read
// the uid of a peer on a unix socket (Linux, FreeBSD).
func Supported() bool { return peercred.Supported }

// Defaults of Config.
const (
	DefaultIdleExit   = 30 * time.Second
	DefaultCheckEvery = time.Second
	connTimeout       = 5 * time.Second
	maxConns          = 16 // connections served at once (one locked page each)
)

// Config configures Serve.
type Config struct {
	// Socket is the path to listen on. Its directory is made 0700 when
	// missing and refused unless it is the user's own private directory.
	Socket string
	// Ready, when set, is called once the agent listens, before it
	// answers anyone.
	Ready func(Info)
	// IdleExit: the agent exits when it has held nothing for this long
	// since it started (DefaultIdleExit when zero). Once it has held a
	// secret it exits as soon as it holds none.
	IdleExit time.Duration
	// CheckEvery is how often the agent checks that its socket is still
	// its own (DefaultCheckEvery when zero): removed or replaced, it exits.
	CheckEvery time.Duration
	// MemoryLocked says that the caller locked the whole process against
	// swap (memlock.LockAll in the agent's own process; Serve does not
	// lock a process it does not own). Serve locks each secret's pages
	// in any case.
	MemoryLocked bool
}

// Info describes a running agent.
type Info struct {
	PID     int
	Secrets int
	// Memory says how the agent's memory is locked against swap: "all"
	// (mlockall), "secrets" (each secret's pages), or "none".
	Memory string
	// Refused counts the connections from other uids it dropped unread.
	Refused int
}

// entry is one secret the agent holds.
type entry struct {
	buf   *lockedBuf // the secret, in its own locked pages
	n     int
	timer *time.Timer // expiry; nil for none
}

// server is one running agent.
type server struct {
	uid      int
	allMem   bool // the whole process is locked
	sem      chan struct{}
	refused  int // connections from other uids, dropped unread
	stopOnce sync.Once
	stop     chan struct{}

	mu      sync.Mutex
	entries map[string]*entry
	held    bool // has held a secret at some time
	pageLk  bool // every page it mapped so far was locked
}

// Serve runs an agent on cfg.Socket until ctx is done, it holds nothing
// any more, or its socket goes away. It returns ErrRunning when another
// agent holds the socket's lock, ErrUnsupported where Supported is false,
// a *privdir.Error for a directory that is not private, and nil on a
// normal exit. Every secret is wiped before it returns.
//
// Long: it is the agent's whole life in order (check the OS, the private
// directory, the lock, listen, report ready, serve, wipe on the way out),
// and each step's cleanup is deferred right after it: split up, a defer
// would leave what it undoes.
func Serve(ctx context.Context, cfg Config) error {
	if !peercred.Supported {
		return ErrUnsupported
	}
	if cfg.IdleExit <= 0 {
		cfg.IdleExit = DefaultIdleExit
	}
	if cfg.CheckEvery <= 0 {
		cfg.CheckEvery = DefaultCheckEvery
	}
	dir := filepath.Dir(cfg.Socket)
	if err := privdir.Ensure(dir); err != nil {
		return err
	}
	lk, err := lockFile(cfg.Socket + ".lock")
	if errors.Is(err, errLocked) {
		return ErrRunning
	}
	if err != nil {
		return err
	}
	defer lk.Close()
	// We hold the lock: a socket file left there is a dead agent's.
	if err := os.Remove(cfg.Socket); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	ln, err := net.ListenUnix("unix", &net.UnixAddr{Name: cfg.Socket, Net: "unix"})
	if err != nil {
		return err
	}
	ln.SetUnlinkOnClose(false) // removed below, only if still ours
	if err := os.Chmod(cfg.Socket, 0o600); err != nil {
		ln.Close()
		return err
	}
	mine, err := os.Lstat(cfg.Socket)
	if err != nil {
		ln.Close()
		return err
	}

	s := &server{
		uid:     os.Geteuid(),
		sem:     make(chan struct{}, maxConns),
		stop:    make(chan struct{}),
		entries: map[string]*entry{},
		pageLk:  true,
	}
	s.allMem = cfg.MemoryLocked
	if cfg.Ready != nil {
		cfg.Ready(s.info())
	}

	var wg sync.WaitGroup
	accepting := make(chan struct{})
	go func() {
		defer close(accepting)
		for {
			c, err := ln.AcceptUnix()
			if err != nil {
				return
			}
			s.sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-s.sem }()
				s.serveConn(c)
			})
		}
	}()
	// On the way out: no new connection, the ones in flight answered (or
	// timed out), every secret wiped, the socket removed if still ours.
	defer func() {
		ln.Close()
		<-accepting
		wg.Wait()
		s.wipeAll()
		if fi, err := os.Lstat(cfg.Socket); err == nil && os.SameFile(fi, mine) {
			_ = os.Remove(cfg.Socket)
		}
	}()

	idle := time.NewTimer(cfg.IdleExit)
	defer idle.Stop()
	check := time.NewTicker(cfg.CheckEvery)
	defer check.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-s.stop:
			return nil
		case <-idle.C:
			s.mu.Lock()
			empty := len(s.entries) == 0
			s.mu.Unlock()
			if empty {
				return nil
			}
		case <-check.C:
			if fi, err := os.Lstat(cfg.Socket); err != nil || !os.SameFile(fi, mine) {
				return nil
			}
		}
	}
}

// shutdown ends Serve.
func (s *server) shutdown() { s.stopOnce.Do(func() { close(s.stop) }) }

// wipeAll forgets every secret.
func (s *server) wipeAll() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for k, e := range s.entries {
		s.drop(k, e)
	}
}

// drop forgets one secret; s.mu is held.
func (s *server) drop(key string, e *entry) {
	if e.timer != nil {
		e.timer.Stop()
	}
	e.buf.free()
	delete(s.entries, key)
}

func (s *server) info() Info {
	s.mu.Lock()
	defer s.mu.Unlock()
	mem := "none"
	switch {
	case s.allMem:
		mem = "all"
	case s.pageLk:
		mem = "secrets"
	}
	return Info{PID: os.Getpid(), Secrets: len(s.entries), Memory: mem, Refused: s.refused}
}

// serveConn answers one request. A peer of another uid is dropped unread.
func (s *server) serveConn(c *net.UnixConn) {
	defer c.Close()
	if uid, err := peercred.UID(c); err != nil || uid != s.uid {
		s.mu.Lock()
		s.refused++
		s.mu.Unlock()
		return
	}
	_ = c.SetDeadline(time.Now().Add(connTimeout))
	// The request (which may carry a secret) and the answer (which may
	// too) live in locked pages, never on the Go heap.
	page := newLockedBuf(pageSize)
	defer page.free()
	req, out := page.b[:frameSize], page.b[frameSize:]
	if _, err := io.ReadFull(c, req[:2]); err != nil {
		return
	}
	n := int(binary.BigEndian.Uint16(req))
	if n < 2 || n > maxBody {
		return
	}
	if _, err := io.ReadFull(c, req[2:2+n]); err != nil {
		return
	}
	body := req[2 : 2+n]
	ans, last := s.answer(body, out[2:2])
	f, err := frame(out, len(ans))
	if err != nil {
		return
	}
	_, _ = c.Write(f)
	if last {
		s.shutdown()
	}
}

// answer handles one request body and appends the answer body to out,
// which has room for maxBody bytes. last reports that the agent holds
// nothing any more and should exit.
func (s *server) answer(body, out []byte) (ans []byte, last bool) {
	fail := func(msg string) ([]byte, bool) {
		return appendField(append(out, statusError), []byte(msg)), false
	}
	if body[0] != protoVersion {
		return fail("agent: protocol version " + strconv.Itoa(int(body[0])) + " is not spoken here (version " + strconv.Itoa(protoVersion) + ")")
	}
	fv, err := fields(body[2:])
	if err != nil {
		return fail(err.Error())
	}
	switch body[1] {
	case opInfo:
		in := s.info()
		out = append(out, statusOK)
		out = appendField(out, []byte(strconv.Itoa(in.PID)))
		out = appendField(out, []byte(strconv.Itoa(in.Secrets)))
		out = appendField(out, []byte(in.Memory))
		out = appendField(out, []byte(strconv.Itoa(in.Refused)))
		return out, false
	case opGet, opDelete:
		if len(fv) != 2 || len(fv[0]) > maxName || len(fv[1]) > maxName {
			return fail("agent: bad request")
		}
		key := string(fv[0]) + "\x00" + string(fv[1])
		s.mu.Lock()
		defer s.mu.Unlock()
		e, ok := s.entries[key]
		if !ok {
			return append(out, statusNotFound), false
		}
		if body[1] == opGet {
			return appendField(append(out, statusOK), e.buf.b[:e.n]), false
		}
		s.drop(key, e)
		return append(out, statusOK), len(s.entries) == 0
	case opSet:
		if len(fv) != 4 || len(fv[0]) > maxName || len(fv[1]) > maxName || len(fv[2]) > maxSecret || len(fv[3]) != 8 {
			return fail("agent: bad request")
		}
		key := string(fv[0]) + "\x00" + string(fv[1])
		exp := int64(binary.BigEndian.Uint64(fv[3]))
		if exp != 0 && time.Now().UnixNano() >= exp {
			return fail("agent: the expiry is in the past")
		}
		buf := newLockedBuf(maxSecret)
		e := &entry{buf: buf, n: copy(buf.b, fv[2])}
		clear(fv[2])
		s.mu.Lock()
		defer s.mu.Unlock()
		if !buf.locked {
			s.pageLk = false
		}
		if old, ok := s.entries[key]; ok {
			s.drop(key, old)
		}
		s.entries[key] = e
		s.held = true
		if exp != 0 {
			e.timer = time.AfterFunc(time.Until(time.Unix(0, exp)), func() { s.expire(key, e) })
		}
		return append(out, statusOK), false
	}
	return fail("agent: unknown request")
}

// expire forgets a secret at its expiry, and ends the agent when it held
// the last one.
func (s *server) expire(key string, e *entry) {
	s.mu.Lock()
	if s.entries[key] != e {
		s.mu.Unlock()
		return // replaced or deleted meanwhile
	}
	s.drop(key, e)
	empty := len(s.entries) == 0
	s.mu.Unlock()
	if empty {
		s.shutdown()
	}
}
