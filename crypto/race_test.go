//go:build race

package crypto

// raceEnabled reports whether the race detector is on: it makes scrypt at
// age's default work factor take about a minute.
const raceEnabled = true
