package tljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
)

// ErrBadParams reports parameters CallBody cannot make a method call of:
// every such error is a *ParamsError.
var ErrBadParams = errors.New("mtproto: bad method parameters")

// ParamsError is parameters that are not a JSON object, or that name
// another method in "_" than the one given. Its text is meant for the
// person who typed them (`tgvault call`): it names the method, and the
// JSON parser's complaint or the other method, never the parameters.
type ParamsError struct {
	Method string // the method the call is for
	Named  string // the other method named in "_" (as JSON), if that is what is wrong
	Err    error  // the JSON parser's error, if any
}

func (e *ParamsError) Error() string {
	if e.Named != "" {
		return fmt.Sprintf("the parameters name method %s, the command line %s", e.Named, e.Method)
	}
	return fmt.Sprintf("the parameters of %s must be a JSON object (%v)", e.Method, e.Err)
}

// Unwrap gives ErrBadParams.
func (e *ParamsError) Unwrap() error { return ErrBadParams }

// CallBody makes a method call in TL JSON (DecodeCall's input, the local
// API's POST /invoke body) from the method's name and the JSON object of
// its parameters: empty params are {}, and params may name the method in
// "_" too, but not another one. The values are passed on as given (a
// long stays as the digits written).
func CallBody(method string, params []byte) ([]byte, error) {
	var m map[string]json.RawMessage
	if len(bytes.TrimSpace(params)) == 0 {
		m = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(params, &m); err != nil || m == nil {
		return nil, &ParamsError{Method: method, Err: err}
	}
	if given, ok := m["_"]; ok {
		var g string
		if json.Unmarshal(given, &g) != nil || g != method {
			return nil, &ParamsError{Method: method, Named: string(given)}
		}
	}
	name, _ := json.Marshal(method)
	m["_"] = name
	return json.Marshal(m)
}
