package main

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"text/tabwriter"

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

// TestAccountsTableAsTabwriter: the table is what text/tabwriter made of
// the same cells (the format list printed before), names of any width and
// script included.
func TestAccountsTableAsTabwriter(t *testing.T) {
	t.Parallel()
	accts := []vault.Account{
		{Name: "a", DCID: 2, Status: vault.StatusActive},
		{Name: "ünïcødé-名前", UserID: sessionstring.Some[int64](123456789), DCID: 5, IsBot: sessionstring.Some(true),
			TestMode: sessionstring.Some(false), APIID: sessionstring.Some[int32](12345), Status: vault.StatusHandedOff, Peers: 7},
		{Name: strings.Repeat("long", 20), UserID: sessionstring.Some[int64](-1), Status: vault.StatusBroken, Peers: 100000},
	}
	var want bytes.Buffer
	tw := tabwriter.NewWriter(&want, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tUSER_ID\tDC\tBOT\tTEST\tAPI_ID\tSTATUS\tPEERS")
	for _, ac := range accts {
		fmt.Fprintf(tw, "%s\t%s\t%d\t%s\t%s\t%s\t%s\t%d\n", ac.Name, opt(ac.UserID), ac.DCID,
			opt(ac.IsBot), opt(ac.TestMode), opt(ac.APIID), ac.Status, ac.Peers)
	}
	tw.Flush()
	var got bytes.Buffer
	if err := writeAccountsTable(&got, accts); err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("table:\n%s\ntabwriter:\n%s", got.String(), want.String())
	}
}
