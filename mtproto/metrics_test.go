package mtproto

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	tdtgerr "github.com/gotd/td/tgerr"

	"github.com/tgvault/tgvault/internal/mttest"
)

func TestMetricsRPCClassification(t *testing.T) {
	t.Parallel()
	tests := []struct {
		err     error
		outcome string
		typ     string
	}{
		{nil, "ok", ""},
		{tdtgerr.New(420, "FLOOD_WAIT_3"), "rpc_error", "FLOOD_WAIT"},
		{fmt.Errorf("wrapped: %w", tdtgerr.New(401, "SESSION_REVOKED")), "rpc_error", "SESSION_REVOKED"},
		{tdtgerr.New(400, "SOME_NEW_ERROR_42"), "rpc_error", "OTHER"},
		{context.Canceled, "failed", ""},
		{errors.New("connection reset"), "failed", ""},
	}
	for _, tt := range tests {
		var m poolMetrics
		m.rpc(tt.err)
		var b strings.Builder
		p := &Pool{metrics: &m, accounts: map[string]*poolAccount{}}
		if err := p.WriteMetrics(&b); err != nil {
			t.Fatal(err)
		}
		got := mttest.ParseMetrics(t, b.String())
		if got[`tgvault_rpc_total{outcome="`+tt.outcome+`"}`] != 1 {
			t.Errorf("%v: outcome %s not counted", tt.err, tt.outcome)
		}
		var errs float64
		for _, typ := range rpcErrorTypes {
			errs += got[`tgvault_rpc_errors_total{type="`+typ+`"}`]
		}
		if tt.typ == "" && errs != 0 || tt.typ != "" && (errs != 1 || got[`tgvault_rpc_errors_total{type="`+tt.typ+`"}`] != 1) {
			t.Errorf("%v: error types counted %v, want one %q", tt.err, errs, tt.typ)
		}
	}
}
