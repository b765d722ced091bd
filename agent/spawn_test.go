//go:build unix

package agent

import (
	"strings"
	"testing"
)

// TestSpawnReportsWhy: Spawn returns once the process says ok (it goes on
// running on its own), and passes on the words of one that could not
// start, or says it said none.
func TestSpawnReportsWhy(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		script, want string
	}{
		{`printf '` + ReadyLine(Info{PID: 1, Memory: "locked"}) + `'; sleep 1`, ""},
		{`printf '` + RunningLine + `'`, ""},
		{`echo 'tgvault: the socket directory is not yours' >&2; exit 1`, "starting the agent: the socket directory is not yours"},
		{`exit 1`, "starting the agent: it exited without a word"},
	} {
		err := Spawn([]string{"/bin/sh", "-c", c.script})
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s: %v, want nil", c.script, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s: %v, want %q", c.script, err, c.want)
		}
	}
}
