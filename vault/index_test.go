package vault

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// scanFind and scanByID are the index's lookups as linear scans: the
// reference the maps must agree with.
func scanFind(x *index, name string) int {
	return slices.IndexFunc(x.Accounts, func(a Account) bool { return a.Name == name })
}

func scanByID(x *index, id string) int {
	return slices.IndexFunc(x.Accounts, func(a Account) bool { return a.ID == id })
}

// TestIndexLookupsAtScale imports 20,000 entries the way ImportFiles does
// (a name check, then an append, for each), then sorts, replaces, renames
// and removes entries, checking find and byID against a scan after each
// step. The maps must be built a handful of times, not once per entry: a
// rebuild per append made a bulk import quadratic again.
func TestIndexLookupsAtScale(t *testing.T) {
	t.Parallel()
	const n = 20_000
	x := &index{}
	for i := range n {
		a := Account{Name: fmt.Sprintf("acct-%05d", (i*7919)%n), ID: fmt.Sprintf("%032x", i)}
		if x.find(a.Name) >= 0 || x.byID(a.ID) >= 0 {
			t.Fatalf("entry %d found before it was added", i)
		}
		x.add(a)
		if j := x.byID(a.ID); j != len(x.Accounts)-1 {
			t.Fatalf("byID(new entry %d) = %d", i, j)
		}
	}
	if x.remaps > 1 {
		t.Fatalf("%d entries added: the maps were built %d times, want at most 1", n, x.remaps)
	}

	check := func(step string) {
		t.Helper()
		rng := rand.New(rand.NewPCG(1, 2))
		for range 2_000 {
			k := rng.IntN(n + 100) // some past the end: misses
			name, id := fmt.Sprintf("acct-%05d", k), fmt.Sprintf("%032x", k)
			if got, want := x.find(name), scanFind(x, name); got != want {
				t.Fatalf("%s: find(%s) = %d, the scan says %d", step, name, got, want)
			}
			if got, want := x.byID(id), scanByID(x, id); got != want {
				t.Fatalf("%s: byID(%s) = %d, the scan says %d", step, id, got, want)
			}
		}
		for _, i := range []int{0, len(x.Accounts) / 2, len(x.Accounts) - 1} {
			a := x.Accounts[i]
			if x.find(a.Name) != scanFind(x, a.Name) || x.byID(a.ID) != i {
				t.Fatalf("%s: entry %d not found at its place", step, i)
			}
		}
	}
	check("added")
	x.sort()
	check("sorted")
	x.set(10, Account{Name: "replacement", ID: "new-id"})
	if x.find("replacement") != 10 || x.byID("new-id") != 10 {
		t.Fatal("the replaced entry is not found at its place")
	}
	check("replaced")
	x.Accounts[20].Name = "renamed"
	x.renamed()
	if x.find("renamed") != 20 {
		t.Fatal("a renamed entry is not found by its new name")
	}
	check("renamed")
	x.remove(5)
	check("removed")
	// An append made without add (rekey builds an index so) is seen.
	x.Accounts = append(x.Accounts, Account{Name: "appended", ID: "appended-id"})
	if x.find("appended") != len(x.Accounts)-1 || x.byID("appended-id") != len(x.Accounts)-1 {
		t.Fatal("an entry appended without add is not found")
	}
	check("appended")
	if x.remaps > 8 {
		t.Fatalf("the maps were built %d times for a handful of changes", x.remaps)
	}
}

// BenchmarkIndexImport adds 10,000 entries with a name check each, as a
// bulk import does.
func BenchmarkIndexImport(b *testing.B) {
	names := make([]Account, 10_000)
	for i := range names {
		names[i] = Account{Name: fmt.Sprintf("acct-%05d", i), ID: fmt.Sprintf("%032x", i)}
	}
	for b.Loop() {
		x := &index{}
		for _, a := range names {
			if x.find(a.Name) >= 0 {
				b.Fatal("found")
			}
			x.add(a)
		}
	}
}
