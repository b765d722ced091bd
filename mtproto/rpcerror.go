package mtproto

import (
	"context"
	"errors"
	"strconv"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtelegram "github.com/gotd/td/telegram"
	tdtg "github.com/gotd/td/tg"
	tdtgerr "github.com/gotd/td/tgerr"
)

// RPCError is an error the server answered a call with, in tgvault's
// words ("Telegram answered 400 USERNAME_NOT_OCCUPIED"), not gotd's, whose
// text names its internals ("rpcDoRequest: rpc error code 400: ...").
// errors.As still finds gotd's *tgerr.Error behind it, so tgerr.Is and
// tgerr.AsFloodWait work on it.
type RPCError struct {
	Code int    // 400, 401, 420, ...
	Type string // USERNAME_NOT_OCCUPIED, FLOOD_WAIT, ...
	msg  string // the server's whole message (FLOOD_WAIT_30)
	err  *tdtgerr.Error
}

func (e *RPCError) Error() string {
	return "Telegram answered " + strconv.Itoa(e.Code) + " " + e.msg
}

// Unwrap returns gotd's error.
func (e *RPCError) Unwrap() error { return e.err }

// CallError is a call that failed without an answer from the server (the
// connection closed, the context ended): its text is the cause's, without
// gotd's wrapping; errors.Is and errors.As see the whole chain.
type CallError struct{ err error }

func (e *CallError) Error() string {
	root := e.err
	for {
		next := errors.Unwrap(root)
		if next == nil {
			break
		}
		root = next
	}
	return "the call failed: " + root.Error()
}

// Unwrap returns gotd's error.
func (e *CallError) Unwrap() error { return e.err }

// tgvaultErrors is the innermost gotd middleware: it gives every error of
// a call tgvault's text (RPCError, CallError), so that no message of the
// local API, status or a command names gotd's internals. The errors they
// wrap are kept for errors.Is and errors.As.
func tgvaultErrors() tdtelegram.Middleware {
	return tdtelegram.MiddlewareFunc(func(next tdtg.Invoker) tdtelegram.InvokeFunc {
		return func(ctx context.Context, input tdbin.Encoder, output tdbin.Decoder) error {
			return callErr(next.Invoke(ctx, input, output))
		}
	})
}

func callErr(err error) error {
	if err == nil {
		return nil
	}
	if rpc, ok := tdtgerr.As(err); ok {
		msg := rpc.Message
		if msg == "" {
			msg = rpc.Type
		}
		return &RPCError{Code: rpc.Code, Type: rpc.Type, msg: msg, err: rpc}
	}
	return &CallError{err: err}
}

// RPCErrorInfo is what the server's error in a call's error says: its code
// and type, and for a FLOOD_WAIT the wait it asks for.
type RPCErrorInfo struct {
	Code        int
	Type        string
	IsFloodWait bool
	FloodWait   time.Duration
}

// RPCErrorOf finds the server's error in err's chain (gotd's, whether or
// not an RPCError wraps it); ok is false when there is none.
func RPCErrorOf(err error) (info RPCErrorInfo, ok bool) {
	rpc, ok := tdtgerr.As(err)
	if !ok {
		return RPCErrorInfo{}, false
	}
	info = RPCErrorInfo{Code: rpc.Code, Type: rpc.Type}
	info.FloodWait, info.IsFloodWait = tdtgerr.AsFloodWait(err)
	return info, true
}
