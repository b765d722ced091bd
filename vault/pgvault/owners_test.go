package pgvault

import (
	"context"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
	"github.com/tgvault/tgvault/vault"
)

// TestOwnershipLeases: on PostgreSQL an account's ownership lock is its
// lease. A worker's lease refuses export, move, rename and remove of that
// account only; a command holding an account keeps workers from claiming
// it; Holders names both; a move hands the account off in its file, so a
// worker that claims it afterwards does not serve it.
func TestOwnershipLeases(t *testing.T) {
	v, b := newVault(t)
	for i, n := range []string{"a", "b", "c"} {
		if _, err := v.Import(variantSession(t, i+1), "", importName(n)); err != nil {
			t.Fatal(err)
		}
	}
	list, _ := v.List()
	id := map[string]string{}
	var ids []string
	for _, a := range list {
		id[a.Name] = a.ID
		ids = append(ids, a.ID)
	}
	ctx := context.Background()
	w := newFleet(t, b, "w1", time.Minute)
	if err := w.Sync(ctx, ids); err != nil {
		t.Fatal(err)
	}
	// A command holds b: the worker claims a and c only.
	release, err := v.ClaimAccount("b")
	if err != nil {
		t.Fatal(err)
	}
	ls, _, err := w.Claim(ctx, 10)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Lease{}
	for _, l := range ls {
		got[l.Account] = l
	}
	if len(got) != 2 || got[id["b"]].Account != "" {
		t.Fatalf("the worker claimed %v while a command held b", ls)
	}
	hs, err := v.Holders()
	if err != nil || len(hs) != 3 {
		t.Fatalf("Holders = %+v, %v", hs, err)
	}
	for _, h := range hs {
		switch h.Name {
		case "b":
			if h.Holder.PID != os.Getpid() {
				t.Errorf("b held by %+v, want this process", h.Holder)
			}
		default:
			if !strings.Contains(h.Holder.Command, "--worker w1") {
				t.Errorf("%s held by %+v, want worker w1", h.Name, h.Holder)
			}
		}
	}
	// The worker's accounts are refused; b (ours) is not the worker's.
	var he *vault.HeldError
	if _, err := v.Export("a", sessionstring.Pyrogram, false); !errors.As(err, &he) || !strings.Contains(he.Holder.Command, "w1") {
		t.Errorf("Export of a worker's account: %v", err)
	}
	for what, err := range map[string]error{
		"Rename": v.Rename("a", "z"),
		"Remove": v.Remove("c"),
	} {
		if !errors.Is(err, vault.ErrHeldByRun) {
			t.Errorf("%s of a worker's account: %v", what, err)
		}
	}
	if err := v.Rekey(testPass); !errors.Is(err, vault.ErrHeldByRun) {
		t.Errorf("Rekey with live leases: %v", err)
	}
	if err := release(); err != nil {
		t.Fatal(err)
	}
	// Free now: export and move b; the worker then claims it, and
	// opening it says handed off.
	if _, err := v.Export("b", sessionstring.Pyrogram, false); err != nil {
		t.Errorf("Export of a free account: %v", err)
	}
	r, _ := crypto.GenerateIdentity()
	if _, err := v.ExportSealed("b", vault.SealedExportOptions{To: []*crypto.Recipient{r.Recipient()}, Move: true}); err != nil {
		t.Fatal(err)
	}
	ls, _, err = w.Claim(ctx, 10)
	if err != nil || len(ls) != 1 || ls[0].Account != id["b"] {
		t.Fatalf("claim after the move: %v, %v", ls, err)
	}
	bAcct := list[1]
	bAcct.Status = vault.StatusActive // as an index rolled back would say
	files, errs, err := v.OpenAccounts([]vault.Account{bAcct}, func(a vault.Account) storage.Blob { return w.Blob("accounts/"+a.ID+".age", ls[0]) })
	if err != nil || files[0] != nil || !errors.Is(errs[0], vault.ErrHandedOff) {
		t.Errorf("a worker opening a moved account: %v, %v", errs[0], err)
	}
	// A dead command's hold expires (lockTTL); a released one is free at
	// once.
	if err := w.Release(ctx, ls); err != nil {
		t.Fatal(err)
	}
	rel2, err := v.ClaimAccount("b")
	if err != nil {
		t.Fatalf("ClaimAccount after release: %v", err)
	}
	_ = rel2()
}
