package tljson

import (
	"bytes"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdmt "github.com/gotd/td/mt"
	tdtg "github.com/gotd/td/tg"
)

// TestTLStructsCovered: every field of every generated struct is known to
// the codec (TypeInfo names them all but the flags words), so nothing is
// dropped silently; and every optional field has its setter.
func TestTLStructsCovered(t *testing.T) {
	t.Parallel()
	for id, f := range tlTypes().byID {
		rt := reflect.TypeOf(f()).Elem()
		s := structOf(rt)
		want := 0
		for i := range rt.NumField() {
			if rt.Field(i).Type != reflect.TypeFor[tdbin.Fields]() {
				want++
			}
		}
		if len(s.fields) != want {
			t.Errorf("%s (%#x): codec knows %d fields of %d", rt.Name(), id, len(s.fields), want)
		}
	}
}

// TestTLMethods: every method of the schema is callable (or refused), and
// every result type decodes.
func TestTLMethods(t *testing.T) {
	t.Parallel()
	reg := tlTypes()
	if len(reg.methods) < 700 {
		t.Fatalf("%d methods, want the whole schema", len(reg.methods))
	}
	for name, m := range reg.methods {
		if !resultSupported(m.result) {
			t.Errorf("%s: result type %s not supported", name, m.result)
		}
	}
	for _, name := range []string{"users.getUsers", "help.getConfig", "contacts.resolveUsername", "messages.getDialogs", "updates.getState", "account.getPassword"} {
		if _, ok := reg.methods[name]; !ok {
			t.Errorf("%s is not a method", name)
		}
	}
	if _, ok := reg.methods["messageActionChatJoinedByRequest"]; ok {
		t.Error("a constructor ending in Request counted as a method")
	}
}

func resultSupported(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int64, reflect.Float64, reflect.String:
		return true
	case reflect.Slice:
		return t == bytesType || resultSupported(t.Elem())
	case reflect.Interface:
		return t.Implements(binObjectType) && t != binObjectType
	case reflect.Pointer:
		return t.Implements(reflect.TypeFor[tdbin.Decoder]())
	case reflect.Struct:
		return reflect.PointerTo(t).Implements(reflect.TypeFor[tdbin.Decoder]())
	}
	return false
}

// tlFiller fills generated structs with pseudo-random values.
type tlFiller struct {
	rnd   *rand.Rand
	impls map[reflect.Type][]func() tdbin.Object
	ctors []func() tdbin.Object // sorted by TL name
}

func newFiller(seed uint64) *tlFiller {
	reg := tlTypes()
	names := make([]string, 0, len(reg.byName))
	for n := range reg.byName {
		names = append(names, n)
	}
	slices.Sort(names)
	f := &tlFiller{rnd: rand.New(rand.NewPCG(seed, 7)), impls: map[reflect.Type][]func() tdbin.Object{}}
	for _, n := range names {
		f.ctors = append(f.ctors, reg.byName[n])
	}
	return f
}

var fillStrings = []string{"", "hello", "héllo wörld", `quote " and \ backslash`, "tab\tnewline\n", "\x01\x1f\x7f", "<b>&amp;</b>", "日本語", "\u2028\u2029", "emoji 🎉"}

func (f *tlFiller) implsOf(t reflect.Type) []func() tdbin.Object {
	if out, ok := f.impls[t]; ok {
		return out
	}
	var out []func() tdbin.Object
	for _, c := range f.ctors {
		if reflect.TypeOf(c()).Implements(t) {
			out = append(out, c)
		}
	}
	// Fewest fields first: deep down, the filler takes the first.
	slices.SortStableFunc(out, func(a, b func() tdbin.Object) int {
		return len(structOf(reflect.TypeOf(a()).Elem()).fields) - len(structOf(reflect.TypeOf(b()).Elem()).fields)
	})
	f.impls[t] = out
	return out
}

func (f *tlFiller) fill(t *testing.T, v reflect.Value, depth int) {
	if depth > 40 {
		t.Fatalf("filler: %s nests without end", v.Type())
	}
	s := structOf(v.Type())
	for _, fd := range s.fields {
		if fd.setter >= 0 && (depth > 3 || f.rnd.IntN(3) == 0) {
			continue
		}
		fv := f.value(t, fd.typ, depth+1)
		if fd.setter >= 0 {
			v.Addr().Method(fd.setter).Call([]reflect.Value{fv})
		} else {
			v.Field(fd.index).Set(fv)
		}
	}
}

