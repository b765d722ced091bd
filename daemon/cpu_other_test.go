//go:build !unix

package daemon

import (
	"testing"
	"time"
)

// processCPU is not measured where getrusage is missing: the CPU metrics of
// the benchmarks read 0 there.
func processCPU(testing.TB) time.Duration { return 0 }
