package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// countingWriter counts the Write calls that reach it: each is one
// write(2) on a real stdout.
type countingWriter struct {
	bytes.Buffer
	writes int
}

func (w *countingWriter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestAccountsTableBuffered: `list` writes its table in 64 KiB chunks,
// not one write per cell (160,018 writes for 10,000 accounts before).
func TestAccountsTableBuffered(t *testing.T) {
	t.Parallel()
	accts := make([]vault.Account, 10_000)
	for i := range accts {
		accts[i] = vault.Account{Name: fmt.Sprintf("acct%05d", i), UserID: sessionstring.Some(int64(1000 + i)), DCID: 2,
			IsBot: sessionstring.Some(false), APIID: sessionstring.Some[int32](12345), Status: vault.StatusActive}
	}
	var w countingWriter
	if err := writeAccountsTable(&w, accts); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != 10_001 || !strings.HasPrefix(lines[0], "NAME") || !strings.HasPrefix(lines[10_000], "acct09999 ") {
		t.Fatalf("table: %d lines, first %q, last %q", len(lines), lines[0], lines[len(lines)-1])
	}
	if max := w.Len()/(64<<10) + 1; w.writes > max {
		t.Errorf("%d writes for %d bytes, want at most %d", w.writes, w.Len(), max)
	}
}
