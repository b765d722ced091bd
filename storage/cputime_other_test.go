//go:build !linux

package storage

// threadCPU is not measured here: benchmarks report wall time only.
func threadCPU() int64 { return 0 }
