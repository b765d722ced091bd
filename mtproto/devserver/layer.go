package devserver

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// The dev server builds its answers with gotd's types, of gotd's layer
// (tg.Layer); a client that announced another layer with invokeWithLayer
// gets them in its own, as from Telegram, and its queries are read in
// its own. Both go through a transcoder: the bytes are decoded by one
// layer's schema (mtproto/tlschema) and re-encoded by the other's,
// constructor by constructor name and field by field name. A field the
// client's layer lacks is dropped; a required one the answer lacks gets
// a zero value (an empty constructor for an object); a constructor the
// client's layer lacks is dropped from a vector, or replaced by the
// type's empty constructor. Layers between the embedded ones (tlschema.
// Layers) are served in the nearest embedded layer below.

// servedLayer returns the embedded layer the server speaks to a client
// that announced layer (tg.Layer for 0, or for tg.Layer and above).
func servedLayer(layer int) int {
	if layer <= 0 || layer >= tdtg.Layer {
		return tdtg.Layer
	}
	ls := tlschema.Layers()
	best := ls[0]
	for _, l := range ls {
		if l <= layer {
			best = l
		}
	}
	return best
}

// layerSchema is one layer's schema and, for its default values, its
// constructors by the type they make.
type layerSchema struct {
	*tlschema.Schema
	byName   map[string]*tlschema.Combinator
	byResult map[string][]*tlschema.Combinator
}

var (
	layerSchemasMu sync.Mutex
	layerSchemas   = map[int]func() (*layerSchema, error){} // layer → its one build
)

// schemaOf returns layer's schema, built once: the first callers at the
// same time (every connection of a pool that starts) wait for one build
// rather than each parsing the schema, which on 2 cores stalled every
// connection's reads past a fleet's ping_delay_disconnect.
func schemaOf(layer int) (*layerSchema, error) {
	layerSchemasMu.Lock()
	build, ok := layerSchemas[layer]
	if !ok {
		build = sync.OnceValues(func() (*layerSchema, error) { return buildSchema(layer) })
		layerSchemas[layer] = build
	}
	layerSchemasMu.Unlock()
	return build()
}

// buildSchema parses and indexes layer's schema.
func buildSchema(layer int) (*layerSchema, error) {
	s, ok, err := tlschema.Layer(layer)
	if err == nil && !ok {
		err = fmt.Errorf("devserver: layer %d not embedded", layer)
	}
	if err != nil {
		return nil, err
	}
	// Telethon's and mtcute's schemas leave Bool's constructors out (their
	// runtimes read Bool as a primitive); every layer has them.
	if s.ByName("boolTrue") == nil {
		bools, err := tlschema.Parse("bool", "boolFalse#bc799737 = Bool;\nboolTrue#997275b5 = Bool;\n")
		if err == nil {
			s, err = tlschema.Merge(s, bools)
		}
		if err != nil {
			return nil, err
		}
	}
	ls := &layerSchema{Schema: s, byName: map[string]*tlschema.Combinator{}, byResult: map[string][]*tlschema.Combinator{}}
	for _, c := range s.Combinators() {
		// An API constructor wins over MTProto's of the same name (its
		// bare "message" of a container).
		if old := ls.byName[c.Name]; old == nil || old.Source == "mtproto.tl" {
			ls.byName[c.Name] = c
		}
		if !c.Method {
			ls.byResult[c.Result.Name] = append(ls.byResult[c.Result.Name], c)
		}
	}
	// The default of a type: the constructor with the fewest fields that
	// must be there, an "…Empty" one first among equals.
	for _, cs := range ls.byResult {
		slices.SortStableFunc(cs, func(a, b *tlschema.Combinator) int {
			if d := required(a) - required(b); d != 0 {
				return d
			}
			ea, eb := strings.HasSuffix(a.Name, "Empty"), strings.HasSuffix(b.Name, "Empty")
			switch {
			case ea && !eb:
				return -1
			case eb && !ea:
				return 1
			}
			return strings.Compare(a.Name, b.Name)
		})
	}
	return ls, nil
}

func required(c *tlschema.Combinator) int {
	n := 0
	for _, p := range c.Params {
		if p.Flag < 0 && p.Type.Kind != tlschema.Flags {
			n++
		}
	}
	return n
}

// errNotInLayer reports a constructor the target layer lacks.
var errNotInLayer = errors.New("devserver: constructor not in the layer")

