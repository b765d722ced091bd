package agent

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The wire protocol: one request and one answer per connection, each a
// frame of a 2-byte big-endian length and a body of at most maxBody bytes.
// A request body is the protocol version, an op byte and its fields; an
// answer body is a status byte and its fields. A field is a 2-byte
// big-endian length and its bytes.
const (
	protoVersion = 1
	frameSize    = 4096          // a whole frame fits one page
	maxBody      = frameSize - 2 // the body of a frame
	maxSecret    = 1024          // the largest secret the agent keeps
	maxName      = 256           // the longest service or user name
	pageSize     = 2 * frameSize // one request and one answer per connection
)

// Ops.
const (
	opGet    = 'G' // service, user -> secret
	opSet    = 'S' // service, user, secret, expiry (unix nanoseconds, 8 bytes; 0 = none)
	opDelete = 'D' // service, user
	opInfo   = 'I' // -> pid, secrets held, memory lock
)

// Statuses.
const (
	statusOK       = 0
	statusNotFound = 1
	statusError    = 2 // one field: the message
)

var errFrame = errors.New("agent: malformed frame")

// appendField appends a length-prefixed field to b.
func appendField(b, f []byte) []byte {
	b = binary.BigEndian.AppendUint16(b, uint16(len(f)))
	return append(b, f...)
}

// fields splits a body's fields (after the op or status byte). The fields
// alias b.
func fields(b []byte) ([][]byte, error) {
	var out [][]byte
	for len(b) > 0 {
		if len(b) < 2 {
			return nil, errFrame
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n > len(b) {
			return nil, errFrame
		}
		out = append(out, b[:n:n])
		b = b[n:]
	}
	return out, nil
}

// frame puts the length prefix in front of body, which must sit at
// buf[2:]; it returns the whole frame.
func frame(buf []byte, bodyLen int) ([]byte, error) {
	if bodyLen > maxBody {
		return nil, fmt.Errorf("agent: frame of %d bytes is too large", bodyLen)
	}
	binary.BigEndian.PutUint16(buf, uint16(bodyLen))
	return buf[:2+bodyLen], nil
}
