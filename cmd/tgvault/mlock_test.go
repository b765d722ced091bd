package main

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/tgvault/tgvault/internal/memlock"
)

func TestMlockMode(t *testing.T) {
	tests := []struct {
		flag, env string
		want      memlock.Mode
		usage     bool
	}{
		{"", "", memlock.Auto, false},
		{"", "on", memlock.On, false},
		{"", "off", memlock.Off, false},
		{"off", "on", memlock.Off, false}, // the flag wins
		{"auto", "off", memlock.Auto, false},
		{"yes", "", "", true},
		{"", "ON", "", true}, // exact words only
	}
	for _, tt := range tests {
		a := &app{getenv: func(k string) string {
			if k == "TGVAULT_MLOCK" {
				return tt.env
			}
			return ""
		}}
		got, err := a.mlockMode(tt.flag)
		var u *usageError
		if tt.usage != errors.As(err, &u) || got != tt.want {
			t.Errorf("mlockMode(%q) with TGVAULT_MLOCK=%q = %q, %v; want %q, usage error %v", tt.flag, tt.env, got, err, tt.want, tt.usage)
		}
	}
}

// TestLockMemoryOff checks that off neither locks nor warns, on any OS.
func TestLockMemoryOff(t *testing.T) {
	var stderr bytes.Buffer
	a := &app{stderr: &stderr, getenv: func(string) string { return "" }}
	locked, err := a.lockMemory(memlock.Off)
	if locked || err != nil || stderr.Len() != 0 {
		t.Fatalf("lockMemory(off) = %v, %v, stderr %q; want false, nil, nothing", locked, err, stderr.String())
	}
	if err := checkMemlock(memlock.Auto); err != nil {
		t.Fatalf("checkMemlock(auto) = %v: only on may stop run", err)
	}
}

func TestClassifyMemlock(t *testing.T) {
	code, kind := classify(memlock.ErrNotAllowed)
	if code != exitError || kind != "memlock" || !strings.Contains(memlock.ErrUnsupported.Error(), "not supported") {
		t.Fatalf("classify(memlock.ErrNotAllowed) = %d, %q; want %d, memlock", code, kind, exitError)
	}
}
