package devserver

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/mtproto/mtserver"
	"github.com/tgvault/tgvault/sessionstring"
)

// Files in the state directory.
const (
	StateFile      = "state.json" // accounts and auth keys, 0600
	PrivateKeyFile = "server.key" // RSA private key, PKCS#1 PEM, 0600
	PublicKeyFile  = "server.pub" // RSA public key, PKCS#1 PEM
)

const stateVersion = 1

// state is what survives a restart. Keys are dev-server secrets: the file
// is 0600 and written atomically.
type state struct {
	Version    int                                `json:"version"`
	NextUserID int64                              `json:"next_user_id"`
	Keys       map[sessionstring.KeyID]*keyRecord `json:"keys"`
	Users      map[int64]*User                    `json:"users"`
	Chats      map[int64]*Chat                    `json:"chats,omitempty"`
	// Messages are each user's private messages, by owner, oldest first.
	Messages map[int64][]*Message `json:"messages,omitempty"`
}

type keyRecord struct {
	Key    []byte `json:"key"`
	UserID int64  `json:"user_id,omitempty"` // 0: not logged in
	DC     int    `json:"dc,omitempty"`      // the DC the key was made on; 0: the home DC
}

// User is an account on the dev server.
type User struct {
	ID         int64     `json:"id"`
	AccessHash int64     `json:"access_hash"`
	Bot        bool      `json:"bot,omitempty"`
	BotSecret  string    `json:"bot_secret,omitempty"` // the part after "ID:" of the bot token
	FirstName  string    `json:"first_name"`
	Username   string    `json:"username,omitempty"`
	Phone      string    `json:"phone,omitempty"`
	Code       string    `json:"code,omitempty"`     // login code for auth.signIn
	Password   *password `json:"password,omitempty"` // 2FA verifier
	Photo      *Photo    `json:"photo,omitempty"`    // profile photo
	Service    bool      `json:"service,omitempty"`  // Telegram's service account (777000)
	Pts        int       `json:"pts,omitempty"`      // the user's update state (1 when 0)
	LastMsgID  int       `json:"last_msg_id,omitempty"`
}

func newState() *state {
	return &state{
		Version:    stateVersion,
		NextUserID: 1_000_000,
		Keys:       map[sessionstring.KeyID]*keyRecord{},
		Users:      map[int64]*User{},
		Chats:      map[int64]*Chat{},
	}
}

func loadState(dir string) (*state, error) {
	b, err := os.ReadFile(filepath.Join(dir, StateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return newState(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("devserver: read state: %w", err)
	}
	st := newState()
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("devserver: parse state: %w", err)
	}
	if st.Version != stateVersion {
		return nil, fmt.Errorf("devserver: state version %d, want %d", st.Version, stateVersion)
	}
	for id, k := range st.Keys {
		key, err := sessionstring.NewAuthKey(k.Key)
		if err != nil || key.ID() != id {
			return nil, fmt.Errorf("devserver: state: bad key %s", id)
		}
	}
	return st, nil
}

func (st *state) save(dir string) error {
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("devserver: encode state: %w", err)
	}
	if err := atomicfile.WriteFile(filepath.Join(dir, StateFile), b); err != nil {
		return fmt.Errorf("devserver: write state: %w", err)
	}
	return nil
}

// loadOrCreateKey reads the RSA key of the state directory, or generates one
// and writes both PEM files.
func loadOrCreateKey(dir string) (*rsa.PrivateKey, error) {
	path := filepath.Join(dir, PrivateKeyFile)
	b, err := os.ReadFile(path)
	switch {
	case err == nil:
		block, _ := pem.Decode(b)
		if block == nil {
			return nil, fmt.Errorf("devserver: %s: no PEM block", PrivateKeyFile)
		}
		k, err := x509.ParsePKCS1PrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("devserver: %s: %w", PrivateKeyFile, err)
		}
		return k, writePublic(dir, &k.PublicKey)
	case !errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("devserver: read key: %w", err)
	}
	k, err := mtserver.GenerateKey(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devserver: generate key: %w", err)
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(k)})
	if err := atomicfile.WriteFile(path, priv); err != nil {
		return nil, fmt.Errorf("devserver: write key: %w", err)
	}
	return k, writePublic(dir, &k.PublicKey)
}

// PublicKeyPEM encodes an RSA public key the way Telegram publishes its
// keys (PKCS#1 "RSA PUBLIC KEY").
func PublicKeyPEM(k *rsa.PublicKey) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "RSA PUBLIC KEY", Bytes: x509.MarshalPKCS1PublicKey(k)})
}

func writePublic(dir string, k *rsa.PublicKey) error {
	path := filepath.Join(dir, PublicKeyFile)
	want := PublicKeyPEM(k)
	if cur, err := os.ReadFile(path); err == nil && string(cur) == string(want) {
		return nil
	}
	if err := atomicfile.WriteFile(path, want); err != nil {
		return fmt.Errorf("devserver: write public key: %w", err)
	}
	return nil
}

func randInt64() int64 {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return int64(binary.LittleEndian.Uint64(b[:]) &^ (1 << 63))
}
