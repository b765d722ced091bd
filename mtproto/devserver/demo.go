package devserver

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// DemoPhone is the demo user's phone number (without the +): log in with
// it and DefaultLoginCode.
const DemoPhone = "99900001"

// demoBotFile keeps the demo bot's token in the state directory, so that
// every start offers the same bot; demoUserFile marks the demo user made.
const (
	demoBotFile  = "demo-bot.token"
	demoUserFile = "demo-user"
)

// SeedAPIID is the api_id written into the sessions WriteSeeds makes (the
// dev server accepts any).
const SeedAPIID = 17349

// Demo makes the demo bot and the demo user (DemoPhone) on the first start
// of a state directory, and returns the demo bot's token, the same on
// every start.
func (s *Server) Demo() (botToken string, err error) {
	if botToken, err = s.demoBot(); err != nil {
		return "", err
	}
	return botToken, s.demoUser()
}

func (s *Server) demoBot() (string, error) {
	path := filepath.Join(s.dir, demoBotFile)
	if b, err := os.ReadFile(path); err == nil {
		if tok := strings.TrimSpace(string(b)); tok != "" {
			return tok, nil
		}
	} else if !errors.Is(err, fs.ErrNotExist) {
		return "", err
	}
	_, tok, err := s.AddBot("demo_bot")
	if err != nil {
		return "", err
	}
	if err := atomicfile.WriteFile(path, []byte(tok+"\n")); err != nil {
		return "", err
	}
	return tok, nil
}

// demoUser creates the demo user once (AddUser refuses a phone in use).
func (s *Server) demoUser() error {
	marker := filepath.Join(s.dir, demoUserFile)
	if _, err := os.Stat(marker); err == nil {
		return nil
	}
	if _, err := s.AddUser(DemoPhone, "demo_user", ""); err != nil {
		return err
	}
	return atomicfile.WriteFile(marker, []byte(DemoPhone+"\n"))
}

// WriteSeeds creates n logged-in users with random keys (SeedAccounts)
// and writes their sessions to seeds/ in the state directory as Pyrogram
// .session files (0600, in a 0700 directory), one per account; it returns
// that directory. The files are plaintext sessions of this server only.
func (s *Server) WriteSeeds(n int) (string, error) {
	seeds, err := s.SeedAccounts(n)
	if err != nil {
		return "", err
	}
	out := filepath.Join(s.dir, "seeds")
	if err := os.MkdirAll(out, 0o700); err != nil {
		return "", err
	}
	for _, sd := range seeds {
		snap := &storage.Snapshot{Session: storage.SessionRow{
			DCID:     sd.DC,
			APIID:    sessionstring.Some[int32](SeedAPIID),
			TestMode: sessionstring.Some(false),
			AuthKey:  sd.Key,
			UserID:   sessionstring.Some(sd.UserID),
			IsBot:    sessionstring.Some(false),
			Date:     time.Now().Unix(),
		}}
		path := filepath.Join(out, fmt.Sprintf("seed%d.session", sd.UserID))
		if err := storage.WritePyrogramFile(path, snap); err != nil {
			return "", err
		}
	}
	return out, nil
}