// transcode re-encodes buf, one value of type t by the schema of layer
// from, by the schema of layer to (t is read in from's schema).
func transcode(buf []byte, t tlschema.Type, from, to int) ([]byte, error) {
	if from == to {
		return buf, nil
	}
	src, err := schemaOf(from)
	if err != nil {
		return nil, err
	}
	dst, err := schemaOf(to)
	if err != nil {
		return nil, err
	}
	v, err := src.Decode(buf, t)
	if err != nil {
		return nil, err
	}
	tc := &transcoder{dst: dst, in: buf, out: make([]byte, 0, len(buf)+64)}
	if err := tc.value(v, t, 0); err != nil {
		return nil, err
	}
	return tc.out, nil
}

type transcoder struct {
	dst *layerSchema
	in  []byte
	out []byte
}

func (tc *transcoder) u32(v uint32) { tc.out = binary.LittleEndian.AppendUint32(tc.out, v) }

// value writes v (a value of the source) as a value of type want.
func (tc *transcoder) value(v tlschema.Value, want tlschema.Type, depth int) error {
	if depth > tlschema.MaxDepth {
		return errors.New("devserver: transcode: too deep")
	}
	sk, wk := v.Type.Kind, want.Kind
	switch wk {
	case tlschema.Int, tlschema.Long, tlschema.Double, tlschema.Int128, tlschema.Int256:
		switch {
		case sk == wk:
			tc.out = append(tc.out, tc.in[v.Start:v.End]...)
		case sk == tlschema.Int && wk == tlschema.Long:
			x := int64(int32(binary.LittleEndian.Uint32(tc.in[v.Start:])))
			tc.out = binary.LittleEndian.AppendUint64(tc.out, uint64(x))
		case sk == tlschema.Long && wk == tlschema.Int:
			x := int64(binary.LittleEndian.Uint64(tc.in[v.Start:]))
			if x < math.MinInt32 || x > math.MaxInt32 {
				return fmt.Errorf("devserver: transcode: %d does not fit an int", x)
			}
			tc.u32(uint32(int32(x)))
		default:
			return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
		}
		return nil
	case tlschema.String, tlschema.Bytes:
		if sk != tlschema.String && sk != tlschema.Bytes {
			return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
		}
		tc.out = append(tc.out, tc.in[v.Start:v.End]...)
		return nil
	case tlschema.Object, tlschema.Generic:
		if v.Node == nil {
			return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
		}
		if wk == tlschema.Generic || sk == tlschema.Generic {
			tc.out = append(tc.out, tc.in[v.Start:v.End]...)
			return nil
		}
		return tc.object(v.Node, true, want, depth)
	case tlschema.Bare:
		if v.Node == nil {
			return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
		}
		return tc.object(v.Node, false, want, depth)
	case tlschema.Vector, tlschema.BareVector:
		if sk != tlschema.Vector && sk != tlschema.BareVector {
			return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
		}
		if wk == tlschema.Vector {
			tc.u32(tlschema.VectorID)
		}
		countAt := len(tc.out)
		tc.u32(0)
		if v.Elems == nil {
			// Numbers or strings: the same bytes when the kinds agree.
			if !sameKind(*v.Type.Elem, *want.Elem) {
				return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
			}
			tc.out = append(tc.out, tc.in[v.CountAt+4:v.End]...)
			binary.LittleEndian.PutUint32(tc.out[countAt:], uint32(v.Count))
			return nil
		}
		n := 0
		for _, e := range v.Elems {
			mark := len(tc.out)
			if err := tc.value(e, *want.Elem, depth+1); err != nil {
				if errors.Is(err, errNotInLayer) {
					tc.out = tc.out[:mark] // an element the client's layer lacks is left out
					continue
				}
				return err
			}
			n++
		}
		binary.LittleEndian.PutUint32(tc.out[countAt:], uint32(n))
		return nil
	}
	return fmt.Errorf("devserver: transcode: %s as %s", v.Type, want)
}

