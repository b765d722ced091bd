package crypto

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
)

// forms are the ways of sealing to recipients, each with what it produces.
var forms = []struct {
	name string
	seal func(pt []byte, rs ...*Recipient) ([]byte, error)
}{
	{"binary", Seal},
	{"armored", SealArmored},
	{"text", func(pt []byte, rs ...*Recipient) ([]byte, error) {
		s, err := SealText(pt, rs...)
		return []byte(s), err
	}},
	{"SealTo", func(pt []byte, rs ...*Recipient) ([]byte, error) {
		var buf bytes.Buffer
		w, err := SealTo(&buf, rs...)
		if err != nil {
			return nil, err
		}
		// Write in odd pieces to cross chunk boundaries.
		for len(pt) > 0 {
			n := min(len(pt), 10007)
			if _, err := w.Write(pt[:n]); err != nil {
				return nil, err
			}
			pt = pt[n:]
		}
		if err := w.Close(); err != nil {
			return nil, err
		}
		return buf.Bytes(), nil
	}},
}

func payload(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(i*7 + i>>8)
	}
	return b
}

var sizes = []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 17}

func TestRoundTrip(t *testing.T) {
	t.Parallel()
	for _, k := range kinds(t) {
		for _, f := range forms {
			t.Run(k.name+"/"+f.name, func(t *testing.T) {
				t.Parallel()
				other := newIdentity(t)
				for _, n := range sizes {
					pt := payload(n)
					sealed, err := f.seal(pt, k.id.Recipient())
					if err != nil {
						t.Fatalf("size %d: seal: %v", n, err)
					}
					if f.name == "text" && (bytes.ContainsAny(sealed, "\n\r ") || !strings.HasPrefix(string(sealed), "YWdlLWVuY3J5cHRpb24ub3JnL3Yx")) {
						t.Fatalf("text form is not one base64 line of an age file: %.40q", sealed)
					}
					if f.name == "armored" && !bytes.HasPrefix(sealed, []byte(armorBegin+"\n")) {
						t.Fatalf("armored form starts with %.40q", sealed)
					}
					got, err := Open(sealed, other, k.id)
					if err != nil {
						t.Fatalf("size %d: open: %v", n, err)
					}
					if !bytes.Equal(got, pt) {
						t.Fatalf("size %d: plaintext differs", n)
					}
					if got == nil {
						t.Fatalf("size %d: nil plaintext on success", n)
					}
					got, err = Open(sealed, other)
					checkFailure(t, "other key", got, err, "wrong key")
				}
			})
		}
	}
}

