package devserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"math/big"

	tdbin "github.com/gotd/td/bin"
	tdsrp "github.com/gotd/td/crypto/srp"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/sessionstring"
)

// DefaultLoginCode is the code auth.signIn accepts for a user created
// without one.
const DefaultLoginCode = "12345"

// srpPrime is Telegram's 2048-bit safe prime (the same as the key
// exchange's), with generator srpG, for the 2FA password.
var srpPrime, _ = new(big.Int).SetString(
	"C71CAEB9C6B1C9048E6C522F70F13F73980D40238E3E21C14934D037563D930F"+
		"48198A0AA7C14058229493D22530F4DBFA336F6E0AC925139543AED44CCE7C37"+
		"20FD51F69458705AC68CD4FE6B6B13ABDC9746512969328454F18FAF8C595F64"+
		"2477FE96BB2A941D5BCD1D4AC8CC49880708FA9B378E3C4F3A9060BEE67CF9A4"+
		"A4A695811051907E162753B56B0F6B410DBA74D8A84B2A14B3144E0EF1284754"+
		"FD17ED950D5965B4B9DD46582DB1178D169C6BC465B0D6FF9CA3928FEF5B9AE4"+
		"E418FC15E83EBEA0F87FA9FF5EED70050DED2849F47BF959D956850CE929851F"+
		"0D8115F635B105EE2E4E15D04B2454BF6F4FADF034B10403119CD8E3B92FCC5B", 16)

const srpG = 3

// password is a user's 2FA verifier: v = g^x mod p with x derived from the
// password and the salts (Telegram's SRP); the password itself is not kept.
type password struct {
	Salt1    []byte `json:"salt1"`
	Salt2    []byte `json:"salt2"`
	Verifier []byte `json:"verifier"`
}

// pendingLogin is a login in progress on one auth key (in memory only).
type pendingLogin struct {
	phone    string
	codeHash string
	userID   int64 // set once the code was right and a password is needed
	srpID    int64
	srpB     []byte   // g_b, padded
	srpb     *big.Int // b
}

