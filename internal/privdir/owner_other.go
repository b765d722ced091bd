//go:build !unix

package privdir

import "io/fs"

// checkModes: Windows' permission bits are not its access control (ACLs
// are); a directory under the user's own profile is private by them.
const checkModes = false

// owner: no uid to compare; every directory counts as the user's.
func owner(fs.FileInfo) (int, bool) { return -1, true }
