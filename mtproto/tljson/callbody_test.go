package tljson

import (
	"errors"
	"testing"
)

// TestCallBody: a method and its JSON parameters make one call object
// ("_" set, values as given); parameters that are not an object, or that
// name another method, are a *ParamsError saying which.
func TestCallBody(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		params, want, err string
	}{
		{"", `{"_":"help.getConfig"}`, ""},
		{"  ", `{"_":"help.getConfig"}`, ""},
		{`{"hash": 12345678901234567890}`, `{"_":"help.getConfig","hash":12345678901234567890}`, ""},
		{`{"_":"help.getConfig"}`, `{"_":"help.getConfig"}`, ""},
		{`{"_":"users.getUsers"}`, "", `the parameters name method "users.getUsers", the command line help.getConfig`},
		{`{"_":1}`, "", `the parameters name method 1, the command line help.getConfig`},
		{`[1]`, "", "the parameters of help.getConfig must be a JSON object (json: cannot unmarshal array into Go value of type map[string]json.RawMessage)"},
		{`null`, "", "the parameters of help.getConfig must be a JSON object (<nil>)"},
		{`{`, "", "the parameters of help.getConfig must be a JSON object (unexpected end of JSON input)"},
	} {
		got, err := CallBody("help.getConfig", []byte(c.params))
		if c.err != "" {
			var pe *ParamsError
			if !errors.As(err, &pe) || !errors.Is(err, ErrBadParams) || err.Error() != c.err {
				t.Errorf("%q: %s, %v; want the *ParamsError %q", c.params, got, err, c.err)
			}
			continue
		}
		if err != nil || string(got) != c.want {
			t.Errorf("%q: %s %v, want %s", c.params, got, err, c.want)
		}
	}
}
