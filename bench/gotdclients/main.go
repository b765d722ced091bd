// Command gotdclients is the yardstick of bench/pool.sh: one process of N
// plain gotd clients on stored keys, against the same dev server and the
// same accounts as `tgvault run`, with nothing of tgvault between them and
// gotd (no vault, no pool, no peer cache, no local API).
//
//	go run ./bench/gotdclients -prepare DIR -seeds STATE/seeds -server ADDR
//	go run ./bench/gotdclients -sessions DIR -server ADDR -server-key STATE/server.pub
//
// -prepare turns the Pyrogram .session files the dev server's
// --seed-accounts wrote into one gotd session file (gotd's own
// session.FileStorage JSON: key, dc, address) per account in DIR, and
// exits: the stored keys, as gotd clients keep them. -sessions then starts
// one gotd client per session file at once, each loading its own file as
// gotd does when it starts, with updates off (as tgvault's pool runs
// them), each making the same first call as tgvault's pool
// (users.getUsers of itself) and then waiting. Once every client made it,
// it prints one line,
//
//	ready N SECONDS
//
// SECONDS counted from the process start, and keeps the clients connected
// until SIGINT or SIGTERM. A client that fails is printed to stderr and
// makes it exit 1.
package main

import (
	"context"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	tdcrypto "github.com/gotd/td/crypto"
	tdsession "github.com/gotd/td/session"
	tdtelegram "github.com/gotd/td/telegram"
	tddcs "github.com/gotd/td/telegram/dcs"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/storage/foreign"
)

// start is when the process started, as near as Go lets us see it.
var start = time.Now()

const (
	// apiHash is any api_hash: the dev server does not check it.
	apiHash = "344583e45741c457fe1862106095a5eb"
	// seedAPIID is the api_id of the dev server's seeded sessions.
	seedAPIID = 17349
)

var errUsage = errors.New("usage")

func main() {
	prepare := flag.String("prepare", "", "write gotd session files for the seeds into `DIR` and exit")
	seeds := flag.String("seeds", "", "with -prepare: the `DIR` of the seeded accounts' .session files")
	sessions := flag.String("sessions", "", "run one client per gotd session file in `DIR`")
	server := flag.String("server", "", "the dev server's `HOST:PORT` (required)")
	keyPath := flag.String("server-key", "", "with -sessions: the dev server's RSA public key, a PEM `FILE`")
	flag.Parse()
	err := errUsage
	switch {
	case flag.NArg() != 0 || *server == "":
	case *prepare != "" && *seeds != "":
		err = prepareSessions(*seeds, *prepare, *server)
	case *sessions != "" && *keyPath != "":
		err = run(*sessions, *server, *keyPath)
	}
	if errors.Is(err, errUsage) {
		flag.Usage()
		os.Exit(2)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "gotdclients:", err)
		os.Exit(1)
	}
}

// run connects one plain gotd client per stored key in dir to server and
// keeps them connected until a signal: the yardstick of bench/pool.sh.
//
// Long: the benchmark's steps in order (key, sessions, clients, the wait,
// the stop) sharing its counters; a benchmark command, not a rule.
func run(dir, server, keyPath string) error {
	pub, err := readKey(keyPath)
	if err != nil {
		return err
	}
	host, portStr, err := net.SplitHostPort(server)
	if err != nil {
		return err
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return err
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.json"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no session files in %s", dir)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	var ready atomic.Int64
	all := make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	for _, path := range paths {
		client, userID, err := newClient(path, pub, host, port)
		if err != nil {
			return err
		}
		wg.Go(func() {
			err := client.Run(ctx, func(ctx context.Context) error {
				self, err := client.Self(ctx)
				if err != nil {
					return err
				}
				if self.ID != userID {
					return fmt.Errorf("logged in as %d, want %d", self.ID, userID)
				}
				if ready.Add(1) == int64(len(paths)) {
					close(all)
				}
				<-ctx.Done()
				return nil
			})
			if err != nil && ctx.Err() == nil {
				select {
				case failed <- fmt.Errorf("account %d: %w", userID, err):
				default:
				}
			}
		})
	}
	select {
	case <-all:
		fmt.Printf("ready %d %.3f\n", len(paths), time.Since(start).Seconds())
	case err := <-failed:
		stop()
		wg.Wait()
		return err
	case <-ctx.Done():
		wg.Wait()
		return errors.New("stopped before every client was ready")
	}
	select {
	case <-ctx.Done():
	case err := <-failed:
		stop()
		wg.Wait()
		return err
	}
	wg.Wait()
	return nil
}

// newClient returns the gotd client of the session file at path, named
// <dc>-<user id>.json by -prepare, and the user id it must log in as.
func newClient(path string, pub *rsa.PublicKey, host string, port int) (*tdtelegram.Client, int64, error) {
	var dc int
	var userID int64
	if _, err := fmt.Sscanf(filepath.Base(path), "%d-%d.json", &dc, &userID); err != nil {
		return nil, 0, fmt.Errorf("%s: not a session file of -prepare", path)
	}
	return tdtelegram.NewClient(seedAPIID, apiHash, tdtelegram.Options{
		DC:             dc,
		SessionStorage: &tdsession.FileStorage{Path: path},
		NoUpdates:      true,
		PublicKeys:     []tdtelegram.PublicKey{{RSA: pub}},
		DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: dc, IPAddress: host, Port: port}}},
		Resolver:       tddcs.Plain(tddcs.PlainOptions{}),
	}), userID, nil
}

func readKey(path string) (*rsa.PublicKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	blk, _ := pem.Decode(b)
	if blk == nil {
		return nil, fmt.Errorf("%s: no PEM block", path)
	}
	return x509.ParsePKCS1PublicKey(blk.Bytes)
}

// prepareSessions writes a gotd session file for each .session file of
// seeds into dir, named <dc>-<user id>.json.
func prepareSessions(seeds, dir, addr string) error {
	paths, err := filepath.Glob(filepath.Join(seeds, "*.session"))
	if err != nil {
		return err
	}
	if len(paths) == 0 {
		return fmt.Errorf("no .session files in %s", seeds)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			errs[i] = prepareOne(p, dir, addr)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

func prepareOne(path, dir, addr string) error {
	f, err := foreign.ReadFile(path)
	if err != nil {
		return err
	}
	s := f.Session
	uid, ok := s.UserID.Get()
	if !ok || s.AuthKey.IsZero() {
		return fmt.Errorf("%s: no user id or key", path)
	}
	var key tdcrypto.Key
	copy(key[:], s.AuthKey.Bytes())
	withID := key.WithID()
	data := &tdsession.Data{DC: s.DCID, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]}
	fs := &tdsession.FileStorage{Path: filepath.Join(dir, fmt.Sprintf("%d-%d.json", s.DCID, uid))}
	return (&tdsession.Loader{Storage: fs}).Save(context.Background(), data)
}
