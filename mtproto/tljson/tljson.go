package tljson

// TL JSON: the local API's JSON form of Telegram's TL objects, a codec over
// gotd's generated types (tdtg.NamesMap, tdtg.TypesConstructorMap) driven
// by reflection. gotd's own InvokeRawJSON cannot be used: no tg type
// implements its TDLib JSON decoder.
//
// The convention (also in README.md, "The local API"):
//
//   - An object is a JSON object whose "_" names its TL constructor
//     ("user", "inputPeerUser", "config"); a method call is an object
//     whose "_" names the method ("users.getUsers"). Field names are the
//     TL schema's ("access_hash", "first_name").
//   - int is a JSON number (a decimal string is accepted too). long (int64)
//     is written as a decimal string, since JavaScript loses integers
//     above 2^53, and read from a string or an integral number.
//   - double is a number; string is a string; bytes, int128 and int256 are
//     standard base64 (padded on output; padded, unpadded or URL-safe on
//     input); Bool and flag "true" fields are true/false; a Vector is an
//     array.
//   - Optional (flags.N?) fields: on output an unset one is left out (a
//     flag "true" field appears only when true); on input a field that is
//     present sets its flag bit (null counts as absent), and the flags
//     words themselves never appear.
//   - On input, "_" is required where the field's type is a TL class (an
//     interface such as InputPeer) and optional where it is a concrete
//     constructor; a missing required field of a concrete type takes its
//     zero value, a missing required field of a class type is an error.
//   - Unknown fields, unknown constructors and a constructor of the wrong
//     class are errors, never ignored.

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	tdbin "github.com/gotd/td/bin"
	tdtdp "github.com/gotd/td/tdp"
	tdtg "github.com/gotd/td/tg"
)

// MaxInvokeBody caps the JSON body of one method call on the local API.
const MaxInvokeBody = 1 << 20

// maxTLDepth caps the nesting of objects and arrays in a method call.
const maxTLDepth = 64

// TL JSON errors. Every codec error is a *Error whose Kind is one of
// these (errors.Is matches the kind).
var (
	// ErrMalformedJSON reports a body that is not one JSON object (or that
	// nests too deeply).
	ErrMalformedJSON = errors.New("mtproto: malformed JSON")
	// ErrBodyTooLarge reports a method call over MaxInvokeBody.
	ErrBodyTooLarge = errors.New("mtproto: request body too large")
	// ErrBodyTimeout reports a request body that did not arrive within
	// BodyTimeout (the local API answers 408). Not a codec error: it is
	// returned bare, not in a *Error.
	ErrBodyTimeout = errors.New("mtproto: request body timed out")
	// ErrUnknownMethod reports a "_" that names no TL method (or names a
	// constructor).
	ErrUnknownMethod = errors.New("mtproto: unknown TL method")
	// ErrUnknownConstructor reports a "_" that names no TL constructor.
	ErrUnknownConstructor = errors.New("mtproto: unknown TL constructor")
	// ErrWrongClass reports a constructor of another TL type than the
	// field's (an inputUserSelf where an InputPeer goes).
	ErrWrongClass = errors.New("mtproto: TL constructor of the wrong type")
	// ErrFieldType reports a JSON value of the wrong type for its field (a
	// string for a Bool, 2^40 for an int, bad base64).
	ErrFieldType = errors.New("mtproto: wrong JSON type for a TL field")
	// ErrUnknownField reports a field the constructor does not have.
	ErrUnknownField = errors.New("mtproto: unknown TL field")
	// ErrMissingField reports a required field of a TL class type that is
	// missing (it has no zero value).
	ErrMissingField = errors.New("mtproto: required TL field missing")
	// ErrMethodRefused reports a method the local API never calls: it
	// could export, replace or destroy the account's auth key or
	// sessions (see refusedMethods).
	ErrMethodRefused = errors.New("mtproto: method refused")
)