// object writes n as the constructor of the same name in the target
// layer (boxed: with its id), of type want.
func (tc *transcoder) object(n *tlschema.Node, boxed bool, want tlschema.Type, depth int) error {
	d := tc.dst.byName[n.C.Name]
	if d == nil || d.Method != n.C.Method {
		return fmt.Errorf("%w: %s", errNotInLayer, n.C.Name)
	}
	if boxed {
		tc.u32(d.ID)
	}
	flagsAt := make(map[int]int) // index of a flags param → its offset in out
	flags := make(map[int]uint32)
	for i, p := range d.Params {
		if p.Type.Kind == tlschema.Flags {
			flagsAt[i] = len(tc.out)
			tc.u32(0)
			continue
		}
		var sv *tlschema.Value
		if j := srcParam(n.C, p.Name); j >= 0 && n.Fields[j].Start >= 0 {
			sv = &n.Fields[j]
		}
		if p.Flag >= 0 {
			if sv == nil {
				continue
			}
			if p.Type.Kind != tlschema.True {
				mark := len(tc.out)
				if err := tc.value(*sv, p.Type, depth+1); err != nil {
					tc.out = tc.out[:mark] // an optional field that does not fit is left out
					continue
				}
			}
			flags[p.Flag] |= 1 << p.Bit
			continue
		}
		if sv != nil {
			mark := len(tc.out)
			if err := tc.value(*sv, p.Type, depth+1); err == nil {
				continue
			}
			tc.out = tc.out[:mark]
		}
		if err := tc.zero(p.Type, depth+1); err != nil {
			return fmt.Errorf("devserver: transcode: %s.%s: %w", d.Name, p.Name, err)
		}
	}
	for i, at := range flagsAt {
		binary.LittleEndian.PutUint32(tc.out[at:], flags[i])
	}
	return nil
}

// zero writes the zero value of t: 0, "", an empty vector, the type's
// simplest constructor with zero fields.
func (tc *transcoder) zero(t tlschema.Type, depth int) error {
	if depth > tlschema.MaxDepth {
		return errors.New("devserver: transcode: too deep")
	}
	switch t.Kind {
	case tlschema.Int, tlschema.Flags, tlschema.String, tlschema.Bytes:
		tc.u32(0) // a string's length byte and its padding
	case tlschema.Long, tlschema.Double:
		tc.out = append(tc.out, make([]byte, 8)...)
	case tlschema.Int128:
		tc.out = append(tc.out, make([]byte, 16)...)
	case tlschema.Int256:
		tc.out = append(tc.out, make([]byte, 32)...)
	case tlschema.True:
	case tlschema.Vector:
		tc.u32(tlschema.VectorID)
		tc.u32(0)
	case tlschema.BareVector:
		tc.u32(0)
	case tlschema.Object, tlschema.Bare:
		var c *tlschema.Combinator
		if t.Kind == tlschema.Bare {
			c = tc.dst.byName[t.Name]
		} else if cs := tc.dst.byResult[t.Name]; len(cs) > 0 {
			c = cs[0]
		}
		if c == nil {
			return fmt.Errorf("no constructor of %s", t)
		}
		if t.Kind == tlschema.Object {
			tc.u32(c.ID)
		}
		for _, p := range c.Params {
			if p.Flag >= 0 {
				continue
			}
			if err := tc.zero(p.Type, depth+1); err != nil {
				return err
			}
		}
	default:
		return fmt.Errorf("no zero %s", t)
	}
	return nil
}

// sameKind reports whether values of a and b (numbers or strings) have
// the same bytes.
func sameKind(a, b tlschema.Type) bool {
	str := func(k tlschema.Kind) bool { return k == tlschema.String || k == tlschema.Bytes }
	return a.Kind == b.Kind || (str(a.Kind) && str(b.Kind))
}

// toClientLayer returns buf, a value of type t in gotd's layer, in layer
// (a servedLayer); buf itself when that fails (the client then reads what
// gotd's layer has, as it would from a server a layer ahead).
func toClientLayer(buf []byte, t tlschema.Type, layer int) []byte {
	if layer == tdtg.Layer {
		return buf
	}
	out, err := transcode(buf, t, tdtg.Layer, layer)
	if err != nil {
		return buf
	}
	return out
}

// fromClientLayer returns query, a method call of layer (a servedLayer),
// in gotd's layer; query itself when that fails (an unknown method is
// then answered as unknown).
func fromClientLayer(query []byte, layer int) []byte {
	if layer == tdtg.Layer {
		return query
	}
	out, err := transcode(query, tlschema.Type{Kind: tlschema.Object}, layer, tdtg.Layer)
	if err != nil {
		return query
	}
	return out
}

// resultType returns the result type of the method whose type id in
// gotd's layer is method (a boxed object when unknown).
func resultType(method uint32) tlschema.Type {
	s, err := schemaOf(tdtg.Layer)
	if err != nil {
		return tlschema.Type{Kind: tlschema.Object}
	}
	c := s.ByID(method)
	if c == nil || !c.Method {
		return tlschema.Type{Kind: tlschema.Object}
	}
	return c.Result
}

// srcParam returns the index of c's parameter named name, -1 when none.
// Telethon's schema (layer 144) names "self" "is_self", Python's way.
func srcParam(c *tlschema.Combinator, name string) int {
	if i := c.Param(name); i >= 0 {
		return i
	}
	switch name {
	case "self":
		return c.Param("is_self")
	case "is_self":
		return c.Param("self")
	}
	return -1
}
