//go:build race

package localapi

// The race detector makes a key exchange many times slower.
const raceEnabled = true
