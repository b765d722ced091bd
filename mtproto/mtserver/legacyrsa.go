package mtserver

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/binary"

	tdbin "github.com/gotd/td/bin"
	tdcrypto "github.com/gotd/td/crypto"
	tdmt "github.com/gotd/td/mt"
	tdtransport "github.com/gotd/td/transport"
)

// legacyRSAConn lets a client that encrypts req_DH_params the old way
// (sha1(data) + data + padding under raw RSA, as Telethon 1.25 does, and
// as Telegram still accepts) through gotd's server side of the exchange,
// which reads RSA_PAD only: the server holds the private key, so it
// decrypts such data and encrypts it again with RSA_PAD before the
// exchange reads it. Every other frame passes unchanged.
type legacyRSAConn struct {
	tdtransport.Conn
	key *rsa.PrivateKey
}

func (c *legacyRSAConn) Recv(ctx context.Context, b *tdbin.Buffer) error {
	if err := c.Conn.Recv(ctx, b); err != nil {
		return err
	}
	if out, ok := reencryptDHParams(b.Buf, c.key); ok {
		b.ResetTo(out)
	}
	return nil
}

// reencryptDHParams returns frame (an unencrypted message) with its
// req_DH_params' encrypted_data in RSA_PAD, and false when frame is no
// req_DH_params or its data is not in the old scheme.
func reencryptDHParams(frame []byte, key *rsa.PrivateKey) ([]byte, bool) {
	// auth_key_id (0), message_id, message_data_length, message_data
	if len(frame) < 24 || binary.LittleEndian.Uint64(frame) != 0 {
		return nil, false
	}
	n := int(binary.LittleEndian.Uint32(frame[16:20]))
	if n < 4 || n > len(frame)-20 {
		return nil, false
	}
	body := frame[20 : 20+n]
	if binary.LittleEndian.Uint32(body) != tdmt.ReqDHParamsRequestTypeID {
		return nil, false
	}
	var req tdmt.ReqDHParamsRequest
	if err := req.Decode(&tdbin.Buffer{Buf: body}); err != nil {
		return nil, false
	}
	if _, err := tdcrypto.DecodeRSAPad(req.EncryptedData, key); err == nil {
		return nil, false
	}
	data, err := tdcrypto.RSADecryptHashed(req.EncryptedData, key)
	if err != nil {
		return nil, false
	}
	if req.EncryptedData, err = tdcrypto.RSAPad(data, &key.PublicKey, rand.Reader); err != nil {
		return nil, false
	}
	var nb tdbin.Buffer
	if err := req.Encode(&nb); err != nil {
		return nil, false
	}
	out := make([]byte, 0, 20+len(nb.Buf))
	out = append(out, frame[:16]...)
	out = binary.LittleEndian.AppendUint32(out, uint32(len(nb.Buf)))
	return append(out, nb.Buf...), true
}
