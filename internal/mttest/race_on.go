//go:build race

package mttest

// raceEnabled: the race detector makes a key exchange many times slower.
const raceEnabled = true
