package memlock

import (
	"errors"
	"testing"
)

func TestParseMode(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string
		want Mode
		bad  bool
	}{
		{"", Auto, false},
		{"auto", Auto, false},
		{"on", On, false},
		{"off", Off, false},
		{"yes", "", true},
		{"ON", "", true}, // exact words only
		{" on", "", true},
	} {
		got, err := ParseMode(tt.in)
		if got != tt.want || tt.bad != errors.Is(err, ErrBadMode) {
			t.Errorf("ParseMode(%q) = %q, %v; want %q, bad %v", tt.in, got, err, tt.want, tt.bad)
		}
	}
}

// TestLockPolicy: auto locks when allowed and otherwise warns (naming
// the OS's reason), on makes a refusal or a failed lock fatal, off never
// asks the OS. The OS side is faked here; cmd/tgvault's TestMemlock
// locks for real in child processes.
func TestLockPolicy(t *testing.T) {
	t.Parallel()
	refused := ErrNotAllowed
	failed := errors.New("mlockall failed")
	for _, tt := range []struct {
		name             string
		mode             Mode
		allowed, lockErr error
		locked           bool
		warning, err     error
		lockCalled       bool
	}{
		{"auto allowed", Auto, nil, nil, true, nil, nil, true},
		{"auto refused", Auto, refused, nil, false, refused, nil, false},
		{"auto lock fails", Auto, nil, failed, false, failed, nil, true},
		{"on allowed", On, nil, nil, true, nil, nil, true},
		{"on refused", On, refused, nil, false, nil, refused, false},
		{"on lock fails", On, nil, failed, false, nil, failed, true},
		{"off", Off, nil, nil, false, nil, nil, false},
		{"off refused", Off, refused, nil, false, nil, nil, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			asked, called := false, false
			locked, warning, err := lock(tt.mode,
				func() error { asked = true; return tt.allowed },
				func() error { called = true; return tt.lockErr })
			if locked != tt.locked || !errors.Is(warning, tt.warning) || (tt.warning == nil) != (warning == nil) ||
				!errors.Is(err, tt.err) || (tt.err == nil) != (err == nil) || called != tt.lockCalled {
				t.Errorf("lock = %v, warning %v, err %v, LockAll called %v; want %v, %v, %v, %v",
					locked, warning, err, called, tt.locked, tt.warning, tt.err, tt.lockCalled)
			}
			if tt.mode == Off && asked {
				t.Error("off asked the OS")
			}
		})
	}
	if err := Check(Auto); err != nil {
		t.Errorf("Check(auto) = %v: only on may stop a start", err)
	}
	if err := Check(Off); err != nil {
		t.Errorf("Check(off) = %v", err)
	}
}
