package mtproto

import (
	"context"
	"fmt"
)

// InvokeTL calls the Telegram method that call names, in TL JSON (see
// tljson.go and README.md: {"_":"users.getUsers","id":[{"_":"inputUserSelf"}]}),
// and returns its result in TL JSON. A call that does not decode fails with
// a *TLJSONError before anything is sent; the methods RefusedMethod lists
// fail with ErrMethodRefused. The result goes through the same middleware
// as every other RPC: its users and chats land in the peer cache.
func (c *Client) InvokeTL(ctx context.Context, call []byte) ([]byte, error) {
	tc, err := decodeTLCall(call, nil)
	if err != nil {
		return nil, err
	}
	return c.invokeTL(ctx, tc)
}

func (c *Client) invokeTL(ctx context.Context, tc *tlCall) ([]byte, error) {
	res := &tlResult{typ: tc.method.result}
	if err := c.td.Invoke(ctx, tc.req, res); err != nil {
		return nil, fmt.Errorf("mtproto: %s: %w", tc.method.name, sessionErr(err))
	}
	out, err := encodeTL(res.value.Interface())
	if err != nil {
		return nil, fmt.Errorf("mtproto: %s: %w", tc.method.name, err)
	}
	return out, nil
}
