package tlschema

import (
	"fmt"
	"slices"
	"strings"
)

// Kind is what a parameter's type is on the wire.
type Kind uint8

// The kinds of TL types.
const (
	Int        Kind = iota + 1 // int (4 bytes)
	Long                       // long (8 bytes)
	Double                     // double (8 bytes)
	Int128                     // int128 (16 bytes)
	Int256                     // int256 (32 bytes)
	String                     // string (TL bytes)
	Bytes                      // bytes (TL bytes)
	True                       // true: no bytes (a flag bit says it)
	Flags                      // #: a 32-bit field of flags
	Object                     // a boxed object: a constructor id, then its fields (Bool too)
	Bare                       // a bare object of one constructor: its fields only (%T, t)
	Vector                     // Vector<T>: 0x1cb5c415, a count, the elements
	BareVector                 // vector<T>: a count, the elements
	Generic                    // !X: a query of any method (a boxed object)
)

var kindNames = [...]string{"", "int", "long", "double", "int128", "int256", "string", "bytes", "true", "#", "object", "bare", "Vector", "vector", "!X"}

func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Type is a parameter's or a result's type.
type Type struct {
	Kind Kind
	// Name is the TL type's name for Object ("Message",
	// "messages.Messages", "Bool"), the constructor's name for Bare.
	Name string
	// Elem is the element type of a Vector or BareVector.
	Elem *Type
}

func (t Type) String() string {
	switch t.Kind {
	case Object:
		return t.Name
	case Bare:
		return "%" + t.Name
	case Vector:
		return "Vector<" + t.Elem.String() + ">"
	case BareVector:
		return "vector<" + t.Elem.String() + ">"
	}
	return t.Kind.String()
}

// sameWire reports whether t and u read the same bytes. Object type names
// are not compared (nor string from bytes): a boxed object names its constructor on the wire (and
// Telethon's schema drops type namespaces).
func (t Type) sameWire(u Type) bool {
	if t.Kind != u.Kind {
		// string and bytes are one format on the wire.
		return (t.Kind == String || t.Kind == Bytes) && (u.Kind == String || u.Kind == Bytes)
	}
	switch t.Kind {
	case Bare:
		return t.Name == u.Name
	case Vector, BareVector:
		return t.Elem.sameWire(*u.Elem)
	}
	return true
}

// Param is one parameter of a combinator.
type Param struct {
	Name string
	Type Type
	// Flag is the index in Params of the flags field that says whether
	// the parameter is present, -1 for a parameter always present; Bit is
	// its bit in that field.
	Flag int
	Bit  int
}

// Combinator is a constructor or a method.
type Combinator struct {
	ID     uint32
	Name   string // "message", "messages.getHistory"
	Method bool
	Params []Param
	// Result is the type the constructor makes or the method returns.
	Result Type
	// Source names the schema file the combinator came from.
	Source string
}

// Namespace returns the part of the name before its dot ("" for none).
func (c *Combinator) Namespace() string {
	ns, _, ok := strings.Cut(c.Name, ".")
	if !ok {
		return ""
	}
	return ns
}

// Param returns the index of the parameter named name, -1 when none.
func (c *Combinator) Param(name string) int {
	for i, p := range c.Params {
		if p.Name == name {
			return i
		}
	}
	return -1
}

func (c *Combinator) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s#%08x", c.Name, c.ID)
	for _, p := range c.Params {
		b.WriteByte(' ')
		b.WriteString(p.Name)
		b.WriteByte(':')
		if p.Flag >= 0 {
			fmt.Fprintf(&b, "%s.%d?", c.Params[p.Flag].Name, p.Bit)
		}
		b.WriteString(p.Type.String())
	}
	b.WriteString(" = ")
	b.WriteString(c.Result.String())
	return b.String()
}

