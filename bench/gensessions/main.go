// Command gensessions writes N generated Telegram sessions into a directory,
// for the whole-program benchmarks in bench/cli.sh:
//
//	go run ./bench/gensessions -kind string -n 10000 -out DIR   # DIR/acct-00001.txt ...: Pyrogram session strings
//	go run ./bench/gensessions -kind file -n 1000 -out DIR      # DIR/acct-00001.session ...: Pyrogram v3 .session files
//
// Every session has its own random 256-byte auth key (crypto/rand) and its
// own random user id; dc 2, api_id 12345 (-api-id), test_mode and is_bot
// false, date 1700000000. Strings are sessionstring.Encode(Pyrogram, ...)
// with a trailing newline; files are storage.WritePyrogramFile with the test
// vectors' Pyrogram peer set (testdata/vectors/MANIFEST.md). The directory
// is created if missing; existing files with the same names are replaced.
// The output holds real-looking but useless keys: they were never
// registered with Telegram.
package main

import (
	"crypto/rand"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// vectorPeers are the MANIFEST's Pyrogram-family peers.
func vectorPeers() []storage.Peer {
	return []storage.Peer{
		{ID: 111111111, AccessHash: 1234567890123456789, Type: storage.PeerUser, Username: "alice_example", Phone: "15551234567", LastUpdateOn: 1700000000},
		{ID: 5000000001, AccessHash: -8070450532247928832, Type: storage.PeerBot, Username: "example_bot", LastUpdateOn: 1700000000},
		{ID: -444444444, Type: storage.PeerGroup, LastUpdateOn: 1700000000},
		{ID: -1001555555555, AccessHash: 7777777777777777777, Type: storage.PeerChannel, Username: "example_channel", LastUpdateOn: 1700000000},
		{ID: -1002666666666, AccessHash: -1, Type: storage.PeerSupergroup, Username: "example_supergroup", LastUpdateOn: 1700000000},
	}
}

func main() {
	kind := flag.String("kind", "string", "what to write: string (Pyrogram session strings, .txt) or file (Pyrogram v3 .session files)")
	n := flag.Int("n", 1000, "how many sessions")
	out := flag.String("out", "", "the output directory (required)")
	apiID := flag.Int("api-id", 12345, "the api_id of every session")
	flag.Parse()
	if *out == "" || *n <= 0 || flag.NArg() != 0 || (*kind != "string" && *kind != "file") {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(*kind, *n, *out, int32(*apiID)); err != nil {
		fmt.Fprintln(os.Stderr, "gensessions:", err)
		os.Exit(1)
	}
}

func run(kind string, n int, out string, apiID int32) error {
	if err := os.MkdirAll(out, 0o700); err != nil {
		return err
	}
	width := len(fmt.Sprint(n))
	if width < 5 {
		width = 5
	}
	seen := make(map[int64]bool, n)
	key := make([]byte, sessionstring.AuthKeySize)
	for i := 1; i <= n; i++ {
		if _, err := rand.Read(key); err != nil {
			return err
		}
		ak, err := sessionstring.NewAuthKey(key)
		if err != nil {
			return err
		}
		// A distinct positive user id below 2^40 (Telegram's current range
		// is under 2^33; larger ones still fit Pyrogram's 64-bit field).
		var user int64
		for user == 0 || seen[user] {
			var b [8]byte
			if _, err := rand.Read(b[:]); err != nil {
				return err
			}
			user = int64(binary.BigEndian.Uint64(b[:]) % (1 << 40))
		}
		seen[user] = true
		name := filepath.Join(out, fmt.Sprintf("acct-%0*d", width, i))
		switch kind {
		case "string":
			s, err := sessionstring.Encode(sessionstring.Pyrogram, sessionstring.Session{
				DCID:     2,
				APIID:    sessionstring.Some(apiID),
				TestMode: sessionstring.Some(false),
				AuthKey:  ak,
				UserID:   sessionstring.Some(user),
				IsBot:    sessionstring.Some(false),
			})
			if err != nil {
				return err
			}
			if err := os.WriteFile(name+".txt", []byte(s+"\n"), 0o600); err != nil {
				return err
			}
		case "file":
			snap := &storage.Snapshot{
				Session: storage.SessionRow{
					DCID:     2,
					APIID:    sessionstring.Some(apiID),
					TestMode: sessionstring.Some(false),
					AuthKey:  ak,
					Date:     1700000000,
					UserID:   sessionstring.Some(user),
					IsBot:    sessionstring.Some(false),
				},
				Peers: vectorPeers(),
			}
			if err := storage.WritePyrogramFile(name+".session", snap); err != nil {
				return err
			}
		}
	}
	clear(key)
	return nil
}
