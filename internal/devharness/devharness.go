// Package devharness is what the test harnesses add to `tgvault
// dev-server`: --stats-file (the server's counters as a JSON file, kept up
// to date) and --reject-duplicates (AUTH_KEY_DUPLICATED as Telegram
// answers it). Users do not get them: only test binaries and builds with
// -tags tgvault_testhooks link this package (cmd/tgvault/testhooks.go);
// cmd/tgvault's TestReleaseBuildHasNoTestHooks checks that a normal build
// does not.
//
// Layer rule (docs/ARCHITECTURE.md): mtproto/devserver, storage and pflag.
package devharness

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/spf13/pflag"

	"github.com/tgvault/tgvault/internal/atomicfile"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// Stats is the --stats-file content.
type Stats struct {
	KeyExchanges int64 `json:"key_exchanges"`
	Connections  int64 `json:"connections"`
	Duplicates   int64 `json:"duplicates"`
	// DuplicateAddrs counts duplicates from another IP address: one key
	// in two places at once.
	DuplicateAddrs int64 `json:"duplicate_addrs"`
	Open           int   `json:"open"`
	// Authorizations counts new logins (what Telegram lists as a new
	// device): signIn, importBotAuthorization, accepted QR tokens; Imports
	// the auth.importAuthorization calls that logged a key in on another
	// DC.
	Authorizations int64 `json:"authorizations"`
	Imports        int64 `json:"imports"`
	// MaxDevicesPerKey is the most distinct device parameters one key
	// sent: 1 when every account kept its device.
	MaxDevicesPerKey int `json:"max_devices_per_key"`
	// PingDisconnects counts connections closed because their
	// ping_delay_disconnect ran out; Pings counts those pings, and
	// PingDelayMin and PingDelayMax are the least and the most delay they
	// asked for, in seconds (0 before the first). The file stays a flat
	// object of numbers.
	PingDisconnects int64 `json:"ping_disconnects"`
	Pings           int64 `json:"pings"`
	PingDelayMin    int64 `json:"ping_delay_min"`
	PingDelayMax    int64 `json:"ping_delay_max"`
}

// Harness holds the harness flags of one dev-server.
type Harness struct {
	statsFile string
	rejectDup bool
}

// Register adds the harness flags to fs.
func Register(fs *pflag.FlagSet) *Harness {
	h := &Harness{}
	fs.BoolVar(&h.rejectDup, "reject-duplicates", false, "answer AUTH_KEY_DUPLICATED, as Telegram does, on a connection that starts using a key another open connection uses (they are counted either way: duplicates in --stats-file)")
	fs.StringVar(&h.statsFile, "stats-file", "", "keep the server's counters as JSON in `FILE` (key exchanges, connections, duplicate use of a key, new authorizations and imports, connections closed by ping_delay_disconnect and the delays asked)")
	return h
}

// Options applies the flags to the server's options.
func (h *Harness) Options(o *devserver.Options) { o.RejectDuplicates = h.rejectDup }

// Run keeps --stats-file up to date with srv's counters until done (at
// once when the flag is not given).
func (h *Harness) Run(srv *devserver.Server, done <-chan struct{}) {
	if h.statsFile != "" {
		writeStatsLoop(srv, h.statsFile, done)
	}
}

// writeStatsLoop keeps path up to date with srv's counters until done.
func writeStatsLoop(srv *devserver.Server, path string, done <-chan struct{}) {
	var last []byte
	write := func() {
		st := srv.Stats()
		out := Stats{KeyExchanges: st.KeyExchanges, Duplicates: st.Duplicates, DuplicateAddrs: st.DuplicateAddrs, Open: st.Open, MaxDevicesPerKey: srv.MaxClientsPerKey(),
			Authorizations: st.Authorizations, Imports: st.Imports,
			PingDisconnects: st.PingDisconnects}
		for d, n := range st.PingDelays {
			out.Pings += n
			if out.PingDelayMin == 0 || int64(d) < out.PingDelayMin {
				out.PingDelayMin = int64(d)
			}
			out.PingDelayMax = max(out.PingDelayMax, int64(d))
		}
		for _, n := range st.Connections {
			out.Connections += n
		}
		b, _ := json.Marshal(out)
		if !bytes.Equal(b, last) && atomicfile.WriteFile(path, append(b, '\n')) == nil {
			last = b
		}
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		write()
		select {
		case <-done:
			write()
			return
		case <-t.C:
		}
	}
}
