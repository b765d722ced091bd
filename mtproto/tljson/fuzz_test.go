package tljson

import (
	"bytes"
	"errors"
	"testing"

	tdbin "github.com/gotd/td/bin"
)

// FuzzDecodeTLCall: the TL JSON decoder of the local API never panics,
// fails only with a *Error, never lets a refused method through, and
// what it decodes encodes back to JSON that decodes to the same TL bytes.
func FuzzDecodeTLCall(f *testing.F) {
	for _, s := range []string{
		`{"_":"users.getUsers","id":[{"_":"inputUserSelf"},{"_":"inputUser","user_id":"42","access_hash":-7}]}`,
		`{"_":"help.getConfig"}`,
		`{"_":"contacts.resolveUsername","username":"demo_bot"}`,
		`{"_":"messages.getDialogs","exclude_pinned":true,"folder_id":0,"offset_peer":{"_":"inputPeerEmpty"},"limit":"20","hash":"123"}`,
		`{"_":"upload.saveFilePart","file_id":"1","file_part":0,"bytes":"+/8="}`,
		`{"_":"account.updateNotifySettings","peer":{"_":"inputNotifyUsers"},"settings":{"silent":true,"sound":{"_":"notificationSoundLocal","title":"t","data":"d"}}}`,
		`{"_":"help.saveAppLog","events":[{"_":"inputAppEvent","time":1.5,"type":"x","peer":"1","data":{"_":"jsonObject","value":[{"_":"jsonObjectValue","key":"k","value":{"_":"jsonArray","value":[{"_":"jsonNumber","value":-0}]}}]}}]}`,
		`{"_":"auth.logOut"}`,
		`{"_":"invokeWithLayer","layer":1,"query":{"_":"help.getConfig"}}`,
		`{"_":"users.getUsers","id":[{"_":"inputPeerSelf"}]}`,
		`{"_":"messages.getDialogs"}`,
		`[1,2,3]`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := DecodeCall(data, nil)
		if err != nil {
			var te *Error
			if !errors.As(err, &te) {
				t.Fatalf("untyped error: %v", err)
			}
			return
		}
		if _, refused := RefusedMethod(c.method.name); refused {
			t.Fatalf("refused method %s decoded", c.method.name)
		}
		var b1 tdbin.Buffer
		if err := c.req.Encode(&b1); err != nil {
			t.Fatalf("decoded call does not encode: %v", err)
		}
		j, err := Encode(c.req)
		if err != nil {
			t.Fatalf("to JSON: %v", err)
		}
		if len(j) > MaxInvokeBody {
			return
		}
		c2, err := DecodeCall(j, nil)
		if err != nil {
			t.Fatalf("own JSON %s: %v", j, err)
		}
		var b2 tdbin.Buffer
		if err := c2.req.Encode(&b2); err != nil || !bytes.Equal(b1.Buf, b2.Buf) {
			t.Fatalf("TL differs after JSON %s (%v)", j, err)
		}
	})
}
