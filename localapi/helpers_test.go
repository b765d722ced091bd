package localapi

import (
	"crypto/rsa"

	"github.com/tgvault/tgvault/internal/mttest"
	"github.com/tgvault/tgvault/mtproto"
	"github.com/tgvault/tgvault/mtproto/devserver"
)

// serverOptions are the options of a client of srv (the shared helpers
// are internal/mttest's).
func serverOptions(srv *devserver.Server) mtproto.Options {
	return mtproto.Options{
		Server:         mtproto.Server{DC: srv.DC(), Addr: srv.Addr(), PublicKeys: []*rsa.PublicKey{srv.PublicKey()}},
		APIID:          mttest.APIID,
		APIHash:        mttest.APIHash,
		ConnectTimeout: mttest.ConnectTimeout(),
	}
}
