package tlschema

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"unicode"
)

// Parse reads a schema in TL text, as Telegram publishes it (api.tl,
// mtproto.tl): one combinator a line, "---functions---" and
// "---types---" switching between methods and constructors, "//"
// comments. source names the text in errors and in each combinator.
// Lines without a constructor id are bare-only constructors (MTProto's
// "message"), found by name only; the built-in "vector" line and
// "int ? = Int"-like lines are skipped.
func Parse(source, text string) (*Schema, error) {
	s := newSchema()
	methods := false
	sc := bufio.NewScanner(strings.NewReader(text))
	sc.Buffer(make([]byte, 0, 64*1024), 1<<20)
	line := 0
	for sc.Scan() {
		line++
		l := strings.TrimSpace(sc.Text())
		if i := strings.Index(l, "//"); i >= 0 {
			l = strings.TrimSpace(l[:i])
		}
		switch {
		case l == "":
			continue
		case l == "---functions---":
			methods = true
			continue
		case l == "---types---":
			methods = false
			continue
		case strings.HasPrefix(l, "---"):
			continue
		}
		c, skip, err := parseLine(l, methods)
		if err != nil {
			return nil, &ParseError{Source: source, Line: line, Err: err}
		}
		if skip {
			continue
		}
		c.Source = source
		if c.ID == 0 {
			if _, ok := s.byName[c.Name]; !ok {
				s.byName[c.Name] = c
			}
			continue
		}
		if err := s.add(c); err != nil {
			return nil, &ParseError{Source: source, Line: line, Err: err}
		}
	}
	if err := sc.Err(); err != nil {
		return nil, &ParseError{Source: source, Line: line, Err: err}
	}
	if err := s.resolveBare(); err != nil {
		return nil, &ParseError{Source: source, Err: err}
	}
	return s, nil
}

// ParseError is a schema text that Parse could not read.
type ParseError struct {
	Source string
	Line   int // 0 when the error is not on one line
	Err    error
}

func (e *ParseError) Error() string {
	if e.Line == 0 {
		return fmt.Sprintf("tlschema: %s: %v", e.Source, e.Err)
	}
	return fmt.Sprintf("tlschema: %s:%d: %v", e.Source, e.Line, e.Err)
}

func (e *ParseError) Unwrap() error { return e.Err }

// parseLine parses one combinator line (without its comment).
func parseLine(l string, method bool) (c *Combinator, skip bool, err error) {
	l = strings.TrimSuffix(strings.TrimSpace(l), ";")
	lhs, rhs, ok := strings.Cut(l, "=")
	if !ok {
		return nil, false, fmt.Errorf("no '=' in %q", l)
	}
	if strings.ContainsAny(lhs, "[]") || strings.Contains(lhs, " ? ") || strings.HasSuffix(strings.TrimSpace(lhs), "?") {
		return nil, true, nil // built-in types: vector, int ? = Int
	}
	fields := strings.Fields(lhs)
	if len(fields) == 0 {
		return nil, false, fmt.Errorf("no name in %q", l)
	}
	c = &Combinator{Method: method}
	name, id, hasID := strings.Cut(fields[0], "#")
	c.Name = name
	if hasID {
		v, err := strconv.ParseUint(id, 16, 32)
		if err != nil {
			return nil, false, fmt.Errorf("bad constructor id in %q", fields[0])
		}
		c.ID = uint32(v)
	}
	for _, f := range fields[1:] {
		if strings.HasPrefix(f, "{") {
			continue // {X:Type}: the generic parameter of a wrapper
		}
		pname, ptype, ok := strings.Cut(f, ":")
		if !ok {
			return nil, false, fmt.Errorf("bad parameter %q", f)
		}
		p := Param{Name: pname, Flag: -1}
		if cond, t, ok := strings.Cut(ptype, "?"); ok {
			field, bit, ok := strings.Cut(cond, ".")
			if !ok {
				return nil, false, fmt.Errorf("bad condition %q", cond)
			}
			p.Flag = c.Param(field)
			if p.Flag < 0 || c.Params[p.Flag].Type.Kind != Flags {
				return nil, false, fmt.Errorf("condition %q names no flags field before it", cond)
			}
			n, err := strconv.Atoi(bit)
			if err != nil || n < 0 || n > 31 {
				return nil, false, fmt.Errorf("bad flag bit in %q", cond)
			}
			p.Bit = n
			ptype = t
		}
		if p.Type, err = parseType(ptype); err != nil {
			return nil, false, err
		}
		c.Params = append(c.Params, p)
	}
	if c.Result, err = parseType(strings.TrimSpace(rhs)); err != nil {
		return nil, false, err
	}
	return c, false, nil
}

