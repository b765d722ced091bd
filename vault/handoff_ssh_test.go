package vault

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"path/filepath"
	"testing"

	"golang.org/x/crypto/ssh"

	"github.com/tgvault/tgvault/crypto"
)

// TestSealedHandOffSSHAndArmor seals to an ssh-ed25519 key (opened by the
// key's owner, not a vault), and imports the armored form of a hand-off.
func TestSealedHandOffSSHAndArmor(t *testing.T) {
	tv := newTestVault(t)
	if _, err := tv.ImportFile(filepath.Join(vectors, "pyrogram/pyrogram_v3.session"), ImportOptions{Name: "a"}); err != nil {
		t.Fatal(err)
	}
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	sp, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	r, err := crypto.ParseRecipient(string(ssh.MarshalAuthorizedKey(sp)))
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	id, err := crypto.ParseIdentity(string(pem.EncodeToMemory(block)))
	if err != nil {
		t.Fatal(err)
	}
	sealed, err := tv.ExportSealed("a", SealedExportOptions{To: []*crypto.Recipient{r}})
	if err != nil {
		t.Fatal(err)
	}
	plain, err := crypto.Open([]byte(sealed), id)
	if err != nil {
		t.Fatal(err)
	}
	e, err := unmarshalEnvelope(plain)
	if err != nil {
		t.Fatal(err)
	}
	if u, _ := e.Session.UserID.Get(); u != 123456789 || len(e.Peers) != 0 {
		t.Errorf("envelope: user %d, %d peers", u, len(e.Peers))
	}

	// Armored, sealed to the vault itself.
	st, _ := tv.unlock()
	armored, err := crypto.SealArmored(plain, st.recipients()...)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := tv.Import(armored, "", ImportOptions{Name: "b", Replace: true}) // a's key
	if err != nil || rep.Source != sourceHandOff {
		t.Fatalf("armored import: %+v, %v", rep, err)
	}
	// A hand-off whose envelope is damaged is refused as bad input.
	bad, _ := crypto.SealText(append([]byte("TGVH\x09"), plain[5:]...), st.recipients()...)
	if _, err := tv.Import([]byte(bad), "", ImportOptions{Name: "c"}); !errors.Is(err, ErrBadInput) {
		t.Errorf("bad envelope: %v", err)
	}
}