func TestSealMultipleRecipients(t *testing.T) {
	t.Parallel()
	a, b := newIdentity(t), newIdentity(t)
	ed := kinds(t)[2].id
	sealed, err := Seal([]byte("hi"), a.Recipient(), b.Recipient(), ed.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []*Identity{a, b, ed} {
		if got, err := Open(sealed, id); err != nil || string(got) != "hi" {
			t.Errorf("Open = %q, %v", got, err)
		}
	}
	// Post-quantum and classic recipients cannot be mixed.
	pq := kinds(t)[1].id
	if _, err := Seal([]byte("hi"), a.Recipient(), pq.Recipient()); err == nil {
		t.Error("Seal mixed classic and post-quantum recipients")
	}
	if _, err := NewSealer([]*Identity{a}, []*Recipient{a.Recipient(), pq.Recipient()}); err == nil {
		t.Error("NewSealer accepted mixed classic and post-quantum recipients")
	}
}

func TestArgumentErrors(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	sealed, err := Seal([]byte("x"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Seal([]byte("x")); err == nil || class(err) != "other" {
		t.Errorf("Seal without recipients: %v", err)
	}
	if _, err := Seal([]byte("x"), nil); err == nil {
		t.Error("Seal with a nil recipient succeeded")
	}
	if pt, err := Open(sealed); err == nil || class(err) != "other" || pt != nil {
		t.Errorf("Open without identities: %q, %v (want an error that is neither wrong key nor corrupt)", pt, err)
	}
	if _, err := Open(sealed, nil); err == nil {
		t.Error("Open with a nil identity succeeded")
	}
	if _, err := NewSealer(nil, []*Recipient{id.Recipient()}); err == nil {
		t.Error("NewSealer without identities succeeded")
	}
	if _, err := NewSealer([]*Identity{id}, nil); err == nil {
		t.Error("NewSealer without recipients succeeded")
	}
}

func TestOpenForms(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	pt := []byte("session bytes")
	bin, err := Seal(pt, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	arm, err := SealArmored(pt, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	text, err := SealText(pt, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := base64.StdEncoding.DecodeString(text); !bytes.HasPrefix(got, []byte("age-encryption.org/v1\n")) {
		t.Fatal("text form does not decode to an age file")
	}
	if len(text)%4 != 0 {
		t.Fatalf("text form is not padded base64: length %d", len(text))
	}
	ok := map[string][]byte{
		"text with newline":     []byte(text + "\n"),
		"text with spaces":      []byte("  \t" + text + " \r\n"),
		"armored with space":    append([]byte("\n\n"), arm...),
		"armored CRLF":          bytes.ReplaceAll(arm, []byte("\n"), []byte("\r\n")),
		"armored no final LF":   bytes.TrimSuffix(arm, []byte("\n")),
		"armored trailing WS":   append(bytes.Clone(arm), " \n\n"...),
		"binary":                bin,
		"binary via text again": []byte(base64.StdEncoding.EncodeToString(bin)),
	}
	for name, data := range ok {
		got, err := Open(data, id)
		if err != nil || !bytes.Equal(got, pt) {
			t.Errorf("%s: Open = %q, %v", name, got, err)
		}
	}
	bad := map[string][]byte{
		"empty":                   nil,
		"whitespace":              []byte(" \n"),
		"plain text":              []byte("hello world"),
		"text missing last char":  []byte(text[:len(text)-1]),
		"text split in two lines": []byte(text[:40] + "\n" + text[40:]),
		"text URL alphabet":       []byte(base64.URLEncoding.EncodeToString(bin)),
		"text of non-age":         []byte(base64.StdEncoding.EncodeToString([]byte("hello world, no age"))),
		"text with garbage":       []byte(text + "AAAA"),
		"binary leading space":    append([]byte(" "), bin...),
		"binary trailing newline": append(bytes.Clone(bin), '\n'),
		"armored garbage after":   append(bytes.Clone(arm), "x\n"...),
		"armored truncated":       arm[:len(arm)-20],
		"armored body line":       bytes.Replace(arm, []byte("\n"), []byte("\n\n"), 2),
		"armor of nothing":        []byte(armorBegin + "\n-----END AGE ENCRYPTED FILE-----\n"),
		"age version 2":           bytes.Replace(bin, []byte("age-encryption.org/v1"), []byte("age-encryption.org/v2"), 1),
	}
	if unpadded := strings.TrimRight(text, "="); unpadded != text {
		bad["text unpadded"] = []byte(unpadded)
	}
	for name, data := range bad {
		got, err := Open(data, id)
		checkFailure(t, name, got, err, "corrupt")
	}
}

// regions of a small binary age file sealed to one X25519 recipient.
func regions(t *testing.T, file []byte) (stanza, mac, payload int) {
	t.Helper()
	stanza = bytes.Index(file, []byte("\n-> ")) + 1
	mac = bytes.Index(file, []byte("\n--- ")) + 1
	payload = bytes.IndexByte(file[mac:], '\n') + mac + 1
	if stanza <= 0 || mac <= stanza || payload <= mac {
		t.Fatalf("cannot find the regions of %q", file)
	}
	return stanza, mac, payload
}

func TestTamperEveryByte(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	file, err := Seal([]byte("a small secret"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	stanza, mac, _ := regions(t, file)
	for i := range file {
		for _, x := range []byte{0x01, 0x80, 0xff} {
			f := bytes.Clone(file)
			f[i] ^= x
			got, err := Open(f, id)
			what := fmt.Sprintf("byte %d ^ %#x", i, x)
			if i >= stanza && i < mac {
				// A damaged X25519 stanza whose encoding still parses is
				// indistinguishable from a stanza for another key: age
				// reports no match.
				checkFailure(t, what, got, err, "corrupt", "wrong key")
			} else {
				checkFailure(t, what, got, err, "corrupt")
			}
		}
	}
	for n := range len(file) {
		got, err := Open(file[:n], id)
		checkFailure(t, fmt.Sprintf("truncated to %d", n), got, err, "corrupt")
	}
	for _, tail := range []string{"\x00", "\n", "x", strings.Repeat("A", 100)} {
		got, err := Open(append(bytes.Clone(file), tail...), id)
		checkFailure(t, fmt.Sprintf("appended %q", tail), got, err, "corrupt")
	}
}

func TestTamperChunks(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	pt := payload(3*chunkSize + 100) // four chunks, the last short
	file, err := Seal(pt, id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	_, mac, body := regions(t, file)
	chunks := body + nonceSize
	const full = chunkSize + tagSize
	cases := map[string]int{
		"version line":      3,
		"MAC":               mac + 6,
		"nonce":             body + 3,
		"first chunk":       chunks + 10,
		"first chunk tag":   chunks + full - 1,
		"second chunk":      chunks + full + 500,
		"third chunk":       chunks + 2*full + 7,
		"last chunk":        chunks + 3*full + 50,
		"last chunk tag":    len(file) - 1,
		"last chunk 1st b.": chunks + 3*full,
	}
	for name, i := range cases {
		f := bytes.Clone(file)
		f[i] ^= 0x40
		got, err := Open(f, id)
		checkFailure(t, name, got, err, "corrupt")
	}
	cuts := map[string]int{
		"at header end":        body,
		"after nonce":          chunks,
		"mid first chunk":      chunks + 1000,
		"at chunk boundary":    chunks + full,
		"at 3 chunks":          chunks + 3*full,
		"one byte short":       len(file) - 1,
		"last tag half":        len(file) - 8,
		"drop 2nd chunk start": -1,
	}
	for name, n := range cuts {
		var f []byte
		if n < 0 { // remove a whole middle chunk: reordering is detected
			f = append(bytes.Clone(file[:chunks+full]), file[chunks+2*full:]...)
		} else {
			f = file[:n]
		}
		got, err := Open(f, id)
		checkFailure(t, name, got, err, "corrupt")
	}
	got, err := Open(append(bytes.Clone(file), file[chunks:chunks+full]...), id)
	checkFailure(t, "appended chunk", got, err, "corrupt")
}

func TestSealerConcurrent(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s, err := NewSealer([]*Identity{id}, []*Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 20 {
				pt := payload(g*1000 + i*97)
				ct, err := s.Seal(pt)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := s.Open(ct)
				if err != nil || !bytes.Equal(got, pt) {
					t.Errorf("round trip: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	other := newIdentity(t)
	ct, err := Seal([]byte("x"), other.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.Open(ct)
	checkFailure(t, "Sealer.Open of a file for another key", got, err, "wrong key")
	if !errors.Is(err, ErrWrongKey) {
		t.Fatal(err)
	}
}

func TestSealerOpenInPlace(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	s, err := NewSealer([]*Identity{id}, []*Recipient{id.Recipient()})
	if err != nil {
		t.Fatal(err)
	}
	const full = chunkSize + tagSize
	for _, n := range []int{0, 1, chunkSize - 1, chunkSize, chunkSize + 1, 3*chunkSize + 100, 5 * chunkSize} {
		pt := payload(n)
		ct, err := s.Seal(pt)
		if err != nil {
			t.Fatal(err)
		}
		buf := bytes.Clone(ct)
		got, err := s.OpenInPlace(buf)
		if err != nil || !bytes.Equal(got, pt) {
			t.Fatalf("%d bytes: OpenInPlace = %d bytes, %v", n, len(got), err)
		}
		if n > 0 && &got[0] != &buf[0] {
			t.Fatalf("%d bytes: plaintext not in the ciphertext's buffer", n)
		}
		// A damaged last chunk fails after the others were decrypted: none
		// of their plaintext may stay in the buffer.
		if n > chunkSize {
			buf := bytes.Clone(ct)
			buf[len(buf)-1] ^= 1
			got, err := s.OpenInPlace(buf)
			checkFailure(t, fmt.Sprintf("%d bytes, last tag damaged", n), got, err, "corrupt")
			if !bytes.Equal(buf, make([]byte, len(buf))) {
				t.Fatalf("%d bytes: buffer not cleared after a failure", n)
			}
		}
		if n > 2*chunkSize {
			// Dropping a middle chunk is caught too.
			_, _, body := regions(t, ct)
			cut := append(bytes.Clone(ct[:body+nonceSize+full]), ct[body+nonceSize+2*full:]...)
			got, err = s.OpenInPlace(cut)
			checkFailure(t, fmt.Sprintf("%d bytes, chunk dropped", n), got, err, "corrupt")
		}
	}
	// The armored form is decoded, then opened as Open does.
	arm, err := SealArmored([]byte("hello"), id.Recipient())
	if err != nil {
		t.Fatal(err)
	}
	if got, err := s.OpenInPlace(arm); err != nil || string(got) != "hello" {
		t.Fatalf("armored: %q, %v", got, err)
	}
	other := newIdentity(t)
	ct, _ := Seal([]byte("x"), other.Recipient())
	got, err := s.OpenInPlace(ct)
	checkFailure(t, "OpenInPlace of a file for another key", got, err, "wrong key")
}
