//go:build !race

package mtproto

const raceEnabled = false
