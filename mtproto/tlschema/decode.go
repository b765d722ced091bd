package tlschema

import (
	"encoding/binary"
	"fmt"
)

// VectorID is the constructor id of a boxed vector.
const VectorID uint32 = 0x1cb5c415

// MaxDepth bounds how deeply objects may nest in decoded bytes; deeper
// bytes are malformed (Telegram's deepest real objects, rich-text page
// blocks, stay far below it).
const MaxDepth = 64

// Value is one decoded value: where its bytes are, and, for an object or
// a vector of objects, what is inside. A Value refers to the buffer it
// was decoded from and holds no copy.
type Value struct {
	Type  Type
	Start int // its first byte (a boxed object's constructor id)
	End   int // past its last byte
	// Node is the object of an Object, Bare or Generic value.
	Node *Node
	// Count is a vector's element count; CountAt the offset of the count
	// (a vector's length is patched there).
	Count, CountAt int
	// Elems are a vector's elements when they are objects (nil for a
	// vector of numbers or strings).
	Elems []Value
}

// Node is one decoded object: its constructor and its fields.
type Node struct {
	C          *Combinator
	Start, End int
	// Fields has one entry per parameter of C; an absent one (its flag
	// bit clear) has Start -1.
	Fields []Value
}

// Field returns the field named name, nil when the constructor has no
// such parameter or the object does not carry it.
func (n *Node) Field(name string) *Value {
	i := n.C.Param(name)
	if i < 0 || n.Fields[i].Start < 0 {
		return nil
	}
	return &n.Fields[i]
}

// Long returns the value of a long field named name (ok false when the
// object has none).
func (n *Node) Long(buf []byte, name string) (int64, bool) {
	v := n.Field(name)
	if v == nil || v.Type.Kind != Long {
		return 0, false
	}
	return int64(binary.LittleEndian.Uint64(buf[v.Start:])), true
}

// Int returns the value of an int field named name (ok false when the
// object has none).
func (n *Node) Int(buf []byte, name string) (int32, bool) {
	v := n.Field(name)
	if v == nil || v.Type.Kind != Int {
		return 0, false
	}
	return int32(binary.LittleEndian.Uint32(buf[v.Start:])), true
}

// DecodeError says where and why bytes did not decode.
type DecodeError struct {
	Offset int
	ID     uint32 // the unknown constructor id, for ErrUnknownConstructor
	Err    error  // ErrUnknownConstructor or ErrMalformed
	What   string
}

func (e *DecodeError) Error() string {
	if e.Err == ErrUnknownConstructor {
		return fmt.Sprintf("tlschema: unknown constructor %08x at offset %d", e.ID, e.Offset)
	}
	return fmt.Sprintf("tlschema: malformed at offset %d: %s", e.Offset, e.What)
}

func (e *DecodeError) Unwrap() error { return e.Err }

// Decode decodes buf, which must be exactly one value of type t (a
// boxed object for Type{Kind: Object}), by the schema.
func (s *Schema) Decode(buf []byte, t Type) (Value, error) {
	d := decoder{s: s, buf: buf}
	v, err := d.value(t, 0)
	if err != nil {
		return Value{}, err
	}
	if d.off != len(buf) {
		return Value{}, &DecodeError{Offset: d.off, Err: ErrMalformed, What: fmt.Sprintf("%d bytes left over", len(buf)-d.off)}
	}
	return v, nil
}

// DecodeObject decodes buf as one boxed object (a method call, say).
func (s *Schema) DecodeObject(buf []byte) (*Node, error) {
	v, err := s.Decode(buf, Type{Kind: Object})
	if err != nil {
		return nil, err
	}
	return v.Node, nil
}

type decoder struct {
	s   *Schema
	buf []byte
	off int
}

func (d *decoder) malformed(what string) error {
	return &DecodeError{Offset: d.off, Err: ErrMalformed, What: what}
}

func (d *decoder) need(n int) error {
	if n < 0 || len(d.buf)-d.off < n {
		return d.malformed("truncated")
	}
	return nil
}

func (d *decoder) uint32() (uint32, error) {
	if err := d.need(4); err != nil {
		return 0, err
	}
	v := binary.LittleEndian.Uint32(d.buf[d.off:])
	d.off += 4
	return v, nil
}