func (f *tlFiller) value(t *testing.T, typ reflect.Type, depth int) reflect.Value {
	switch {
	case typ == bytesType:
		b := make([]byte, f.rnd.IntN(9))
		for i := range b {
			b[i] = byte(f.rnd.UintN(256))
		}
		return reflect.ValueOf(b)
	case typ.Kind() == reflect.Array:
		out := reflect.New(typ).Elem()
		for i := range typ.Len() {
			out.Index(i).SetUint(uint64(f.rnd.UintN(256)))
		}
		return out
	}
	switch typ.Kind() {
	case reflect.Bool:
		return reflect.ValueOf(f.rnd.IntN(2) == 1).Convert(typ)
	case reflect.Int, reflect.Int32:
		return reflect.ValueOf(int64(int32(f.rnd.Uint32()))).Convert(typ)
	case reflect.Int64:
		return reflect.ValueOf(int64(f.rnd.Uint64())).Convert(typ)
	case reflect.Float64:
		return reflect.ValueOf(f.rnd.NormFloat64() * 1e6).Convert(typ)
	case reflect.String:
		return reflect.ValueOf(fillStrings[f.rnd.IntN(len(fillStrings))]).Convert(typ)
	case reflect.Slice:
		n := f.rnd.IntN(3)
		if depth > 3 {
			n = 0
		}
		out := reflect.MakeSlice(typ, n, n)
		for i := range n {
			out.Index(i).Set(f.value(t, typ.Elem(), depth+1))
		}
		return out
	case reflect.Interface:
		impls := f.implsOf(typ)
		if len(impls) == 0 {
			t.Fatalf("filler: no constructor for %s", typ)
		}
		c := impls[0]
		if depth <= 3 {
			c = impls[f.rnd.IntN(len(impls))]
		}
		obj := reflect.ValueOf(c())
		f.fill(t, obj.Elem(), depth+1)
		out := reflect.New(typ).Elem()
		out.Set(obj)
		return out
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		f.fill(t, p.Elem(), depth+1)
		return p
	case reflect.Struct:
		p := reflect.New(typ)
		f.fill(t, p.Elem(), depth+1)
		return p.Elem()
	}
	t.Fatalf("filler: type %s", typ)
	return reflect.Value{}
}

func hasQueryField(t reflect.Type) bool {
	for _, fd := range structOf(t).fields {
		if fd.typ == binObjectType {
			return true
		}
	}
	return false
}

// TestTLRoundTrip: for every constructor and method of the schema, filled
// with random values, TL binary -> gotd -> TL JSON -> codec -> TL binary
// gives the same bytes, and encoding again the same JSON.
func TestTLRoundTrip(t *testing.T) {
	t.Parallel()
	n := 0
	gotdBroken := map[string]string{}
	skipped := 0
	for seed := range uint64(3) {
		f := newFiller(seed)
		for _, ctor := range f.ctors {
			obj := ctor()
			rt := reflect.TypeOf(obj)
			if hasQueryField(rt.Elem()) {
				continue // wrappers around a query: refused, never decoded
			}
			f.fill(t, reflect.ValueOf(obj).Elem(), 0)
			var b1 tdbin.Buffer
			if err := obj.Encode(&b1); err != nil {
				// Fields sharing one flag bit, filled only in part.
				skipped++
				continue
			}
			norm := ctor()
			if err := norm.Decode(&tdbin.Buffer{Buf: bytes.Clone(b1.Buf)}); err != nil {
				// gotd cannot read back what it wrote: not ours to test.
				gotdBroken[rt.String()] = err.Error()
				continue
			}
			j1, err := Encode(norm)
			if err != nil {
				t.Fatalf("%s: to JSON: %v", rt, err)
			}
			if !json.Valid(j1) {
				t.Fatalf("%s: invalid JSON %s", rt, j1)
			}
			raw, err := parseJSON(j1)
			if err != nil {
				t.Fatalf("%s: %v", rt, err)
			}
			back, err := decodeValue("", rt, raw, 0)
			if err != nil {
				t.Fatalf("%s: from JSON %s: %v", rt, j1, err)
			}
			var b2 tdbin.Buffer
			if err := back.Interface().(tdbin.Encoder).Encode(&b2); err != nil {
				t.Fatalf("%s: encode decoded: %v", rt, err)
			}
			if !bytes.Equal(b1.Buf, b2.Buf) {
				t.Fatalf("%s: TL differs after JSON %s", rt, j1)
			}
			j2, err := Encode(back.Interface())
			if err != nil || !bytes.Equal(j1, j2) {
				t.Fatalf("%s: JSON differs:\n%s\n%s (%v)", rt, j1, j2, err)
			}
			n++
		}
	}
	t.Logf("%d round trips, %d random fills not encodable", n, skipped)
	if n < 3*2000 {
		t.Errorf("only %d round trips", n)
	}
	for typ, err := range gotdBroken {
		t.Logf("gotd's own round trip fails for %s: %s", typ, err)
	}
}