// AddUser creates a user account that logs in with phone and code (the
// DefaultLoginCode when code is empty), and returns its id.
func (s *Server) AddUser(phone, username, code string) (int64, error) {
	if code == "" {
		code = DefaultLoginCode
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, u := range s.st.Users {
		if phone != "" && u.Phone == phone {
			return 0, errors.New("devserver: phone already used")
		}
	}
	id := s.st.NextUserID
	s.st.NextUserID++
	s.st.Users[id] = &User{ID: id, AccessHash: randInt64(), FirstName: username, Username: username, Phone: phone, Code: code}
	if err := s.st.save(s.dir); err != nil {
		return 0, err
	}
	return id, nil
}

// SetPassword sets (or, with an empty password, removes) a user's 2FA
// password.
func (s *Server) SetPassword(userID int64, pw string) error {
	var p *password
	if pw != "" {
		salt1, salt2 := make([]byte, 8), make([]byte, 16)
		if _, err := rand.Read(salt1); err != nil {
			return err
		}
		if _, err := rand.Read(salt2); err != nil {
			return err
		}
		v, newSalt1, err := tdsrp.NewSRP(rand.Reader).NewHash([]byte(pw), tdsrp.Input{
			Salt1: salt1, Salt2: salt2, G: srpG, P: srpPrime.Bytes(),
		})
		if err != nil {
			return fmt.Errorf("devserver: password hash: %w", err)
		}
		p = &password{Salt1: newSalt1, Salt2: salt2, Verifier: v}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.Users[userID]
	if !ok {
		return errors.New("devserver: unknown user")
	}
	u.Password = p
	return s.st.save(s.dir)
}

// authorizeLocked logs key id in as user uid.
func (s *Server) authorizeLocked(id sessionstring.KeyID, uid int64) error {
	k, ok := s.st.Keys[id]
	if !ok {
		return ErrUnknownKey
	}
	k.UserID = uid
	delete(s.pending, id)
	if err := s.st.save(s.dir); err != nil {
		return err
	}
	s.count(s.keyDC(k)).Authorizations++
	return nil
}

// loginCall answers the user-login methods; ok is false for any other.
func (s *Server) loginCall(ctx context.Context, r *reply, id uint32, b *tdbin.Buffer) (ok bool, err error) {
	switch id {
	case tdtg.AuthSendCodeRequestTypeID:
		var req tdtg.AuthSendCodeRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		hash, found := s.startLogin(r.KeyID, req.PhoneNumber)
		if !found {
			return true, r.rpcError(ctx, 400, "PHONE_NUMBER_INVALID")
		}
		return true, r.result(ctx, &tdtg.AuthSentCode{
			Type:          &tdtg.AuthSentCodeTypeApp{Length: len(DefaultLoginCode)},
			PhoneCodeHash: hash,
		})
	case tdtg.AuthSignInRequestTypeID:
		var req tdtg.AuthSignInRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		u, rpcErr := s.signIn(r.KeyID, req.PhoneNumber, req.PhoneCodeHash, req.PhoneCode)
		if rpcErr != "" {
			code := 400
			if rpcErr == "SESSION_PASSWORD_NEEDED" {
				code = 401
			}
			return true, r.rpcError(ctx, code, rpcErr)
		}
		return true, r.result(ctx, &tdtg.AuthAuthorization{User: u})
	case tdtg.AccountGetPasswordRequestTypeID:
		p, err := s.getPassword(r.KeyID)
		if err != nil {
			return true, err
		}
		return true, r.result(ctx, p)
	case tdtg.AuthCheckPasswordRequestTypeID:
		var req tdtg.AuthCheckPasswordRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		in, isSRP := req.Password.(*tdtg.InputCheckPasswordSRP)
		if !isSRP {
			return true, r.rpcError(ctx, 400, "PASSWORD_HASH_INVALID")
		}
		u, rpcErr := s.checkPassword(r.KeyID, in)
		if rpcErr != "" {
			return true, r.rpcError(ctx, 400, rpcErr)
		}
		return true, r.result(ctx, &tdtg.AuthAuthorization{User: u})
	case tdtg.AuthExportLoginTokenRequestTypeID:
		var req tdtg.AuthExportLoginTokenRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		res, rpcCode, rpcErr := s.exportLoginToken(r.KeyID)
		if rpcErr != "" {
			return true, r.rpcError(ctx, rpcCode, rpcErr)
		}
		return true, r.result(ctx, res)
	case tdtg.AuthAcceptLoginTokenRequestTypeID:
		var req tdtg.AuthAcceptLoginTokenRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		self, ok := s.userOf(r.KeyID)
		if !ok {
			return true, r.rpcError(ctx, 401, "AUTH_KEY_UNREGISTERED")
		}
		if self.Bot {
			return true, r.rpcError(ctx, 400, "BOT_METHOD_INVALID")
		}
		a, rpcErr := s.acceptLoginToken(ctx, req.Token, self.ID)
		if rpcErr != "" {
			return true, r.rpcError(ctx, 400, rpcErr)
		}
		return true, r.result(ctx, a)
	}
	return false, nil
}

func (s *Server) startLogin(id sessionstring.KeyID, phone string) (hash string, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.userByPhoneLocked(phone) == nil {
		return "", false
	}
	var h [8]byte
	_, _ = rand.Read(h[:])
	hash = hex.EncodeToString(h[:])
	s.pending[id] = &pendingLogin{phone: phone, codeHash: hash}
	return hash, true
}

func (s *Server) userByPhoneLocked(phone string) *User {
	if phone == "" {
		return nil
	}
	for _, u := range s.st.Users {
		if u.Phone == phone && !u.Bot {
			return u
		}
	}
	return nil
}

func (s *Server) signIn(id sessionstring.KeyID, phone, hash, code string) (*tdtg.User, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p, ok := s.pending[id]
	if !ok || p.phone != phone {
		return nil, "PHONE_NUMBER_UNOCCUPIED"
	}
	if p.codeHash != hash {
		return nil, "PHONE_CODE_EXPIRED"
	}
	u := s.userByPhoneLocked(phone)
	if u == nil {
		return nil, "PHONE_NUMBER_UNOCCUPIED"
	}
	if subtle.ConstantTimeCompare([]byte(u.Code), []byte(code)) != 1 {
		return nil, "PHONE_CODE_INVALID"
	}
	if u.Password != nil {
		p.userID = u.ID
		return nil, "SESSION_PASSWORD_NEEDED"
	}
	if err := s.authorizeLocked(id, u.ID); err != nil {
		return nil, "AUTH_KEY_UNREGISTERED"
	}
	return tgUser(u, true), ""
}

func (s *Server) getPassword(id sessionstring.KeyID) (*tdtg.AccountPassword, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := &tdtg.AccountPassword{
		NewAlgo:       &tdtg.PasswordKdfAlgoUnknown{},
		NewSecureAlgo: &tdtg.SecurePasswordKdfAlgoUnknown{},
		SecureRandom:  make([]byte, 32),
	}
	_, _ = rand.Read(out.SecureRandom)
	var u *User
	p := s.pending[id]
	if p != nil && p.userID != 0 {
		u = s.st.Users[p.userID]
	} else if k, ok := s.st.Keys[id]; ok && k.UserID != 0 {
		u = s.st.Users[k.UserID]
	}
	if u == nil || u.Password == nil {
		return out, nil
	}
	bBytes := make([]byte, 256)
	if _, err := rand.Read(bBytes); err != nil {
		return nil, err
	}
	b := new(big.Int).SetBytes(bBytes)
	g := big.NewInt(srpG)
	v := new(big.Int).SetBytes(u.Password.Verifier)
	// B = (k*v + g^b) mod p, k = H(p | pad(g))
	k := new(big.Int).SetBytes(hash(srpPrime.Bytes(), pad256(g)))
	gb := new(big.Int).Exp(g, b, srpPrime)
	B := new(big.Int).Mul(k, v)
	B.Add(B, gb).Mod(B, srpPrime)
	if p == nil {
		p = &pendingLogin{userID: u.ID}
		s.pending[id] = p
	}
	p.srpID = randInt64()
	p.srpB = pad256(B)
	p.srpb = b
	out.HasPassword = true
	out.CurrentAlgo = &tdtg.PasswordKdfAlgoSHA256SHA256PBKDF2HMACSHA512iter100000SHA256ModPow{
		Salt1: u.Password.Salt1, Salt2: u.Password.Salt2, G: srpG, P: srpPrime.Bytes(),
	}
	out.SRPB = p.srpB
	out.SRPID = p.srpID
	return out, nil
}

func (s *Server) checkPassword(id sessionstring.KeyID, in *tdtg.InputCheckPasswordSRP) (*tdtg.User, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := s.pending[id]
	if p == nil || p.srpb == nil || p.srpID != in.SRPID {
		return nil, "SRP_ID_INVALID"
	}
	u := s.st.Users[p.userID]
	if u == nil || u.Password == nil {
		return nil, "SRP_ID_INVALID"
	}
	A := new(big.Int).SetBytes(in.A)
	if A.Sign() <= 0 || A.Cmp(srpPrime) >= 0 {
		return nil, "PASSWORD_HASH_INVALID"
	}
	ga := pad256(A)
	// u = H(g_a | g_b); S = (A * v^u)^b mod p; K = H(S)
	uu := new(big.Int).SetBytes(hash(ga, p.srpB))
	v := new(big.Int).SetBytes(u.Password.Verifier)
	S := new(big.Int).Exp(v, uu, srpPrime)
	S.Mul(S, A).Mod(S, srpPrime)
	S.Exp(S, p.srpb, srpPrime)
	K := sha256.Sum256(pad256(S))
	hp, hg := sha256.Sum256(srpPrime.Bytes()), sha256.Sum256(pad256(big.NewInt(srpG)))
	for i := range hp {
		hp[i] ^= hg[i]
	}
	m1 := hash(hp[:], hash(u.Password.Salt1), hash(u.Password.Salt2), ga, p.srpB, K[:])
	p.srpb = nil // one attempt per getPassword
	if subtle.ConstantTimeCompare(m1, in.M1) != 1 {
		return nil, "PASSWORD_HASH_INVALID"
	}
	if err := s.authorizeLocked(id, u.ID); err != nil {
		return nil, "AUTH_KEY_UNREGISTERED"
	}
	return tgUser(u, true), ""
}

func hash(parts ...[]byte) []byte {
	h := sha256.New()
	for _, p := range parts {
		h.Write(p)
	}
	return h.Sum(nil)
}

func pad256(x *big.Int) []byte {
	b := make([]byte, 256)
	x.FillBytes(b)
	return b
}
