//go:build !unix

package agent

import "os"

// lockFile: the agent does not run here (Supported is false).
func lockFile(string) (*os.File, error) { return nil, ErrUnsupported }