func TestTLDecodeCall(t *testing.T) {
	t.Parallel()
	c, err := DecodeCall([]byte(`{"_":"users.getUsers","id":[{"_":"inputUserSelf"},{"_":"inputUser","user_id":"42","access_hash":-9007199254740993}]}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	req := c.req.(*tdtg.UsersGetUsersRequest)
	if len(req.ID) != 2 {
		t.Fatalf("ids %v", req.ID)
	}
	if _, ok := req.ID[0].(*tdtg.InputUserSelf); !ok {
		t.Errorf("id[0] = %T", req.ID[0])
	}
	if u, ok := req.ID[1].(*tdtg.InputUser); !ok || u.UserID != 42 || u.AccessHash != -9007199254740993 {
		t.Errorf("id[1] = %#v", req.ID[1])
	}

	// Flags follow the fields present: a "true" flag, and an optional
	// field given as zero is still sent.
	c, err = DecodeCall([]byte(`{"_":"messages.getDialogs","exclude_pinned":true,"folder_id":0,"offset_peer":{"_":"inputPeerEmpty"},"limit":"20","hash":"123"}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	d := c.req.(*tdtg.MessagesGetDialogsRequest)
	if !d.ExcludePinned || !d.Flags.Has(0) || !d.Flags.Has(1) || d.Limit != 20 || d.Hash != 123 {
		t.Errorf("getDialogs = %+v", d)
	}
	if _, ok := d.GetFolderID(); !ok {
		t.Error("folder_id 0 not sent")
	}
	c, err = DecodeCall([]byte(`{"_":"messages.getDialogs","exclude_pinned":false,"offset_peer":{"_":"inputPeerSelf"},"folder_id":null}`), nil)
	if err != nil {
		t.Fatal(err)
	}
	if d := c.req.(*tdtg.MessagesGetDialogsRequest); d.Flags != 0 {
		t.Errorf("flags %b, want none", d.Flags)
	}

	// Bytes: padded, unpadded and URL-safe base64.
	for _, s := range []string{"+/8=", "+/8", "-_8=", "-_8"} {
		c, err := DecodeCall([]byte(`{"_":"upload.saveFilePart","file_id":"1","file_part":0,"bytes":"`+s+`"}`), nil)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		if b := c.req.(*tdtg.UploadSaveFilePartRequest).Bytes; !bytes.Equal(b, []byte{0xfb, 0xff}) {
			t.Errorf("%s: bytes %x", s, b)
		}
	}

	// A concrete type takes "_" or not.
	for _, settings := range []string{`{"silent":true}`, `{"_":"inputPeerNotifySettings","silent":true}`} {
		c, err := DecodeCall([]byte(`{"_":"account.updateNotifySettings","peer":{"_":"inputNotifyUsers"},"settings":`+settings+`}`), nil)
		if err != nil {
			t.Fatalf("%s: %v", settings, err)
		}
		if s := c.req.(*tdtg.AccountUpdateNotifySettingsRequest).Settings; !s.Silent {
			t.Errorf("%s: %+v", settings, s)
		}
	}
}

func TestTLEncode(t *testing.T) {
	t.Parallel()
	u := &tdtg.User{ID: 1 << 60, FirstName: "A <b>\"", Bot: true}
	u.SetFlags()
	u.SetAccessHash(-5)
	got, err := Encode([]tdtg.UserClass{u, &tdtg.UserEmpty{ID: 7}})
	if err != nil {
		t.Fatal(err)
	}
	// bot_info_version shares bot's flag bit.
	want := `[{"_":"user","bot":true,"id":"1152921504606846976","access_hash":"-5","first_name":"A <b>\"","bot_info_version":0},{"_":"userEmpty","id":"7"}]`
	if string(got) != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
	for v, want := range map[any]string{true: "true", false: "false", 3: "3", int64(3): `"3"`} {
		if got, err := Encode(v); err != nil || string(got) != want {
			t.Errorf("%v: %s %v", v, got, err)
		}
	}
	if got, _ := Encode([]byte{0xfb, 0xff}); string(got) != `"+/8="` {
		t.Errorf("bytes: %s", got)
	}
}

func TestTLJSONErrors(t *testing.T) {
	t.Parallel()
	deep := strings.Repeat(`{"_":"jsonArray","value":[`, 100) + strings.Repeat(`]}`, 100)
	cases := []struct {
		name, body string
		kind       error
		path       string
	}{
		{"empty", ``, ErrMalformedJSON, ""},
		{"truncated", `{"_":"help.getConfig"`, ErrMalformedJSON, ""},
		{"array", `[]`, ErrMalformedJSON, ""},
		{"string", `"help.getConfig"`, ErrMalformedJSON, ""},
		{"trailing", `{"_":"help.getConfig"} {}`, ErrMalformedJSON, ""},
		{"too deep", `{"_":"help.saveAppLog","events":[{"_":"inputAppEvent","type":"x","data":` + deep + `}]}`, ErrMalformedJSON, "*"},
		{"too large", `{"_":"help.getConfig"}` + strings.Repeat(" ", MaxInvokeBody), ErrBodyTooLarge, ""},
		{"no method", `{}`, ErrUnknownMethod, "_"},
		{"method not a string", `{"_":5}`, ErrUnknownMethod, "_"},
		{"unknown method", `{"_":"users.getUserz"}`, ErrUnknownMethod, "_"},
		{"constructor as method", `{"_":"user"}`, ErrUnknownMethod, "_"},
		{"unknown constructor", `{"_":"users.getUsers","id":[{"_":"inputUserSelff"}]}`, ErrUnknownConstructor, "id[0]._"},
		{"constructor missing", `{"_":"users.getUsers","id":[{"user_id":1}]}`, ErrUnknownConstructor, "id[0]._"},
		{"concrete unknown", `{"_":"account.updateNotifySettings","peer":{"_":"inputNotifyUsers"},"settings":{"_":"nope"}}`, ErrUnknownConstructor, "settings._"},
		{"wrong class", `{"_":"users.getUsers","id":[{"_":"inputPeerSelf"}]}`, ErrWrongClass, "id[0]._"},
		{"method as constructor", `{"_":"users.getUsers","id":[{"_":"users.getUsers"}]}`, ErrWrongClass, "id[0]._"},
		{"concrete wrong", `{"_":"account.updateNotifySettings","peer":{"_":"inputNotifyUsers"},"settings":{"_":"user"}}`, ErrWrongClass, "settings._"},
		{"object for vector", `{"_":"users.getUsers","id":{}}`, ErrFieldType, "id"},
		{"number for object", `{"_":"users.getUsers","id":[1]}`, ErrFieldType, "id[0]"},
		{"null in vector", `{"_":"users.getUsers","id":[null]}`, ErrFieldType, "id[0]"},
		{"int overflow", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"limit":1099511627776}`, ErrFieldType, "limit"},
		{"int fraction", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"limit":1.5}`, ErrFieldType, "limit"},
		{"int text", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"limit":"ten"}`, ErrFieldType, "limit"},
		{"long bool", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"hash":true}`, ErrFieldType, "hash"},
		{"long overflow", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"hash":"9223372036854775808"}`, ErrFieldType, "hash"},
		{"bool string", `{"_":"messages.getDialogs","offset_peer":{"_":"inputPeerEmpty"},"exclude_pinned":"yes"}`, ErrFieldType, "exclude_pinned"},
		{"string number", `{"_":"contacts.resolveUsername","username":5}`, ErrFieldType, "username"},
		{"bad base64", `{"_":"upload.saveFilePart","bytes":"!!"}`, ErrFieldType, "bytes"},
		{"double string", `{"_":"help.saveAppLog","events":[{"_":"inputAppEvent","time":"now","type":"x","data":{"_":"jsonNull"}}]}`, ErrFieldType, "events[0].time"},
		{"unknown field", `{"_":"help.getConfig","x":1}`, ErrUnknownField, "x"},
		{"flags field", `{"_":"messages.getDialogs","flags":1,"offset_peer":{"_":"inputPeerEmpty"}}`, ErrUnknownField, "flags"},
		{"nested unknown field", `{"_":"users.getUsers","id":[{"_":"inputUserSelf","me":true}]}`, ErrUnknownField, "id[0].me"},
		{"missing class field", `{"_":"messages.getDialogs"}`, ErrMissingField, "offset_peer"},
		{"shared flag bit", `{"_":"channels.createChannel","title":"t","about":"a","address":"somewhere"}`, ErrMissingField, ""},
		{"refused", `{"_":"auth.exportAuthorization","dc_id":1}`, ErrMethodRefused, ""},
		{"refused any auth", `{"_":"auth.checkPaidAuth"}`, ErrMethodRefused, ""},
		{"refused wrapper", `{"_":"invokeWithLayer","layer":1,"query":{"_":"auth.logOut"}}`, ErrMethodRefused, ""},
		{"refused mtproto", `{"_":"destroy_auth_key"}`, ErrMethodRefused, ""},
	}
	for _, tc := range cases {
		_, err := DecodeCall([]byte(tc.body), nil)
		var te *Error
		if !errors.Is(err, tc.kind) || !errors.As(err, &te) {
			t.Errorf("%s: %v, want %v", tc.name, err, tc.kind)
			continue
		}
		if tc.path != "*" && te.Path != tc.path {
			t.Errorf("%s: path %q, want %q (%v)", tc.name, te.Path, tc.path, err)
		}
		if len(err.Error()) > 400 {
			t.Errorf("%s: error too long: %.100s...", tc.name, err)
		}
	}
}

// TestRefusedMethods: every refused method is refused by name, every
// auth.* method of the schema too, and no ordinary method is.
func TestRefusedMethods(t *testing.T) {
	t.Parallel()
	for name := range refusedMethods {
		if _, err := DecodeCall([]byte(`{"_":"`+name+`"}`), nil); !errors.Is(err, ErrMethodRefused) {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name := range tlTypes().methods {
		_, refused := RefusedMethod(name)
		if strings.HasPrefix(name, "auth.") && !refused {
			t.Errorf("%s not refused", name)
		}
		if hasQueryField(reflect.TypeOf(tlTypes().methods[name].new()).Elem()) && !refused {
			t.Errorf("%s wraps a query and is not refused", name)
		}
	}
	for _, name := range []string{"users.getUsers", "account.getAuthorizations", "messages.sendMessage"} {
		if _, refused := RefusedMethod(name); refused {
			t.Errorf("%s refused", name)
		}
	}
	// Names in the list are real: a typo would refuse nothing.
	for name := range refusedMethods {
		_, api := tlTypes().byName[name]
		_, service := tdmt.NamesMap()[name]
		if !api && !service && name != "destroy_auth_key" { // gotd's mt lacks destroy_auth_key
			t.Errorf("%s is not a method of the schema", name)
		}
	}
}

func TestTLResult(t *testing.T) {
	t.Parallel()
	enc := func(e tdbin.Encoder) *tdbin.Buffer {
		var b tdbin.Buffer
		if err := e.Encode(&b); err != nil {
			t.Fatal(err)
		}
		return &b
	}
	u := &tdtg.User{ID: 5, AccessHash: 6, Username: "Five"}
	u.SetFlags()
	cases := []struct {
		typ  reflect.Type
		in   tdbin.Encoder
		want string
	}{
		{reflect.TypeFor[[]tdtg.UserClass](), &tdtg.UserClassVector{Elems: []tdtg.UserClass{u}}, `[{"_":"user","id":"5","access_hash":"6","username":"Five"}]`},
		{reflect.TypeFor[bool](), &tdtg.BoolBox{Bool: &tdtg.BoolTrue{}}, `true`},
		{reflect.TypeFor[[]int](), &tdtg.IntVector{Elems: []int{1, -2}}, `[1,-2]`},
		{reflect.TypeFor[[]int64](), &tdtg.LongVector{Elems: []int64{1 << 62}}, `["4611686018427387904"]`},
		{reflect.TypeFor[*tdtg.UpdatesState](), &tdtg.UpdatesState{Pts: 1, Seq: 2}, `{"_":"updates.state","pts":1,"qts":0,"date":0,"seq":2,"unread_count":0}`},
		{reflect.TypeFor[tdtg.MessagesDialogsClass](), &tdtg.MessagesDialogs{}, `{"_":"messages.dialogs","dialogs":[],"messages":[],"chats":[],"users":[]}`},
	}
	for _, tc := range cases {
		r := &Result{typ: tc.typ}
		if err := r.Decode(enc(tc.in)); err != nil {
			t.Errorf("%s: %v", tc.typ, err)
			continue
		}
		if got, err := Encode(r.value.Interface()); err != nil || string(got) != tc.want {
			t.Errorf("%s: %s %v, want %s", tc.typ, got, err, tc.want)
		}
	}
	if v := (&Result{}).Value(); v != nil {
		t.Errorf("value of an empty result: %v", v)
	}
	// A constructor of another class, garbage, a short buffer: errors.
	for _, b := range []*tdbin.Buffer{enc(&tdtg.UserClassVector{Elems: []tdtg.UserClass{u}}), {Buf: []byte{1, 2, 3, 4, 5, 6, 7, 8}}, {}} {
		if err := (&Result{typ: reflect.TypeFor[tdtg.MessagesDialogsClass]()}).Decode(b); err == nil {
			t.Errorf("decoded %x as dialogs", b.Buf)
		}
	}
}
