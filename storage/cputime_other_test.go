//go:build !linux

package storage

// threadCPU and processCPU are not measured here: benchmarks report wall
// time only.
func threadCPU() int64  { return 0 }
func processCPU() int64 { return 0 }
