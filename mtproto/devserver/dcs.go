package devserver

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"strconv"
	"time"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/sessionstring"
)

// exportTTL is how long the bytes of auth.exportAuthorization stay
// importable.
const exportTTL = time.Minute

// pendingExport is an auth.exportAuthorization not yet imported.
type pendingExport struct {
	userID  int64
	dc      int // the DC it may be imported on
	expires time.Time
}

// count returns the login counters of DC dc. s.mu must be held.
func (s *Server) count(dc int) *DCStats {
	c := s.counts[dc]
	if c == nil {
		c = &DCStats{}
		s.counts[dc] = c
	}
	return c
}

// dcCall answers auth.exportAuthorization and upload.getFile for an
// authorized user; ok is false for any other method.
func (s *Server) dcCall(ctx context.Context, r *reply, id uint32, b *tdbin.Buffer, self *User) (ok bool, err error) {
	switch id {
	case tdtg.AuthExportAuthorizationRequestTypeID:
		var req tdtg.AuthExportAuthorizationRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		if req.DCID == r.Conn.DC() || s.dcServer(req.DCID) == nil {
			return true, r.rpcError(ctx, 400, "DC_ID_INVALID")
		}
		tok, err := s.exportAuthorization(self.ID, r.Conn.DC(), req.DCID)
		if err != nil {
			return true, err
		}
		return true, r.result(ctx, &tdtg.AuthExportedAuthorization{ID: self.ID, Bytes: tok})
	case tdtg.UploadGetFileRequestTypeID:
		var req tdtg.UploadGetFileRequest
		if err := req.Decode(b); err != nil {
			return true, err
		}
		res, code, msg := s.getFile(self, r.Conn.DC(), &req)
		if msg != "" {
			return true, r.rpcError(ctx, code, msg)
		}
		return true, r.result(ctx, res)
	}
	return false, nil
}

// exportAuthorization makes the bytes that log a key of DC to in as user
// uid, once, within exportTTL.
func (s *Server) exportAuthorization(uid int64, from, to int) ([]byte, error) {
	tok := make([]byte, 128)
	if _, err := rand.Read(tok); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, e := range s.exports {
		if now.After(e.expires) {
			delete(s.exports, k)
		}
	}
	s.exports[string(tok)] = pendingExport{userID: uid, dc: to, expires: now.Add(exportTTL)}
	s.count(from).Exports++
	return tok, nil
}

// importAuthorization logs key id of DC dc in with the bytes of an
// export; msg is the RPC error otherwise.
func (s *Server) importAuthorization(id sessionstring.KeyID, dc int, uid int64, tok []byte) (*tdtg.User, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		e     pendingExport
		found bool
	)
	for k, v := range s.exports {
		if subtle.ConstantTimeCompare([]byte(k), tok) == 1 {
			e, found = v, true
			delete(s.exports, k)
			break
		}
	}
	if !found || e.userID != uid || e.dc != dc || time.Now().After(e.expires) {
		return nil, "AUTH_BYTES_INVALID"
	}
	k, ok := s.st.Keys[id]
	u, uok := s.st.Users[uid]
	if !ok || !uok {
		return nil, "AUTH_BYTES_INVALID"
	}
	k.UserID = uid
	delete(s.pending, id)
	if err := s.st.save(s.dir); err != nil {
		return nil, "AUTH_RESTART"
	}
	s.count(dc).Imports++
	return tgUser(u, true), ""
}

// Photo is a user's profile photo: one JPEG kept on one DC.
type Photo struct {
	ID   int64  `json:"id"`
	DC   int    `json:"dc"`
	Date int    `json:"date"`
	Data []byte `json:"data"`
}

// maxPhoto bounds a profile photo (it is kept in the state file).
const maxPhoto = 1 << 20

// SetProfilePhoto gives the user a profile photo whose file lives on DC
// dc: upload.getFile serves it there and answers FILE_MIGRATE_dc on every
// other DC, as Telegram does. It returns the photo id.
func (s *Server) SetProfilePhoto(userID int64, dc int, jpeg []byte) (int64, error) {
	if len(jpeg) == 0 || len(jpeg) > maxPhoto {
		return 0, errorf("profile photo of %d bytes (1 to %d)", len(jpeg), maxPhoto)
	}
	if s.dcServer(dc) == nil {
		return 0, errorf("DC %d is not one of the server's", dc)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	u, ok := s.st.Users[userID]
	if !ok {
		return 0, ErrUnknownUser
	}
	u.Photo = &Photo{ID: randInt64(), DC: dc, Date: int(time.Now().Unix()), Data: append([]byte(nil), jpeg...)}
	if err := s.st.save(s.dir); err != nil {
		return 0, err
	}
	return u.Photo.ID, nil
}

// getFile answers upload.getFile on DC dc: a part of a profile photo
// (inputPeerPhotoFileLocation, big or small: one file).
func (s *Server) getFile(self *User, dc int, req *tdtg.UploadGetFileRequest) (res *tdtg.UploadFile, code int, msg string) {
	loc, ok := req.Location.(*tdtg.InputPeerPhotoFileLocation)
	if !ok {
		return nil, 400, "LOCATION_INVALID"
	}
	if req.Offset < 0 || req.Limit <= 0 || req.Limit > 1<<20 {
		return nil, 400, "LIMIT_INVALID"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var u *User
	switch p := loc.Peer.(type) {
	case *tdtg.InputPeerSelf:
		u = self
	case *tdtg.InputPeerUser:
		if v, ok := s.st.Users[p.UserID]; ok && (v.AccessHash == p.AccessHash || v.ID == self.ID) {
			u = v
		}
	}
	if u == nil {
		return nil, 400, "PEER_ID_INVALID"
	}
	if u.Photo == nil || u.Photo.ID != loc.PhotoID {
		return nil, 400, "LOCATION_INVALID"
	}
	if u.Photo.DC != dc {
		return nil, 303, "FILE_MIGRATE_" + strconv.Itoa(u.Photo.DC)
	}
	data := u.Photo.Data
	start := min(req.Offset, int64(len(data)))
	end := min(start+int64(req.Limit), int64(len(data)))
	return &tdtg.UploadFile{Type: &tdtg.StorageFileJpeg{}, Mtime: u.Photo.Date, Bytes: append([]byte{}, data[start:end]...)}, 0, ""
}
