package mtproto

import (
	"context"
	"fmt"

	"github.com/tgvault/tgvault/mtproto/tljson"
)

// InvokeTL calls the Telegram method that call names, in TL JSON (see
// package tljson and README.md: {"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}),
// and returns its result in TL JSON. A call that does not decode fails with
// a *tljson.Error before anything is sent; the methods tljson.RefusedMethod
// lists fail with tljson.ErrMethodRefused. The result goes through the same middleware
// as every other RPC: its users and chats land in the peer cache.
func (c *Client) InvokeTL(ctx context.Context, call []byte) ([]byte, error) {
	tc, err := tljson.DecodeCall(call, nil)
	if err != nil {
		return nil, err
	}
	return c.InvokeCall(ctx, tc)
}

// InvokeCall sends a decoded call (tljson.DecodeCall, whose policy has
// already refused what it refuses) and returns its result in TL JSON.
func (c *Client) InvokeCall(ctx context.Context, tc *tljson.Call) ([]byte, error) {
	res := tc.NewResult()
	if err := c.td.Invoke(ctx, tc.Request(), res); err != nil {
		return nil, fmt.Errorf("mtproto: %s: %w", tc.Name(), sessionErr(err))
	}
	out, err := tljson.Encode(res.Value())
	if err != nil {
		return nil, fmt.Errorf("mtproto: %s: %w", tc.Name(), err)
	}
	return out, nil
}