// tlBytes skips a TL string/bytes value.
func (d *decoder) tlBytes() error {
	if err := d.need(1); err != nil {
		return err
	}
	n, head := int(d.buf[d.off]), 1
	if n == 254 {
		if err := d.need(4); err != nil {
			return err
		}
		n, head = int(d.buf[d.off+1])|int(d.buf[d.off+2])<<8|int(d.buf[d.off+3])<<16, 4
	} else if n == 255 {
		return d.malformed("string length byte 255")
	}
	total := (head + n + 3) &^ 3
	if err := d.need(total); err != nil {
		return err
	}
	d.off += total
	return nil
}

// fixed is the wire size of a fixed-size kind, 0 for others.
func fixed(k Kind) int {
	switch k {
	case Int:
		return 4
	case Long, Double:
		return 8
	case Int128:
		return 16
	case Int256:
		return 32
	}
	return 0
}

// value decodes one value of type t at the decoder's offset, recording
// where it lies.
//
// Long: one case per kind of TL type (numbers, strings and bytes, true,
// flags, objects, bare types, vectors) in one switch, as the TL grammar
// lists them.
func (d *decoder) value(t Type, depth int) (Value, error) {
	v := Value{Type: t, Start: d.off, CountAt: -1}
	if n := fixed(t.Kind); n > 0 {
		if err := d.need(n); err != nil {
			return v, err
		}
		d.off += n
		v.End = d.off
		return v, nil
	}
	switch t.Kind {
	case String, Bytes:
		if err := d.tlBytes(); err != nil {
			return v, err
		}
	case True:
	case Flags:
		if err := d.need(4); err != nil {
			return v, err
		}
		d.off += 4
	case Object, Generic:
		n, err := d.object(nil, depth)
		if err != nil {
			return v, err
		}
		v.Node = n
	case Bare:
		c := d.s.bares[t.Name]
		if c == nil {
			return v, d.malformed("bare type " + t.Name + " unknown")
		}
		n, err := d.object(c, depth)
		if err != nil {
			return v, err
		}
		v.Node = n
	case Vector, BareVector:
		if t.Kind == Vector {
			id, err := d.uint32()
			if err != nil {
				return v, err
			}
			if id != VectorID {
				d.off -= 4
				return v, d.malformed(fmt.Sprintf("vector expected, constructor %08x", id))
			}
		}
		v.CountAt = d.off
		count, err := d.uint32()
		if err != nil {
			return v, err
		}
		// Each element takes at least 4 bytes (a true takes none, but no
		// schema has a vector of them): a count past that is a lie, and
		// would make a huge slice.
		if int64(count) > int64(len(d.buf)-d.off)/4 {
			d.off -= 4
			return v, d.malformed("vector count exceeds the bytes")
		}
		v.Count = int(count)
		elem := *t.Elem
		if n := fixed(elem.Kind); n > 0 {
			if err := d.need(n * v.Count); err != nil {
				return v, err
			}
			d.off += n * v.Count
			break
		}
		if elem.Kind == String || elem.Kind == Bytes {
			for range v.Count {
				if err := d.tlBytes(); err != nil {
					return v, err
				}
			}
			break
		}
		v.Elems = make([]Value, 0, v.Count)
		for range v.Count {
			e, err := d.value(elem, depth+1)
			if err != nil {
				return v, err
			}
			v.Elems = append(v.Elems, e)
		}
	default:
		return v, d.malformed("type kind " + t.Kind.String())
	}
	v.End = d.off
	return v, nil
}

// object decodes an object: a boxed one (c nil: its constructor id
// first) or a bare one of constructor c.
func (d *decoder) object(c *Combinator, depth int) (*Node, error) {
	if depth >= MaxDepth {
		return nil, d.malformed("objects nested too deep")
	}
	n := &Node{Start: d.off}
	if c == nil {
		id, err := d.uint32()
		if err != nil {
			return nil, err
		}
		if c = d.s.byID[id]; c == nil {
			if id == VectorID {
				d.off -= 4
				return nil, d.malformed("vector where an object was expected")
			}
			return nil, &DecodeError{Offset: d.off - 4, ID: id, Err: ErrUnknownConstructor}
		}
	}
	n.C = c
	n.Fields = make([]Value, len(c.Params))
	for i, p := range c.Params {
		if p.Flag >= 0 {
			f := n.Fields[p.Flag]
			if binary.LittleEndian.Uint32(d.buf[f.Start:])&(1<<p.Bit) == 0 {
				n.Fields[i] = Value{Type: p.Type, Start: -1, End: -1, CountAt: -1}
				continue
			}
		}
		v, err := d.value(p.Type, depth+1)
		if err != nil {
			return nil, err
		}
		n.Fields[i] = v
	}
	n.End = d.off
	return n, nil
}
