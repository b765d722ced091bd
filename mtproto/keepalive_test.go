package mtproto

import (
	"testing"
	"time"
)

func TestJitter(t *testing.T) {
	t.Parallel()
	const d = time.Minute
	lo, hi := d, d
	for range 1000 {
		j := jitter(d)
		lo, hi = min(lo, j), max(hi, j)
	}
	if lo < 48*time.Second || hi >= 72*time.Second {
		t.Errorf("jitter out of ±20%%: [%s, %s]", lo, hi)
	}
	if hi-lo < 10*time.Second {
		t.Errorf("jitter barely spreads: [%s, %s]", lo, hi)
	}
	if jitter(0) != 0 {
		t.Error("jitter(0) != 0")
	}
}
