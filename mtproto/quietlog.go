package mtproto

import (
	"context"

	tdlog "github.com/gotd/log"
)

// quietLog is the logger of tgvault's gotd clients. Like gotd's default
// (log.Nop) it records nothing, but it answers With and Named with itself:
// log.Nop has neither, so gotd wrapped it anew for every With (each
// connection, RPC engine and manager adds its attributes) and merged the
// attributes on every Log it then discarded. At a pool's start that was a
// quarter of the bytes allocated, which the garbage collector then had to
// chase.
type quietLog struct{}

var (
	_ tdlog.Logger = quietLog{}
	_ tdlog.Wither = quietLog{}
	_ tdlog.Namer  = quietLog{}
)

func (quietLog) Enabled(context.Context, tdlog.Level) bool               { return false }
func (quietLog) Log(context.Context, tdlog.Level, string, ...tdlog.Attr) {}
func (quietLog) With(...tdlog.Attr) tdlog.Logger                         { return quietLog{} }
func (quietLog) Named(string) tdlog.Logger                               { return quietLog{} }
