package memlock

import "testing"

func TestIsIdentityUIDMap(t *testing.T) {
	for _, tt := range []struct {
		m    string
		want bool
	}{
		{"         0          0 4294967295\n", true},
		{"0 0 4294967295", true},
		{"         0       1000          1\n", false},
		{"0 100000 65536\n", false},
		{"0 0 4294967295\n1 1 1\n", false},
		{"", false},
	} {
		if got := isIdentityUIDMap(tt.m); got != tt.want {
			t.Errorf("isIdentityUIDMap(%q) = %v, want %v", tt.m, got, tt.want)
		}
	}
}
