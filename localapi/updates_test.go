package localapi

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto"
)

// sseStream reads server-sent events.
type sseStream struct {
	t    *testing.T
	resp *http.Response
	r    *bufio.Reader
}

func openStream(t *testing.T, url string) *sseStream {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = resp.Body.Close() })
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("stream: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	s := &sseStream{t: t, resp: resp, r: bufio.NewReader(resp.Body)}
	// The first comment says the subscription is in place.
	if line, err := s.r.ReadString('\n'); err != nil || line != ": subscribed\n" {
		t.Fatalf("stream start: %q %v", line, err)
	}
	return s
}

// next returns the next event's name and data, skipping comments.
func (s *sseStream) next() (event, data string) {
	s.t.Helper()
	for {
		line, err := s.r.ReadString('\n')
		if err != nil {
			s.t.Fatalf("stream: %v (event %q so far)", err, event)
		}
		line = strings.TrimSuffix(line, "\n")
		switch {
		case line == "" && event != "":
			return event, data
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			data = strings.TrimPrefix(line, "data: ")
		}
	}
}

func TestUpdatesStream(t *testing.T) {
	t.Parallel()
	p := startAPIPool(t, 1, 1, mtproto.PoolOptions{KeepAlive: 50 * time.Millisecond})
	p.waitSettled(t)
	if code, _ := p.get(t, "/v1/accounts/nobody/updates"); code != http.StatusNotFound {
		t.Errorf("unknown account: %d, want 404", code)
	}
	if code, _ := p.get(t, "/v1/accounts/a1/updates"); code != http.StatusConflict {
		t.Errorf("revoked account: %d, want 409", code)
	}
	s1 := openStream(t, p.url+"/v1/accounts/a0/updates")
	s2 := openStream(t, p.url+"/v1/accounts/a0/updates")

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	push := func(u tdtg.UpdatesClass) {
		t.Helper()
		if n, err := p.srv.PushUpdates(ctx, p.seeds[0].UserID, u); err != nil || n < 1 {
			t.Fatalf("push: %d connections, %v", n, err)
		}
	}
	push(&tdtg.UpdateShort{
		Update: &tdtg.UpdateUserStatus{UserID: 4242, Status: &tdtg.UserStatusOnline{Expires: 77}},
		Date:   int(time.Now().Unix()),
	})
	for i, s := range []*sseStream{s1, s2} {
		ev, data := s.next()
		var got struct {
			Name   string `json:"_"`
			UserID string `json:"user_id"`
		}
		if ev != "update" || json.Unmarshal([]byte(data), &got) != nil ||
			got.Name != "updateUserStatus" || got.UserID != "4242" {
			t.Errorf("subscriber %d: event %q data %s", i, ev, data)
		}
	}

	// A container is split into its updates, and its users reach the
	// peer cache.
	push(&tdtg.Updates{
		Updates: []tdtg.UpdateClass{
			&tdtg.UpdateUserName{UserID: 5555, Usernames: []tdtg.Username{{Username: "pushed", Active: true}}},
			&tdtg.UpdateUserStatus{UserID: 5555, Status: &tdtg.UserStatusOffline{WasOnline: 1}},
		},
		Users: []tdtg.UserClass{&tdtg.User{ID: 5555, AccessHash: 99, Username: "pushed", FirstName: "P"}},
		Date:  int(time.Now().Unix()),
	})
	for _, s := range []*sseStream{s1, s2} {
		for _, want := range []string{`"_":"updateUserName"`, `"_":"updateUserStatus"`} {
			if ev, data := s.next(); ev != "update" || !strings.Contains(data, want) {
				t.Errorf("event %q data %s, want %s", ev, data, want)
			}
		}
	}
	if peer, err := p.stores[0].PeerByUsername("pushed"); err != nil || peer.ID != 5555 || peer.AccessHash != 99 {
		t.Errorf("peer from the update: %+v %v", peer, err)
	}

	// Shutdown ends the streams with a final event.
	p.pool.CloseStreams()
	if ev, data := s2.next(); ev != "dropped" || data != `{"reason":"shutdown"}` {
		t.Errorf("on shutdown: event %q data %s", ev, data)
	}

	// An account that goes final (its keep-alive finds the key revoked)
	// ends its streams.
	s3 := openStream(t, p.url+"/v1/accounts/a0/updates")
	if err := p.srv.RevokeKey(p.seeds[0].Key.ID()); err != nil {
		t.Fatal(err)
	}
	if ev, data := s3.next(); ev != "dropped" || data != `{"reason":"unauthorized"}` {
		t.Errorf("on revocation: event %q data %s", ev, data)
	}
}
