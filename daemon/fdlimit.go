package daemon

import "fmt"

// fdSpare is what run keeps open besides one connection per account: the
// temp files of a save batch (commitBatch) and a margin for the local
// API's connections and the vault's own files.
const fdSpare = commitBatch + 176

// checkOpenFiles warns when n accounts need more open files than the
// process may have (openFilesWarning).
func (d *daemon) checkOpenFiles(n int) {
	limit, ok := openFileLimit()
	if w := openFilesWarning(n, limit, ok); w != "" {
		d.warnf("%s", w)
	}
}

// openFilesWarning says what goes wrong when n accounts need more open
// files than limit (known: ok), and is empty when they fit. Each online
// account holds a connection; an account that cannot get one fails to
// connect, and so does every later accept of the local API and every save,
// with "too many open files" (what a run of 20,000 accounts under a limit
// of 20,000 did: docs/benchmarks.md).
func openFilesWarning(n int, limit uint64, ok bool) string {
	need := uint64(n) + fdSpare
	if !ok || need <= limit {
		return ""
	}
	return fmt.Sprintf("%d accounts need about %d open files (a connection each, and the files of a save), and this process may open %d: "+
		"accounts past that fail to connect, and the local API and saves fail with \"too many open files\"; "+
		"raise the limit (ulimit -n, systemd LimitNOFILE=) or serve fewer accounts per process", n, need, limit)
}
