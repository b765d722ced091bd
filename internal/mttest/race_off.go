//go:build !race

package mttest

const raceEnabled = false
