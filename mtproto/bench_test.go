package mtproto

import (
	"testing"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

func benchServer(b *testing.B) *devserver.Server {
	srv, err := devserver.Open(devserver.Options{Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(b.Context()) }()
	b.Cleanup(func() { _ = srv.Close(); <-done })
	return srv
}

// BenchmarkLoginBot is a login with a real key exchange (client and server
// in one process: cpu-ms/op counts both sides).
func BenchmarkLoginBot(b *testing.B) {
	srv := benchServer(b)
	_, token, err := srv.AddBot("bench")
	if err != nil {
		b.Fatal(err)
	}
	cpu0 := mttest.ProcessCPU(b)
	for b.Loop() {
		store := mttest.NewMemory(b)
		if _, err := LoginBot(b.Context(), store, token, serverOptions(srv)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((mttest.ProcessCPU(b)-cpu0).Milliseconds())/float64(b.N), "cpu-ms/op")
}

// BenchmarkReconnect is a connect with a stored key and one call.
func BenchmarkReconnect(b *testing.B) {
	srv := benchServer(b)
	seeds, err := srv.SeedAccounts(1)
	if err != nil {
		b.Fatal(err)
	}
	store := mttest.NewMemory(b)
	mttest.SeedStore(b, store, seeds[0].Key, seeds[0].DC, seeds[0].UserID)
	cpu0 := mttest.ProcessCPU(b)
	for b.Loop() {
		if _, err := runSelf(b.Context(), store, serverOptions(srv)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64((mttest.ProcessCPU(b)-cpu0).Microseconds())/float64(b.N), "cpu-us/op")
}
