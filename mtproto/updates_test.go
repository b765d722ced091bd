package mtproto

import (
	"encoding/json"
	"strings"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"
)

func TestUpdateHubDropsSlowSubscriber(t *testing.T) {
	t.Parallel()
	h := newUpdateHub()
	slow, fast := h.subscribe(2), h.subscribe(8)
	for _, u := range []string{"1", "2", "3"} {
		h.publish([]byte(u))
		<-fast.ch
	}
	select {
	case <-slow.dropped:
	default:
		t.Fatal("a subscriber 3 updates behind with a buffer of 2 was not dropped")
	}
	if slow.reason != dropSlow || len(slow.ch) != 2 {
		t.Errorf("dropped with reason %q and %d buffered, want %q and 2", slow.reason, len(slow.ch), dropSlow)
	}
	select {
	case <-fast.dropped:
		t.Fatal("a subscriber that keeps up was dropped")
	default:
	}
	h.publish([]byte("4")) // the dropped one is gone: no panic, no block
	if len(slow.ch) != 2 || len(fast.ch) != 1 {
		t.Errorf("after the drop: slow %d, fast %d buffered", len(slow.ch), len(fast.ch))
	}
}

func TestUpdateJSON(t *testing.T) {
	t.Parallel()
	tests := []struct {
		obj  tdbin.Object
		name string
		has  string
	}{
		{&tdtg.UpdateUserStatus{UserID: 1, Status: &tdtg.UserStatusRecently{}}, "updateUserStatus", `"user_id":"1"`},
		{&tdtg.UpdatesTooLong{}, "updatesTooLong", ``},
		{&tdtg.UpdateNewMessage{Message: &tdtg.Message{ID: 7, Message: "hi"}, Pts: 3}, "updateNewMessage", `"message":"hi"`},
	}
	for _, tt := range tests {
		b, err := updateJSON(tt.obj)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		var head struct {
			Name string `json:"_"`
		}
		if err := json.Unmarshal(b, &head); err != nil || head.Name != tt.name || !strings.Contains(strings.ReplaceAll(string(b), " ", ""), tt.has) {
			t.Errorf("%s: %s (%v)", tt.name, b, err)
		}
	}
}