// Error is an error in a TL JSON method call: its kind, where in the
// JSON it is, and what was wrong.
type Error struct {
	Kind   error  // ErrMalformedJSON, ErrUnknownMethod, ...
	Path   string // "id[0]", "offset_peer"; empty at the top level
	Detail string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Kind.Error())
	if e.Path != "" {
		b.WriteString(" at ")
		b.WriteString(e.Path)
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// Unwrap returns the kind.
func (e *Error) Unwrap() error { return e.Kind }

func tlErr(kind error, path, format string, args ...any) error {
	return &Error{Kind: kind, Path: path, Detail: fmt.Sprintf(format, args...)}
}

// IsMethod reports whether name is a method of the TL schema (refused
// ones included: the local API says why it refuses them).
func IsMethod(name string) bool {
	if _, ok := tlTypes().methods[name]; ok {
		return true
	}
	_, refused := RefusedMethod(name)
	return refused
}

// tlMethod is one callable TL method.
type tlMethod struct {
	name   string
	new    func() tdbin.Object
	result reflect.Type // the Go type tdtg.Client returns for it
}

type tlRegistry struct {
	byName  map[string]func() tdbin.Object // every constructor and method
	byID    map[uint32]func() tdbin.Object
	methods map[string]*tlMethod
}

var tlTypes = sync.OnceValue(func() *tlRegistry {
	r := &tlRegistry{
		byName:  map[string]func() tdbin.Object{},
		byID:    tdtg.TypesConstructorMap(),
		methods: map[string]*tlMethod{},
	}
	client := reflect.TypeFor[*tdtg.Client]()
	for name, id := range tdtg.NamesMap() {
		f, ok := r.byID[id]
		if !ok {
			continue
		}
		r.byName[name] = f
		goName := reflect.TypeOf(f()).Elem().Name()
		base, isReq := strings.CutSuffix(goName, "Request")
		if !isReq {
			continue
		}
		// Every method has a tdtg.Client wrapper named after its request
		// type; its first result is the method's result type. (Types such
		// as messageActionChatJoinedByRequest end in Request too, and have
		// none.)
		m, ok := client.MethodByName(base)
		if !ok || m.Type.NumOut() != 2 {
			continue
		}
		r.methods[name] = &tlMethod{name: name, new: f, result: m.Type.Out(0)}
	}
	return r
})

// tlField is one field of a TL constructor's Go struct.
type tlField struct {
	name   string // schema name
	goName string
	index  int
	typ    reflect.Type
	setter int // method index of SetX on the pointer type; -1 if required
}

type tlStruct struct {
	fields []tlField
	byName map[string]int
}

var tlStructs sync.Map // reflect.Type (struct) -> *tlStruct

// structOf returns the TL fields of a generated struct type, in schema
// order, from its TypeInfo (which leaves the flags words out).
func structOf(t reflect.Type) *tlStruct {
	if s, ok := tlStructs.Load(t); ok {
		return s.(*tlStruct)
	}
	pt := reflect.PointerTo(t)
	info := reflect.New(t).Interface().(tdtdp.Object).TypeInfo()
	s := &tlStruct{byName: make(map[string]int, len(info.Fields))}
	for _, f := range info.Fields {
		sf, ok := t.FieldByName(f.Name)
		if !ok || len(sf.Index) != 1 {
			continue
		}
		fi := tlField{name: f.SchemaName, goName: f.Name, index: sf.Index[0], typ: sf.Type, setter: -1}
		if m, ok := pt.MethodByName("Set" + f.Name); ok && m.Type.NumIn() == 2 && m.Type.In(1) == sf.Type {
			fi.setter = m.Index
		}
		s.byName[fi.name] = len(s.fields)
		s.fields = append(s.fields, fi)
	}
	v, _ := tlStructs.LoadOrStore(t, s)
	return v.(*tlStruct)
}

var (
	binObjectType = reflect.TypeFor[tdbin.Object]()
	bytesType     = reflect.TypeFor[[]byte]()
	tdpObjectType = reflect.TypeFor[tdtdp.Object]()
)

// Call is a decoded method call.
type Call struct {
	method *tlMethod
	req    tdbin.Object
}

// Name is the method's TL name ("users.getUsers").
func (c *Call) Name() string { return c.method.name }

// Request is the decoded request, ready to send.
func (c *Call) Request() tdbin.Object { return c.req }

// NewResult returns a decoder of the method's result.
func (c *Call) NewResult() *Result { return &Result{typ: c.method.result} }

// DecodeCall decodes a method call in TL JSON: an object whose "_" names
// the method. It refuses the methods policy refuses (nil: the default list,
// RefusedMethod).
func DecodeCall(data []byte, policy *MethodPolicy) (*Call, error) {
	if len(data) > MaxInvokeBody {
		return nil, tlErr(ErrBodyTooLarge, "", "%d bytes, the limit is %d", len(data), MaxInvokeBody)
	}
	raw, err := parseJSON(data)
	if err != nil {
		return nil, err
	}
	obj, ok := raw.(map[string]any)
	if !ok {
		return nil, tlErr(ErrMalformedJSON, "", "a method call is a JSON object with \"_\" naming the method, not %s", jsonKind(raw))
	}
	name, ok := obj["_"].(string)
	if !ok {
		return nil, tlErr(ErrUnknownMethod, "_", "a method call needs \"_\" naming the method (\"users.getUsers\")")
	}
	if reason, refused := policy.Refused(name); refused {
		return nil, tlErr(ErrMethodRefused, "", "%s %s", name, reason)
	}
	reg := tlTypes()
	m, ok := reg.methods[name]
	if !ok {
		if _, isCtor := reg.byName[name]; isCtor {
			return nil, tlErr(ErrUnknownMethod, "_", "%q is a constructor, not a method", name)
		}
		return nil, tlErr(ErrUnknownMethod, "_", "%q", name)
	}
	req := m.new()
	rv := reflect.ValueOf(req)
	if err := fillStruct("", rv.Elem(), obj, 1); err != nil {
		return nil, err
	}
	// Catch what only gotd's encoder checks (optional fields sharing a
	// flag bit must be given together), so that a bad call is a 400 and
	// not a failed RPC.
	var b tdbin.Buffer
	if err := req.Encode(&b); err != nil {
		return nil, tlErr(ErrMissingField, "", "%v", err)
	}
	return &Call{method: m, req: req}, nil
}

func parseJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var raw any
	if err := dec.Decode(&raw); err != nil {
		return nil, tlErr(ErrMalformedJSON, "", "%v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, tlErr(ErrMalformedJSON, "", "data after the JSON value")
	}
	return raw, nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

func joinPath(path, field string) string {
	if path == "" {
		return field
	}
	return path + "." + field
}

// tlClassName names a TL class by its gotd interface ("InputPeerClass" ->
// "InputPeer").
func tlClassName(t reflect.Type) string {
	return strings.TrimSuffix(t.Name(), "Class")
}

// fillStruct sets the fields of v (an addressable generated struct) from
// the JSON object m, calling SetX for optional fields so that their flag
// bits are set.
func fillStruct(path string, v reflect.Value, m map[string]any, depth int) error {
	if depth > maxTLDepth {
		return tlErr(ErrMalformedJSON, path, "nested more than %d levels", maxTLDepth)
	}
	s := structOf(v.Type())
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "_" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys) // errors in a stable order
	set := make([]bool, len(s.fields))
	for _, k := range keys {
		i, ok := s.byName[k]
		if !ok {
			return tlErr(ErrUnknownField, joinPath(path, k), "%s has no field %q", v.Addr().Interface().(interface{ TypeName() string }).TypeName(), k)
		}
		raw := m[k]
		if raw == nil {
			continue // null is absent
		}
		f := s.fields[i]
		fv, err := decodeValue(joinPath(path, k), f.typ, raw, depth+1)
		if err != nil {
			return err
		}
		if f.setter >= 0 {
			v.Addr().Method(f.setter).Call([]reflect.Value{fv})
		} else {
			v.Field(f.index).Set(fv)
		}
		set[i] = true
	}
	for i, f := range s.fields {
		if !set[i] && f.setter < 0 && f.typ.Kind() == reflect.Interface {
			return tlErr(ErrMissingField, joinPath(path, f.name), "a %s is required", tlClassName(f.typ))
		}
	}
	return nil
}

// decodeValue decodes the JSON value raw (from parseJSON) into a new value
// of type t.
//
// Long: one case per kind of TL value in one switch, as encodeTLValue has
// them; a case split out would be called from here alone.
func decodeValue(path string, t reflect.Type, raw any, depth int) (reflect.Value, error) {
	if depth > maxTLDepth {
		return reflect.Value{}, tlErr(ErrMalformedJSON, path, "nested more than %d levels", maxTLDepth)
	}
	bad := func(want string) (reflect.Value, error) {
		return reflect.Value{}, tlErr(ErrFieldType, path, "want %s, got %s", want, jsonKind(raw))
	}
	switch {
	case t == bytesType:
		s, ok := raw.(string)
		if !ok {
			return bad("base64 bytes (a string)")
		}
		b, err := decodeBase64(s)
		if err != nil {
			return reflect.Value{}, tlErr(ErrFieldType, path, "bad base64: %v", err)
		}
		return reflect.ValueOf(b), nil
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		s, ok := raw.(string)
		if !ok {
			return bad(fmt.Sprintf("%d base64 bytes (a string)", t.Len()))
		}
		b, err := decodeBase64(s)
		if err != nil || len(b) != t.Len() {
			return reflect.Value{}, tlErr(ErrFieldType, path, "want %d bytes in base64", t.Len())
		}
		out := reflect.New(t).Elem()
		reflect.Copy(out, reflect.ValueOf(b))
		return out, nil
	}
	switch t.Kind() {
	case reflect.Bool:
		b, ok := raw.(bool)
		if !ok {
			return bad("true or false")
		}
		return reflect.ValueOf(b).Convert(t), nil
	case reflect.Int, reflect.Int32:
		n, err := parseInt(path, raw, 32)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(n).Convert(t), nil
	case reflect.Int64:
		n, err := parseInt(path, raw, 64)
		if err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(n).Convert(t), nil
	case reflect.Float64:
		n, ok := raw.(json.Number)
		if !ok {
			return bad("a number")
		}
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil {
			return reflect.Value{}, tlErr(ErrFieldType, path, "%s is not a double", n)
		}
		return reflect.ValueOf(f).Convert(t), nil
	case reflect.String:
		s, ok := raw.(string)
		if !ok {
			return bad("a string")
		}
		return reflect.ValueOf(s).Convert(t), nil
	case reflect.Slice:
		arr, ok := raw.([]any)
		if !ok {
			return bad("an array")
		}
		out := reflect.MakeSlice(t, len(arr), len(arr))
		for i, e := range arr {
			ep := path + "[" + strconv.Itoa(i) + "]"
			if e == nil {
				return reflect.Value{}, tlErr(ErrFieldType, ep, "null in a vector")
			}
			ev, err := decodeValue(ep, t.Elem(), e, depth+1)
			if err != nil {
				return reflect.Value{}, err
			}
			out.Index(i).Set(ev)
		}
		return out, nil
	case reflect.Interface:
		if t == binObjectType || !t.Implements(binObjectType) {
			return reflect.Value{}, tlErr(ErrFieldType, path, "fields holding any query are not supported")
		}
		m, ok := raw.(map[string]any)
		if !ok {
			return bad(fmt.Sprintf("a %s object", tlClassName(t)))
		}
		name, ok := m["_"].(string)
		if !ok {
			return reflect.Value{}, tlErr(ErrUnknownConstructor, joinPath(path, "_"), "a %s needs \"_\" naming its constructor", tlClassName(t))
		}
		f, ok := tlTypes().byName[name]
		if !ok {
			return reflect.Value{}, tlErr(ErrUnknownConstructor, joinPath(path, "_"), "%q", name)
		}
		obj := reflect.ValueOf(f())
		if !obj.Type().Implements(t) {
			return reflect.Value{}, tlErr(ErrWrongClass, joinPath(path, "_"), "%s is not a %s", name, tlClassName(t))
		}
		if err := fillStruct(path, obj.Elem(), m, depth+1); err != nil {
			return reflect.Value{}, err
		}
		out := reflect.New(t).Elem()
		out.Set(obj)
		return out, nil
	case reflect.Pointer:
		if t.Elem().Kind() != reflect.Struct || !t.Implements(tdpObjectType) {
			break
		}
		sv, err := decodeStruct(path, t.Elem(), raw, depth)
		if err != nil {
			return reflect.Value{}, err
		}
		return sv.Addr(), nil
	case reflect.Struct:
		if !reflect.PointerTo(t).Implements(tdpObjectType) {
			break
		}
		return decodeStruct(path, t, raw, depth)
	}
	return reflect.Value{}, tlErr(ErrFieldType, path, "the Go type %s is not supported", t)
}

// decodeStruct decodes a field of a concrete constructor type: "_" may be
// left out, and must name that constructor when given.
func decodeStruct(path string, t reflect.Type, raw any, depth int) (reflect.Value, error) {
	out := reflect.New(t)
	want := out.Interface().(interface{ TypeName() string }).TypeName()
	m, ok := raw.(map[string]any)
	if !ok {
		return reflect.Value{}, tlErr(ErrFieldType, path, "want a %s object, got %s", want, jsonKind(raw))
	}
	if c, has := m["_"]; has {
		name, ok := c.(string)
		if !ok {
			return reflect.Value{}, tlErr(ErrFieldType, joinPath(path, "_"), "want a constructor name, got %s", jsonKind(c))
		}
		if name != want {
			if _, known := tlTypes().byName[name]; !known {
				return reflect.Value{}, tlErr(ErrUnknownConstructor, joinPath(path, "_"), "%q", name)
			}
			return reflect.Value{}, tlErr(ErrWrongClass, joinPath(path, "_"), "%s here, not %s", want, name)
		}
	}
	if err := fillStruct(path, out.Elem(), m, depth+1); err != nil {
		return reflect.Value{}, err
	}
	return out.Elem(), nil
}

func parseInt(path string, raw any, bits int) (int64, error) {
	var s string
	switch v := raw.(type) {
	case json.Number:
		s = string(v)
	case string:
		s = v
	default:
		return 0, tlErr(ErrFieldType, path, "want an integer, got %s", jsonKind(raw))
	}
	n, err := strconv.ParseInt(s, 10, bits)
	if err != nil {
		return 0, tlErr(ErrFieldType, path, "%q is not a %d-bit integer", s, bits)
	}
	return n, nil
}

func decodeBase64(s string) ([]byte, error) {
	enc := base64.StdEncoding
	if strings.ContainsAny(s, "-_") {
		enc = base64.URLEncoding
	}
	if !strings.HasSuffix(s, "=") && len(s)%4 != 0 {
		enc = enc.WithPadding(base64.NoPadding)
	}
	return enc.Strict().DecodeString(s)
}

// Result decodes a method's result whatever its type: the Go type
// tdtg.Client returns for the method (an object, a class, a vector, Bool
// or a bare number).
type Result struct {
	typ   reflect.Type
	value reflect.Value
}

// Value is the decoded result, nil before Decode succeeded.
func (r *Result) Value() any {
	if !r.value.IsValid() {
		return nil
	}
	return r.value.Interface()
}

// Decode implements tdbin.Decoder.
func (r *Result) Decode(b *tdbin.Buffer) error {
	v, err := decodeBin(b, r.typ)
	if err != nil {
		return err
	}
	r.value = v
	return nil
}

// decodeBin reads a value of type t from gotd's binary buffer b.
//
// Long: one case per kind of TL value in one switch, the mirror of
// decodeValue.
func decodeBin(b *tdbin.Buffer, t reflect.Type) (reflect.Value, error) {
	switch t.Kind() {
	case reflect.Bool:
		id, err := b.ID()
		if err != nil {
			return reflect.Value{}, err
		}
		switch id {
		case tdtg.BoolTrueTypeID:
			return reflect.ValueOf(true), nil
		case tdtg.BoolFalseTypeID:
			return reflect.ValueOf(false), nil
		}
		return reflect.Value{}, fmt.Errorf("mtproto: result: want a Bool, got constructor %#x", id)
	case reflect.Int:
		n, err := b.Int()
		return reflect.ValueOf(n), err
	case reflect.Int64:
		n, err := b.Long()
		return reflect.ValueOf(n), err
	case reflect.Float64:
		n, err := b.Double()
		return reflect.ValueOf(n), err
	case reflect.String:
		s, err := b.String()
		return reflect.ValueOf(s), err
	case reflect.Slice:
		if t == bytesType {
			s, err := b.Bytes()
			return reflect.ValueOf(s), err
		}
		n, err := b.VectorHeader()
		if err != nil {
			return reflect.Value{}, err
		}
		out := reflect.MakeSlice(t, 0, min(n, 1024))
		for range n {
			e, err := decodeBin(b, t.Elem())
			if err != nil {
				return reflect.Value{}, err
			}
			out = reflect.Append(out, e)
		}
		return out, nil
	case reflect.Interface:
		id, err := b.PeekID()
		if err != nil {
			return reflect.Value{}, err
		}
		f, ok := tlTypes().byID[id]
		if !ok {
			return reflect.Value{}, fmt.Errorf("mtproto: result: unknown constructor %#x", id)
		}
		obj := f()
		if !reflect.TypeOf(obj).Implements(t) {
			return reflect.Value{}, fmt.Errorf("mtproto: result: constructor %#x is not a %s", id, tlClassName(t))
		}
		if err := obj.Decode(b); err != nil {
			return reflect.Value{}, err
		}
		out := reflect.New(t).Elem()
		out.Set(reflect.ValueOf(obj))
		return out, nil
	case reflect.Pointer:
		obj, ok := reflect.New(t.Elem()).Interface().(tdbin.Decoder)
		if !ok {
			break
		}
		if err := obj.Decode(b); err != nil {
			return reflect.Value{}, err
		}
		return reflect.ValueOf(obj), nil
	case reflect.Struct:
		p := reflect.New(t)
		obj, ok := p.Interface().(tdbin.Decoder)
		if !ok {
			break
		}
		if err := obj.Decode(b); err != nil {
			return reflect.Value{}, err
		}
		return p.Elem(), nil
	}
	return reflect.Value{}, fmt.Errorf("mtproto: result: the Go type %s is not supported", t)
}

// Encode writes v (a TL value as gotd holds it) in TL JSON.
func Encode(v any) ([]byte, error) {
	var b bytes.Buffer
	if err := encodeTLValue(&b, reflect.ValueOf(v)); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

func encodeTLValue(b *bytes.Buffer, v reflect.Value) error {
	if !v.IsValid() {
		b.WriteString("null")
		return nil
	}
	t := v.Type()
	switch {
	case t == bytesType || (t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8):
		writeBase64(b, v.Bytes())
		return nil
	case t.Kind() == reflect.Array && t.Elem().Kind() == reflect.Uint8:
		buf := make([]byte, v.Len())
		reflect.Copy(reflect.ValueOf(buf), v)
		writeBase64(b, buf)
		return nil
	}
	switch t.Kind() {
	case reflect.Bool:
		b.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int32:
		b.WriteString(strconv.FormatInt(v.Int(), 10))
	case reflect.Int64:
		b.WriteByte('"')
		b.WriteString(strconv.FormatInt(v.Int(), 10))
		b.WriteByte('"')
	case reflect.Float64:
		f := v.Float()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			b.WriteString("null") // JSON has no NaN or infinity
			return nil
		}
		b.WriteString(strconv.FormatFloat(f, 'g', -1, 64))
	case reflect.String:
		writeJSONString(b, v.String())
	case reflect.Slice:
		b.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := encodeTLValue(b, v.Index(i)); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	case reflect.Interface:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		return encodeTLValue(b, v.Elem())
	case reflect.Pointer:
		if v.IsNil() {
			b.WriteString("null")
			return nil
		}
		if t.Elem().Kind() != reflect.Struct || !t.Implements(tdpObjectType) {
			return fmt.Errorf("mtproto: TL JSON: the Go type %s is not supported", t)
		}
		return encodeTLObject(b, v)
	case reflect.Struct:
		if !v.CanAddr() {
			p := reflect.New(t)
			p.Elem().Set(v)
			v = p.Elem()
		}
		return encodeTLValue(b, v.Addr())
	default:
		return fmt.Errorf("mtproto: TL JSON: the Go type %s is not supported", t)
	}
	return nil
}

// encodeTLObject writes a generated object (a non-nil pointer): "_", then
// its fields in schema order, without the optional ones that are unset.
func encodeTLObject(b *bytes.Buffer, p reflect.Value) error {
	info := p.Interface().(tdtdp.Object).TypeInfo()
	b.WriteString(`{"_":`)
	writeJSONString(b, info.Name)
	s := structOf(p.Type().Elem())
	sv := p.Elem()
	for _, f := range info.Fields {
		if f.Null {
			continue
		}
		i, ok := s.byName[f.SchemaName]
		if !ok {
			continue
		}
		b.WriteByte(',')
		writeJSONString(b, f.SchemaName)
		b.WriteByte(':')
		if err := encodeTLValue(b, sv.Field(s.fields[i].index)); err != nil {
			return err
		}
	}
	b.WriteByte('}')
	return nil
}

func writeBase64(b *bytes.Buffer, p []byte) {
	b.WriteByte('"')
	b.WriteString(base64.StdEncoding.EncodeToString(p))
	b.WriteByte('"')
}

// writeJSONString writes s as a JSON string; invalid UTF-8 becomes U+FFFD
// (as encoding/json does), and nothing is HTML-escaped.
func writeJSONString(b *bytes.Buffer, s string) {
	const hex = "0123456789abcdef"
	b.WriteByte('"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20 || c == 0x7f:
				b.WriteString(`\u00`)
				b.WriteByte(hex[c>>4])
				b.WriteByte(hex[c&0xf])
			default:
				b.WriteByte(c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b.WriteString(`\ufffd`)
		case r == '\u2028' || r == '\u2029':
			b.WriteString(`\u202`)
			b.WriteByte(hex[r&0xf])
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	b.WriteByte('"')
}
