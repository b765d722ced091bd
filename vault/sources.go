package vault

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ImportSource is one thing to import that FindSources found.
type ImportSource struct {
	Path string
	// Folder is set for a directory that is a source of its own (a
	// Telegram Desktop tdata folder), else the source is a file.
	Folder bool
	// Found is set for a source found inside a directory given, rather
	// than named: a bulk import skips such a file when it is no session.
	Found bool
}

// SkippedSource is a path FindSources left out, and why.
type SkippedSource struct {
	Path   string `json:"source"`
	Reason string `json:"reason"`
}

// FindOptions tune FindSources.
type FindOptions struct {
	// NoRecurse takes only the files directly inside a directory given;
	// its subdirectories are skipped (and said so).
	NoRecurse bool
	// IsFolder reports whether a directory is a source of its own (a
	// Telegram Desktop tdata folder): it is taken whole, not descended
	// into. Nil: none is.
	IsFolder func(dir string) bool
}

// FindSources expands paths into import sources. A file named is a
// source; a directory named is a Folder source when IsFolder says so,
// else every file below it is (recursively unless NoRecurse), in lexical
// order, and every folder source below it. Below a named directory:
// symbolic links are not followed, named pipes, sockets and devices are
// never opened (opening a FIFO blocks), hidden files and directories are
// left out, and each is reported as skipped with the reason; SQLite's
// -journal, -wal and -shm companions are left out silently (the reader of
// their .session file takes them). A named path that does not exist is an
// error.
func FindSources(paths []string, o FindOptions) ([]ImportSource, []SkippedSource, error) {
	var (
		srcs []ImportSource
		skip []SkippedSource
	)
	for _, p := range paths {
		fi, err := os.Stat(p) // a path named by the user is followed
		if err != nil {
			return nil, nil, fmt.Errorf("vault: import: %w", err)
		}
		switch {
		case fi.IsDir() && o.IsFolder != nil && o.IsFolder(p):
			srcs = append(srcs, ImportSource{Path: p, Folder: true})
		case fi.IsDir():
			s, k := walkSources(p, o)
			srcs, skip = append(srcs, s...), append(skip, k...)
		case fi.Mode().IsRegular():
			srcs = append(srcs, ImportSource{Path: p})
		default:
			skip = append(skip, SkippedSource{Path: p, Reason: notRegular(fi.Mode())})
		}
	}
	return srcs, skip, nil
}

func walkSources(root string, o FindOptions) (srcs []ImportSource, skip []SkippedSource) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			// An unreadable directory (or one that vanished): say so,
			// and go on with the rest.
			skip = append(skip, SkippedSource{Path: p, Reason: "cannot be read: " + unwrapPathErr(err)})
			if d != nil && d.IsDir() && p != root {
				return filepath.SkipDir
			}
			return nil
		}
		if p == root {
			return nil
		}
		name := d.Name()
		t := d.Type()
		switch {
		case strings.HasPrefix(name, "."):
			if t.IsDir() {
				skip = append(skip, SkippedSource{Path: p, Reason: "a hidden directory (not searched)"})
				return filepath.SkipDir
			}
			skip = append(skip, SkippedSource{Path: p, Reason: "a hidden file"})
		case t&fs.ModeSymlink != 0:
			skip = append(skip, SkippedSource{Path: p, Reason: "a symbolic link (not followed; name its target to import it)"})
		case t.IsDir():
			switch {
			case o.IsFolder != nil && o.IsFolder(p):
				srcs = append(srcs, ImportSource{Path: p, Folder: true, Found: true})
				return filepath.SkipDir
			case o.NoRecurse:
				skip = append(skip, SkippedSource{Path: p, Reason: "a subdirectory (--no-recurse)"})
				return filepath.SkipDir
			}
		case t.IsRegular():
			if sqliteCompanion(name) {
				return nil
			}
			srcs = append(srcs, ImportSource{Path: p, Found: true})
		default:
			skip = append(skip, SkippedSource{Path: p, Reason: notRegular(t)})
		}
		return nil
	})
	return srcs, skip
}

// sqliteCompanion reports whether name is a -journal, -wal or -shm file.
func sqliteCompanion(name string) bool {
	return strings.HasSuffix(name, "-journal") || strings.HasSuffix(name, "-wal") || strings.HasSuffix(name, "-shm")
}

// notRegular says what a non-regular file is; none of them is opened.
func notRegular(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO; never opened)"
	case m&fs.ModeSocket != 0:
		return "a socket (never opened)"
	case m&fs.ModeDevice != 0, m&fs.ModeCharDevice != 0:
		return "a device (never opened)"
	case m&fs.ModeSymlink != 0:
		return "a symbolic link (not followed)"
	}
	return "not a regular file"
}

// unwrapPathErr drops the path from an *fs.PathError (the caller names it).
func unwrapPathErr(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}
