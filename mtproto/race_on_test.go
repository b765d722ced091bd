//go:build race

package mtproto

// The race detector makes a key exchange many times slower.
const raceEnabled = true
