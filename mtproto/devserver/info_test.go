package devserver

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInfoJSON: the JSON of Info (dev-server --json and --info-file, read
// by tests and bench scripts) keeps its names and order; the optional
// parts are left out when empty.
func TestInfoJSON(t *testing.T) {
	t.Parallel()
	full := Info{Addr: "127.0.0.1:1", PublicKey: "/s/server.pub", DC: 2, State: "/s", BotToken: "1:x", Bots: []string{"2:y"},
		Seeds: "/s/seeds", Phone: "+99900001", Code: "12345", DCs: map[string]string{"2": "127.0.0.1:1", "4": "127.0.0.1:2"}}
	b, err := json.Marshal(full)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"addr":"127.0.0.1:1","public_key":"/s/server.pub","dc":2,"state":"/s","bot_token":"1:x","bots":["2:y"],"seeds":"/s/seeds","phone":"+99900001","code":"12345","dcs":{"2":"127.0.0.1:1","4":"127.0.0.1:2"}}`
	if string(b) != want {
		t.Errorf("Info JSON\n got %s\nwant %s", b, want)
	}
	b, _ = json.Marshal(Info{Addr: "a", DC: 2})
	if want := `{"addr":"a","public_key":"","dc":2,"state":"","bot_token":"","phone":"","code":""}`; string(b) != want {
		t.Errorf("Info JSON without the optional parts\n got %s\nwant %s", b, want)
	}
}

// TestSetup: the demo accounts, more bots, seeds and the other DCs'
// addresses, all in the Info.
func TestSetup(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir, OtherDCs: []int{4}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	info, err := s.Setup(2, 3)
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := s.Demo()
	if info.Addr != s.Addr() || info.State != dir || info.PublicKey != s.PublicKeyPath() || info.BotToken != tok ||
		len(info.Bots) != 2 || info.Phone != "+"+DemoPhone || info.Code != DefaultLoginCode || len(info.DCs) != 2 || info.DCs["2"] != s.Addr() {
		t.Errorf("info %+v", info)
	}
	if files, _ := filepath.Glob(filepath.Join(info.Seeds, "seed*.session")); len(files) != 3 {
		t.Errorf("seeds %v, want 3", files)
	}
}

// TestOpenKept: a server keeps the address it got and listens there again
// on the next start; a second server on the same state while the first
// listens is a *KeptAddrError naming the file; an address asked for wins.
func TestOpenKept(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s1, err := OpenKept(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	addr := s1.Addr()
	_, err = OpenKept(Options{Dir: dir})
	var ke *KeptAddrError
	if !errors.As(err, &ke) || ke.Addr != addr || !strings.Contains(err.Error(), listenAddrFile) {
		t.Errorf("a second server: %v, want a KeptAddrError for %s", err, addr)
	}
	s1.Close()
	s2, err := OpenKept(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if s2.Addr() != addr {
		t.Errorf("restarted on %s, want the kept %s", s2.Addr(), addr)
	}
	s2.Close()
	s3, err := OpenKept(Options{Dir: dir, Addr: DefaultAddr})
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if b, _ := os.ReadFile(filepath.Join(dir, listenAddrFile)); strings.TrimSpace(string(b)) != s3.Addr() {
		t.Errorf("kept %q, want the new %s", b, s3.Addr())
	}
}

// TestCheckDCs: DC ids are positive and given once, the home DC too; Open
// refuses what CheckDCs refuses.
func TestCheckDCs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		others []int
		ok     bool
		bad    int // the DC a refusal names
	}{{nil, true, 0}, {[]int{1, 4}, true, 0}, {[]int{4, 4}, false, 4}, {[]int{HomeDC}, false, HomeDC}, {[]int{0}, false, 0}, {[]int{-1}, false, -1}} {
		err := CheckDCs(HomeDC, tc.others)
		if tc.ok {
			if err != nil {
				t.Errorf("CheckDCs(%v) = %v", tc.others, err)
			}
			continue
		}
		var de *DCError
		if !errors.As(err, &de) || de.DC != tc.bad {
			t.Errorf("CheckDCs(%v) = %v, want a DCError for %d", tc.others, err, tc.bad)
		}
		if _, err := Open(Options{Dir: t.TempDir(), OtherDCs: tc.others}); !errors.As(err, &de) {
			t.Errorf("Open with OtherDCs %v: %v, want a DCError", tc.others, err)
		}
	}
}
