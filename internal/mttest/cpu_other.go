//go:build !unix

package mttest

import (
	"testing"
	"time"
)

// ProcessCPU is not measured where getrusage is missing: the CPU metrics
// of the benchmarks read 0 there.
func ProcessCPU(testing.TB) time.Duration { return 0 }
