package vault

import (
	"bytes"
	"errors"
	"path/filepath"
	"testing"

	"github.com/tgvault/tgvault/crypto"
)

// TestExportSealedAskPassphrase: the one-time passphrase is asked for
// only once the account is known (an unknown one fails before anyone
// types), seals the string, and is wiped when ExportSealed returns.
func TestExportSealedAskPassphrase(t *testing.T) {
	src := newTestVault(t)
	dst := newTestVault(t)
	if _, err := src.ImportFile(filepath.Join(vectors, "telethon/telethon.session"), ImportOptions{Name: "tl"}); err != nil {
		t.Fatal(err)
	}
	var asked []crypto.Passphrase
	ask := func() (crypto.Passphrase, error) {
		p := crypto.Passphrase(bytes.Clone(otherPass))
		asked = append(asked, p)
		return p, nil
	}
	if _, err := src.ExportSealed("nobody", SealedExportOptions{AskPassphrase: ask}); !errors.Is(err, ErrNotFound) || len(asked) != 0 {
		t.Fatalf("an unknown account: %v, asked %d time(s); want ErrNotFound before asking", err, len(asked))
	}
	if _, err := src.ExportSealed("tl", SealedExportOptions{AskPassphrase: ask, Passphrase: otherPass}); err == nil || len(asked) != 0 {
		t.Fatalf("a passphrase given and asked for: %v, asked %d time(s); want refused before asking", err, len(asked))
	}
	sealed, err := src.ExportSealed("tl", SealedExportOptions{AskPassphrase: ask})
	if err != nil || len(asked) != 1 {
		t.Fatalf("ExportSealed: %v, asked %d time(s)", err, len(asked))
	}
	if !bytes.Equal(asked[0], make([]byte, len(otherPass))) {
		t.Error("the passphrase asked for was not wiped")
	}
	if _, err := dst.Import([]byte(sealed), "", ImportOptions{Name: "x", Passphrase: otherPass}); err != nil {
		t.Errorf("the sealed string does not open with the passphrase: %v", err)
	}
	refused := errors.New("no terminal")
	half := crypto.Passphrase("typed in pa")
	if _, err := src.ExportSealed("tl", SealedExportOptions{AskPassphrase: func() (crypto.Passphrase, error) { return half, refused }}); !errors.Is(err, refused) {
		t.Errorf("a prompt that fails: %v", err)
	}
	if !bytes.Equal(half, make([]byte, len(half))) {
		t.Error("a passphrase returned with an error was not wiped")
	}
}
