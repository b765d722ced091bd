package relay

import (
	"encoding/binary"
	"testing"

	tdbin "github.com/gotd/td/bin"
	tdtg "github.com/gotd/td/tg"

	"github.com/tgvault/tgvault/mtproto/tljson"
	"github.com/tgvault/tgvault/mtproto/tlschema"
)

func schema(t testing.TB) *tlschema.Schema {
	t.Helper()
	s, err := tlschema.All()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func enc(t testing.TB, e tdbin.Encoder) []byte {
	t.Helper()
	var b tdbin.Buffer
	if err := e.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Buf
}

// TestPolicyCheck: the run's refused list, --read-only, --allow and the
// service-message filter decide by the method's constructor id and the
// query's peers; an unknown method is refused.
func TestPolicyCheck(t *testing.T) {
	t.Parallel()
	s := schema(t)
	run, err := tljson.NewMethodPolicy(nil, []string{"messages.deleteHistory"})
	if err != nil {
		t.Fatal(err)
	}
	self := &tdtg.InputPeerSelf{}
	service := &tdtg.InputPeerUser{UserID: ServiceUserID, AccessHash: 1}
	other := &tdtg.InputPeerUser{UserID: 42, AccessHash: 2}
	getHistory := func(p tdtg.InputPeerClass) []byte {
		return enc(t, &tdtg.MessagesGetHistoryRequest{Peer: p, Limit: 10})
	}
	send := enc(t, &tdtg.MessagesSendMessageRequest{Peer: other, Message: "hi", RandomID: 1})
	unknown := binary.LittleEndian.AppendUint32(nil, 0xdeadbeef)
	for _, tc := range []struct {
		name    string
		p       Policy
		query   []byte
		refused bool
	}{
		{"get history", Policy{}, getHistory(self), false},
		{"service history", Policy{}, getHistory(service), true},
		{"service history allowed", Policy{ServiceMessages: true}, getHistory(service), false},
		{"service user by id", Policy{}, enc(t, &tdtg.UsersGetFullUserRequest{ID: &tdtg.InputUser{UserID: ServiceUserID}}), true},
		{"log out", Policy{}, enc(t, &tdtg.AuthLogOutRequest{}), true},
		{"export authorization", Policy{}, enc(t, &tdtg.AuthExportAuthorizationRequest{DCID: 4}), true},
		{"wrapper", Policy{}, enc(t, &tdtg.InvokeAfterMsgRequest{MsgID: 1, Query: &tdtg.HelpGetConfigRequest{}}), true},
		{"denied by run", Policy{}, enc(t, &tdtg.MessagesDeleteHistoryRequest{Peer: other}), true},
		{"send", Policy{}, send, false},
		{"send read-only", Policy{ReadOnly: true}, send, true},
		{"read read-only", Policy{ReadOnly: true}, getHistory(other), false},
		{"button read-only", Policy{ReadOnly: true}, enc(t, &tdtg.MessagesGetBotCallbackAnswerRequest{Peer: other, MsgID: 1}), true},
		{"config read-only", Policy{ReadOnly: true}, enc(t, &tdtg.HelpGetConfigRequest{}), false},
		{"allowed", Policy{Allow: []string{"messages.getHistory"}}, getHistory(other), false},
		{"not allowed", Policy{Allow: []string{"messages.getHistory"}}, send, true},
		{"connect method", Policy{Allow: []string{"messages.getHistory"}}, enc(t, &tdtg.UpdatesGetStateRequest{}), false},
		{"unknown method", Policy{ServiceMessages: true}, unknown, true},
		{"truncated query", Policy{}, getHistory(other)[:10], true},
		{"a constructor, not a method", Policy{}, enc(t, &tdtg.InputPeerSelf{}), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, r := policyCheck(s, run, tc.p, tc.query)
			if (r != nil) != tc.refused {
				t.Fatalf("refusal %+v, want refused=%v", r, tc.refused)
			}
		})
	}
}

func TestIsReadOnlyMethod(t *testing.T) {
	t.Parallel()
	for name, want := range map[string]bool{
		"messages.getHistory": true, "contacts.resolveUsername": true, "messages.search": true,
		"messages.searchGlobal": true, "upload.getFile": true, "account.checkUsername": true,
		"messages.sendMessage": false, "messages.readHistory": false, "channels.joinChannel": false,
		"account.updateProfile": false, "messages.getBotCallbackAnswer": false, "contacts.getLocated": false,
		"messages.getter": false, "help.getConfig": true, "get": false,
	} {
		if got := IsReadOnlyMethod(name); got != want {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
}

func TestPolicyCheckNames(t *testing.T) {
	t.Parallel()
	if err := (Policy{Allow: []string{"messages.getHistory"}}).Check(); err != nil {
		t.Fatal(err)
	}
	if err := (Policy{Allow: []string{"messages.getHistoryy"}}).Check(); err == nil {
		t.Fatal("an unknown method was accepted")
	}
}
