// Command gotdclients is the yardstick of bench/pool.sh: one process of N
// plain gotd clients on stored keys, against the same dev server and the
// same accounts as `tgvault run`, with nothing of tgvault between them and
// gotd (no vault, no pool, no peer cache, no local API).
//
//	go run ./bench/gotdclients -seeds STATE/seeds -server ADDR -server-key STATE/server.pub
//
// It reads the Pyrogram .session files the dev server's --seed-accounts
// wrote (their keys, dc and user ids) before it starts timing, then starts
// one gotd client per account, each on an in-memory gotd session holding
// its key, with updates off (as tgvault's pool runs them), each making the
// same first call as tgvault's pool (users.getUsers of itself) and then
// waiting. Once every client made it, it prints one line:
//
//	ready N SECONDS
//
// and keeps the clients connected until SIGINT or SIGTERM. A client that
// fails is printed to stderr and makes it exit 1.
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

	"github.com/tgvault/tgvault/storage"
)

// apiHash is any api_hash: the dev server does not check it.
const apiHash = "344583e45741c457fe1862106095a5eb"

type account struct {
	dc     int
	apiID  int
	userID int64
	data   *tdsession.Data
}

func main() {
	seeds := flag.String("seeds", "", "the directory of the seeded accounts' .session files (required)")
	server := flag.String("server", "", "the dev server's HOST:PORT (required)")
	keyPath := flag.String("server-key", "", "the dev server's RSA public key, a PEM file (required)")
	flag.Parse()
	if *seeds == "" || *server == "" || *keyPath == "" || flag.NArg() != 0 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*seeds, *server, *keyPath); err != nil {
		fmt.Fprintln(os.Stderr, "gotdclients:", err)
		os.Exit(1)
	}
}

func run(seeds, server, keyPath string) error {
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
	accts, err := readSeeds(seeds, server)
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	start := time.Now()
	var ready atomic.Int64
	all := make(chan struct{})
	failed := make(chan error, 1)
	var wg sync.WaitGroup
	for _, a := range accts {
		mem := new(tdsession.StorageMemory)
		if err := (&tdsession.Loader{Storage: mem}).Save(ctx, a.data); err != nil {
			return err
		}
		client := tdtelegram.NewClient(a.apiID, apiHash, tdtelegram.Options{
			DC:             a.dc,
			SessionStorage: mem,
			NoUpdates:      true,
			PublicKeys:     []tdtelegram.PublicKey{{RSA: pub}},
			DCList:         tddcs.List{Options: []tdtg.DCOption{{ID: a.dc, IPAddress: host, Port: port}}},
			Resolver:       tddcs.Plain(tddcs.PlainOptions{}),
		})
		wg.Go(func() {
			err := client.Run(ctx, func(ctx context.Context) error {
				self, err := client.Self(ctx)
				if err != nil {
					return err
				}
				if self.ID != a.userID {
					return fmt.Errorf("logged in as %d, want %d", self.ID, a.userID)
				}
				if ready.Add(1) == int64(len(accts)) {
					close(all)
				}
				<-ctx.Done()
				return nil
			})
			if err != nil && ctx.Err() == nil {
				select {
				case failed <- fmt.Errorf("account %d: %w", a.userID, err):
				default:
				}
			}
		})
	}
	select {
	case <-all:
		fmt.Printf("ready %d %.3f\n", len(accts), time.Since(start).Seconds())
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

// readSeeds reads every .session file of dir, two at a time per core.
func readSeeds(dir, addr string) ([]account, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.session"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no .session files in %s", dir)
	}
	out := make([]account, len(paths))
	errs := make([]error, len(paths))
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, p := range paths {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			f, err := storage.ReadForeignFile(p)
			if err != nil {
				errs[i] = err
				return
			}
			s := f.Session
			uid, ok := s.UserID.Get()
			if !ok || s.AuthKey.IsZero() {
				errs[i] = fmt.Errorf("%s: no user id or key", p)
				return
			}
			var key tdcrypto.Key
			copy(key[:], s.AuthKey.Bytes())
			withID := key.WithID()
			out[i] = account{
				dc: s.DCID, apiID: int(s.APIID.Or(17349)), userID: uid,
				data: &tdsession.Data{DC: s.DCID, Addr: addr, AuthKey: withID.Value[:], AuthKeyID: withID.ID[:]},
			}
		})
	}
	wg.Wait()
	return out, errors.Join(errs...)
}
