package crypto

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/realpart"
	"github.com/tgvault/tgvault/internal/testhooks"
)

// ageCLI returns the path of the real age CLI (Debian's 1.1.1 here, which
// knows no post-quantum keys), or skips loudly where it is missing.
func ageCLI(t *testing.T) string {
	t.Helper()
	return realpart.LookPath(t, "age", "apt-get install age")
}

func runAge(t *testing.T, stdin []byte, args ...string) []byte {
	t.Helper()
	cmd := exec.CommandContext(t.Context(), ageCLI(t), args...)
	cmd.Stdin = bytes.NewReader(stdin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("age %v: %v: %s", args, err, stderr.Bytes())
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestInteropAgeCLI(t *testing.T) {
	t.Parallel()
	ageCLI(t)
	pt := payload(2*chunkSize + 123)
	kk := kinds(t)
	for _, k := range []keyKind{kk[0], kk[2], kk[3]} { // no post-quantum in age 1.1.1
		t.Run(k.name, func(t *testing.T) {
			t.Parallel()
			keyFile := writeFile(t, "key", []byte(k.id.Reveal()+"\n"))
			t.Run("ours to age", func(t *testing.T) {
				bin, err := Seal(pt, k.id.Recipient())
				if err != nil {
					t.Fatal(err)
				}
				if got := runAge(t, bin, "-d", "-i", keyFile); !bytes.Equal(got, pt) {
					t.Error("age -d of Seal output differs")
				}
				arm, err := SealArmored(pt, k.id.Recipient())
				if err != nil {
					t.Fatal(err)
				}
				if got := runAge(t, arm, "-d", "-i", keyFile); !bytes.Equal(got, pt) {
					t.Error("age -d of SealArmored output differs")
				}
				text, err := SealText(pt, k.id.Recipient())
				if err != nil {
					t.Fatal(err)
				}
				dec, err := base64.StdEncoding.DecodeString(text)
				if err != nil {
					t.Fatal(err)
				}
				if got := runAge(t, dec, "-d", "-i", keyFile); !bytes.Equal(got, pt) {
					t.Error("age -d of base64-decoded SealText output differs")
				}
				// An authenticated vault file: age skips the tgvault-auth
				// stanzas it does not know, one or two of them.
				other := newIdentity(t)
				for _, with := range [][]*Identity{{k.id}, {k.id, other}} {
					vs, err := NewVaultSealer(with, with)
					if err != nil {
						t.Fatal(err)
					}
					auth, err := vs.For("v/accounts/x.age").Seal(pt)
					if err != nil {
						t.Fatal(err)
					}
					if got := runAge(t, auth, "-d", "-i", keyFile); !bytes.Equal(got, pt) {
						t.Errorf("age -d of a VaultSealer file with %d keys differs", len(with))
					}
				}
			})
			t.Run("age to ours", func(t *testing.T) {
				rcpt := k.id.Recipient().String()
				for _, args := range [][]string{
					{"-r", rcpt},
					{"-a", "-r", rcpt},
					{"-R", writeFile(t, "recipients", []byte("# x\n\n"+rcpt+"\n"))},
					{"-a", "-i", keyFile}, // encrypt to the identity file's own recipient
				} {
					sealed := runAge(t, pt, append([]string{"-e"}, args...)...)
					got, err := Open(sealed, k.id)
					if err != nil || !bytes.Equal(got, pt) {
						t.Errorf("age -e %v: Open: %v", args[:len(args)-1], err)
					}
					if args[0] == "-a" {
						continue
					}
					text := base64.StdEncoding.EncodeToString(sealed)
					if got, err := Open([]byte(text), k.id); err != nil || !bytes.Equal(got, pt) {
						t.Errorf("age -e %v as text: Open: %v", args[:len(args)-1], err)
					}
				}
			})
		})
	}
	t.Run("age-keygen identity file", func(t *testing.T) {
		t.Parallel()
		gen := realpart.LookPath(t, "age-keygen", "apt-get install age")
		keyFile := filepath.Join(t.TempDir(), "key.txt")
		if out, err := exec.CommandContext(t.Context(), gen, "-o", keyFile).CombinedOutput(); err != nil {
			t.Fatalf("age-keygen: %v: %s", err, out)
		}
		f, err := os.Open(keyFile)
		if err != nil {
			t.Fatal(err)
		}
		defer f.Close()
		ids, err := ParseIdentities(f)
		if err != nil || len(ids) != 1 {
			t.Fatalf("ParseIdentities(age-keygen output) = %d, %v", len(ids), err)
		}
		sealed := runAge(t, pt, "-e", "-i", keyFile)
		if got, err := Open(sealed, ids...); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("Open: %v", err)
		}
		bin, err := Seal(pt, ids[0].Recipient())
		if err != nil {
			t.Fatal(err)
		}
		if got := runAge(t, bin, "-d", "-i", keyFile); !bytes.Equal(got, pt) {
			t.Error("age -d differs")
		}
	})
}

// ageTTY runs the age CLI under script(1), which gives it the terminal it
// reads passphrases from; input is typed into that terminal.
func ageTTY(t *testing.T, input string, args ...string) error {
	t.Helper()
	age := ageCLI(t)
	script := realpart.LookPath(t, "script", "apt-get install bsdutils")
	cmdline := shellQuote(age)
	for _, a := range args {
		cmdline += " " + shellQuote(a)
	}
	cmd := exec.CommandContext(t.Context(), script, "-qec", cmdline, "/dev/null")
	cmd.Stdin = strings.NewReader(input)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, out)
	}
	return nil
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// Not parallel: it sets the process-wide scrypt work factor.
func TestInteropAgePassphrase(t *testing.T) {
	ageCLI(t)
	testhooks.SetScryptWorkFactor(t, testWorkFactor)
	pt := payload(chunkSize + 5)
	dir := t.TempDir()
	in, sealedByAge, opened := filepath.Join(dir, "in"), filepath.Join(dir, "in.age"), filepath.Join(dir, "out")
	if err := os.WriteFile(in, pt, 0o600); err != nil {
		t.Fatal(err)
	}
	// age -p to ours. age uses its default work factor, 18: about a second
	// here, but a minute under the race detector.
	if raceEnabled {
		t.Log("age -p → OpenPassphrase not run under the race detector (scrypt 2^18 is too slow there)")
	} else {
		if err := ageTTY(t, "pw one\npw one\n", "-p", "-o", sealedByAge, in); err != nil {
			t.Fatalf("age -p: %v", err)
		}
		data, err := os.ReadFile(sealedByAge)
		if err != nil {
			t.Fatal(err)
		}
		if got, err := OpenPassphrase(data, Passphrase("pw one")); err != nil || !bytes.Equal(got, pt) {
			t.Errorf("OpenPassphrase of age -p output: %v", err)
		}
	}
	// Ours to age -d.
	sealed, err := SealPassphrase(pt, Passphrase("pw two"))
	if err != nil {
		t.Fatal(err)
	}
	ours := writeFile(t, "ours.age", sealed)
	if err := ageTTY(t, "pw two\n", "-d", "-o", opened, ours); err != nil {
		t.Fatalf("age -d: %v", err)
	}
	if got, err := os.ReadFile(opened); err != nil || !bytes.Equal(got, pt) {
		t.Errorf("age -d of SealPassphrase output differs: %v", err)
	}
	if err := ageTTY(t, "wrong\n", "-d", "-o", filepath.Join(dir, "out2"), ours); err == nil {
		t.Error("age -d accepted a wrong passphrase")
	}
}
