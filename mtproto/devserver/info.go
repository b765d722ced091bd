package devserver

import (
	"context"
	"fmt"
	"strconv"
)

// Info is what a dev server offers a user or a script: where it listens,
// its public key, the demo accounts and the seeds. `tgvault dev-server`
// prints it (one JSON line with --json) and writes it to --info-file,
// which tests and bench scripts read: the JSON names and their order are
// a format.
type Info struct {
	Addr      string   `json:"addr"`
	PublicKey string   `json:"public_key"` // the path of the RSA public key (PEM)
	DC        int      `json:"dc"`
	State     string   `json:"state"` // the state directory
	BotToken  string   `json:"bot_token"`
	Bots      []string `json:"bots,omitempty"`  // the more bots' tokens (Setup's bots)
	Seeds     string   `json:"seeds,omitempty"` // the directory of the seeded accounts' .session files
	Phone     string   `json:"phone"`           // the demo user's, with its +
	Code      string   `json:"code"`            // its login code
	// DCs are the addresses of every DC the server is, by DC id (the
	// home DC's is Addr), when it is more than one.
	DCs map[string]string `json:"dcs,omitempty"`
}

// Setup makes the demo accounts (Demo), bots more bots and accounts
// seeded accounts (WriteSeeds), and says where it all is.
func (s *Server) Setup(bots, accounts int) (Info, error) {
	info := Info{Addr: s.Addr(), PublicKey: s.PublicKeyPath(), DC: s.DC(), State: s.dir,
		Phone: "+" + DemoPhone, Code: DefaultLoginCode}
	if dcs := s.DCs(); len(dcs) > 1 {
		info.DCs = map[string]string{}
		for _, dc := range dcs {
			info.DCs[strconv.Itoa(dc)], _ = s.DCAddr(dc)
		}
	}
	var err error
	if info.BotToken, err = s.Demo(); err != nil {
		return info, err
	}
	for i := range bots {
		_, tok, err := s.AddBot(fmt.Sprintf("bot%d", i+1))
		if err != nil {
			return info, err
		}
		info.Bots = append(info.Bots, tok)
	}
	if accounts > 0 {
		if info.Seeds, err = s.WriteSeeds(accounts); err != nil {
			return info, err
		}
	}
	return info, nil
}

// StartDemo opens a server on the state directory dir (DefaultAddr, a
// free port) with its demo accounts (Demo), and serves it in the
// background until stop, which waits for it to end and closes it.
func StartDemo(dir string) (srv *Server, stop func(), err error) {
	srv, err = Open(Options{Dir: dir, Addr: DefaultAddr})
	if err != nil {
		return nil, nil, err
	}
	if _, err := srv.Demo(); err != nil {
		srv.Close()
		return nil, nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ctx)
	}()
	return srv, func() {
		cancel()
		<-done
		srv.Close()
	}, nil
}