func parseType(t string) (Type, error) {
	switch t {
	case "int":
		return Type{Kind: Int}, nil
	case "long":
		return Type{Kind: Long}, nil
	case "double":
		return Type{Kind: Double}, nil
	case "int128":
		return Type{Kind: Int128}, nil
	case "int256":
		return Type{Kind: Int256}, nil
	case "string":
		return Type{Kind: String}, nil
	case "bytes":
		return Type{Kind: Bytes}, nil
	case "true":
		return Type{Kind: True}, nil
	case "#":
		return Type{Kind: Flags}, nil
	case "!X", "X":
		return Type{Kind: Generic}, nil
	case "":
		return Type{}, fmt.Errorf("empty type")
	}
	for _, v := range []struct {
		prefix string
		kind   Kind
	}{{"Vector<", Vector}, {"vector<", BareVector}} {
		if inner, ok := strings.CutPrefix(t, v.prefix); ok {
			inner, ok = strings.CutSuffix(inner, ">")
			if !ok {
				return Type{}, fmt.Errorf("bad vector type %q", t)
			}
			elem, err := parseType(inner)
			if err != nil {
				return Type{}, err
			}
			return Type{Kind: v.kind, Elem: &elem}, nil
		}
	}
	if name, ok := strings.CutPrefix(t, "%"); ok {
		return Type{Kind: Bare, Name: name}, nil
	}
	if strings.ContainsAny(t, "<>!%# ") {
		return Type{}, fmt.Errorf("bad type %q", t)
	}
	// A lowercase type names a bare constructor (future_salt); a
	// capitalized one (after its namespace) a boxed type.
	last := t[strings.LastIndexByte(t, '.')+1:]
	if last == "" || !unicode.IsUpper(rune(last[0])) {
		return Type{Kind: Bare, Name: t}, nil
	}
	return Type{Kind: Object, Name: t}, nil
}

// resolveBare checks that every bare type names a constructor of the
// schema, or a type with exactly one, and keeps it for the decoder.
func (s *Schema) resolveBare() error {
	s.bares = map[string]*Combinator{}
	var check func(t Type) error
	check = func(t Type) error {
		switch t.Kind {
		case Bare:
			if _, ok := s.bares[t.Name]; ok {
				return nil
			}
			c := s.findBare(t.Name)
			if c == nil {
				return fmt.Errorf("bare type %q names no single constructor", t.Name)
			}
			s.bares[t.Name] = c
		case Vector, BareVector:
			return check(*t.Elem)
		}
		return nil
	}
	for _, c := range s.byName {
		for _, p := range c.Params {
			if err := check(p.Type); err != nil {
				return fmt.Errorf("%s.%s: %w", c.Name, p.Name, err)
			}
		}
	}
	return nil
}

// findBare finds the constructor a bare type names: a constructor by its
// name, or the only constructor of a type.
func (s *Schema) findBare(name string) *Combinator {
	if c := s.byName[name]; c != nil && !c.Method {
		return c
	}
	var found *Combinator
	for _, c := range s.byID {
		if !c.Method && c.Result.Kind == Object && c.Result.Name == name {
			if found != nil {
				return nil
			}
			found = c
		}
	}
	return found
}