// sameWire reports whether c and d read the same bytes. Flags of type
// true take no bytes, and Telegram adds them without a new constructor
// id (the id's CRC32 leaves them out): they are not compared. Nor is
// Method: Telethon files MTProto's http_wait under types, mt.tl under
// functions.
func (c *Combinator) sameWire(d *Combinator) bool {
	p, q := c.wire(), d.wire()
	if len(p) != len(q) {
		return false
	}
	for i := range p {
		a, b := p[i], q[i]
		if (a.Flag < 0) != (b.Flag < 0) || (a.Flag >= 0 && (a.Bit != b.Bit || c.Params[a.Flag].Name != d.Params[b.Flag].Name)) || !a.Type.sameWire(b.Type) {
			return false
		}
	}
	return true
}

// wire returns the parameters that take bytes.
func (c *Combinator) wire() []Param {
	out := make([]Param, 0, len(c.Params))
	for _, p := range c.Params {
		if p.Type.Kind != True {
			out = append(out, p)
		}
	}
	return out
}

// Schema is a set of combinators, found by id and by name. A Schema is
// immutable once made and safe for concurrent use.
type Schema struct {
	// Layers are the layers whose schemas it holds.
	Layers []int
	byID   map[uint32]*Combinator
	byName map[string]*Combinator
	bares  map[string]*Combinator // the constructor of each bare type used
}

// ByID returns the combinator whose constructor id is id, nil when none.
func (s *Schema) ByID(id uint32) *Combinator { return s.byID[id] }

// ByName returns the combinator named name, nil when none. When several
// layers have a combinator of that name, it is one of them.
func (s *Schema) ByName(name string) *Combinator { return s.byName[name] }

// Len returns the number of combinators.
func (s *Schema) Len() int { return len(s.byID) }

// Combinators returns every combinator, sorted by id.
func (s *Schema) Combinators() []*Combinator {
	out := make([]*Combinator, 0, len(s.byID))
	for _, c := range s.byID {
		out = append(out, c)
	}
	slices.SortFunc(out, func(a, b *Combinator) int {
		switch {
		case a.ID < b.ID:
			return -1
		case a.ID > b.ID:
			return 1
		}
		return 0
	})
	return out
}

// IsMethod reports whether some layer of the schema has a method named
// name.
func (s *Schema) IsMethod(name string) bool {
	c := s.byName[name]
	return c != nil && c.Method
}

func newSchema() *Schema {
	return &Schema{byID: map[uint32]*Combinator{}, byName: map[string]*Combinator{}}
}

// add puts c in s. A constructor id already there must read the same
// bytes: an id is the CRC32 of its combinator's text, so two layers
// that share one share its layout, and a mismatch is a wrong source.
func (s *Schema) add(c *Combinator) error {
	if old, ok := s.byID[c.ID]; ok {
		if !old.sameWire(c) {
			return fmt.Errorf("%w: %08x is %s in %s but %s in %s", ErrConflict, c.ID, old, old.Source, c, c.Source)
		}
		return nil
	}
	s.byID[c.ID] = c
	if _, ok := s.byName[c.Name]; !ok {
		s.byName[c.Name] = c
	}
	return nil
}

// Merge returns the union of the schemas: every combinator by its id.
// Two schemas may hold the same id only with the same layout
// (ErrConflict otherwise); the first schema's combinator (its name) is
// kept.
func Merge(schemas ...*Schema) (*Schema, error) {
	out := newSchema()
	for _, s := range schemas {
		for _, c := range s.Combinators() {
			if err := out.add(c); err != nil {
				return nil, err
			}
		}
		for name, c := range s.byName {
			if _, ok := out.byName[name]; !ok && c.ID == 0 {
				out.byName[name] = c // a bare-only constructor
			}
		}
		for _, l := range s.Layers {
			if !slices.Contains(out.Layers, l) {
				out.Layers = append(out.Layers, l)
			}
		}
	}
	slices.Sort(out.Layers)
	if err := out.resolveBare(); err != nil {
		return nil, err
	}
	return out, nil
}
