package mtserver

import (
	"bytes"
	"crypto/rand"
	"crypto/rsa"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdmt "github.com/gotd/td/mt"
)

// TestReencryptDHParams: req_DH_params encrypted the old way (Telethon
// 1.25) comes out in RSA_PAD with the same inner data; one already in
// RSA_PAD, or another message, passes unchanged.
func TestReencryptDHParams(t *testing.T) {
	t.Parallel()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	inner := bytes.Repeat([]byte{7}, 96)
	frame := func(enc []byte) []byte {
		var body tdbin.Buffer
		if err := (&tdmt.ReqDHParamsRequest{P: []byte{1}, Q: []byte{2}, PublicKeyFingerprint: 5, EncryptedData: enc}).Encode(&body); err != nil {
			t.Fatal(err)
		}
		var b tdbin.Buffer
		b.PutLong(0)
		b.PutLong(12345)
		b.PutInt(len(body.Buf))
		b.Put(body.Buf)
		return b.Buf
	}
	old, err := tdcrypto.RSAEncryptHashed(inner, &key.PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	out, ok := reencryptDHParams(frame(old), key)
	if !ok {
		t.Fatal("old-scheme data not re-encrypted")
	}
	var req tdmt.ReqDHParamsRequest
	if err := req.Decode(&tdbin.Buffer{Buf: out[20:]}); err != nil {
		t.Fatal(err)
	}
	got, err := tdcrypto.DecodeRSAPad(req.EncryptedData, key)
	if err != nil || !bytes.Equal(got[:len(inner)], inner) || req.PublicKeyFingerprint != 5 {
		t.Fatalf("re-encrypted data: %v", err)
	}
	pad, err := tdcrypto.RSAPad(inner, &key.PublicKey, rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := reencryptDHParams(frame(pad), key); ok {
		t.Error("RSA_PAD data re-encrypted")
	}
	if _, ok := reencryptDHParams([]byte("not a frame at all, just bytes"), key); ok {
		t.Error("garbage re-encrypted")
	}
}
