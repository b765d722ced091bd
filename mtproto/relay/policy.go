package relay

import (
	"encoding/binary"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// ServiceUserID is Telegram's service account, which sends the login
// codes and service notifications.
const ServiceUserID = 777000

// RefusedError is the rpc_error a refused call gets: code 403, which
// every client library raises as an exception.
const (
	RefusedCode    = 403
	RefusedMessage = "TGVAULT_METHOD_REFUSED"
)

// Refuser is the run's refused-method policy (tljson.MethodPolicy): the
// local API's list, as the operator adjusted it with run --allow and
// --deny. The relay is another way in, so the same list applies.
type Refuser interface {
	Refused(method string) (reason string, refused bool)
}

// Policy is what one relay session may do beyond the run's refused list.
// The zero Policy allows every method the run allows, and withholds the
// service account's messages.
type Policy struct {
	// ReadOnly refuses every method that sends, edits, deletes, joins or
	// changes settings: only reading methods pass (IsReadOnlyMethod).
	ReadOnly bool
	// Allow, when not empty, limits the session to these methods (and the
	// ones a client calls by itself to connect, ConnectMethods).
	Allow []string
	// ServiceMessages lets the service account's messages (login codes)
	// through; by default they are withheld from results and updates,
	// and a query that names the service account is refused.
	ServiceMessages bool
	// CallRate, when not zero, caps each of the session's connections at
	// this many calls a second instead of the relay's Config.CallRate
	// (negative: no cap).
	CallRate float64
}

// ErrBadPolicy reports a Policy that names a method no schema has.
var ErrBadPolicy = errors.New("relay: bad policy")

// Check reports a policy that allows a method no embedded layer has.
func (p Policy) Check() error {
	s, err := tlschema.All()
	if err != nil {
		return err
	}
	for _, m := range p.Allow {
		if !s.IsMethod(m) {
			return fmt.Errorf("%w: --allow %s: no such method in layers %v", ErrBadPolicy, m, s.Layers)
		}
	}
	return nil
}

// String describes the policy for status and logs.
func (p Policy) String() string {
	var parts []string
	if p.ReadOnly {
		parts = append(parts, "read-only")
	}
	if len(p.Allow) > 0 {
		parts = append(parts, "allow "+strings.Join(p.Allow, ","))
	}
	if p.ServiceMessages {
		parts = append(parts, "service messages")
	}
	switch {
	case p.CallRate > 0:
		parts = append(parts, strconv.FormatFloat(p.CallRate, 'g', -1, 64)+" calls/s")
	case p.CallRate < 0:
		parts = append(parts, "no call-rate cap")
	}
	if len(parts) == 0 {
		return "default"
	}
	return strings.Join(parts, "; ")
}

// ConnectMethods are the methods a client library calls by itself to
// connect; a session limited with Allow may call them too.
var ConnectMethods = []string{"help.getConfig", "help.getNearestDc", "updates.getState"}

// readOnlyPrefixes are the verbs of methods that only read: the part of
// a method's name after its namespace starts with one of them.
var readOnlyPrefixes = []string{"get", "search", "resolve", "check"}

// notReadOnly are the methods whose names read but that act: a button
// press, a query the bot sees, a view counted, a location published, a
// password made.
var notReadOnly = []string{
	"messages.getBotCallbackAnswer",
	"messages.getInlineBotResults",
	"messages.getMessagesViews",
	"contacts.getLocated",
	"account.getTmpPassword",
}

// IsReadOnlyMethod reports whether a read-only session may call the
// method: its verb reads (get…, search…, resolve…, check…) and it is not
// one of the few such methods that act. The rule is by name, so it holds
// in every layer; a method it does not know is not read-only.
func IsReadOnlyMethod(name string) bool {
	_, verb, ok := strings.Cut(name, ".")
	if !ok {
		return false // wrappers (invokeWithLayer, …) and MTProto's own
	}
	if slices.Contains(notReadOnly, name) {
		return false
	}
	for _, p := range readOnlyPrefixes {
		// The verb alone (messages.search) or before a capital
		// (getHistory), not a longer word (getter).
		if rest, ok := strings.CutPrefix(verb, p); ok && (rest == "" || rest[0] >= 'A' && rest[0] <= 'Z') {
			return true
		}
	}
	return false
}

// Refusal is why a call was refused (for logs and metrics; the client
// sees only RefusedMessage).
type Refusal struct {
	Method string // the method's name, or its constructor id in hex when unknown
	Reason string
}

// policyCheck decides whether a query may pass: its method is known (by
// constructor id in the union of the embedded layers: an unknown one is
// refused, fail closed), not refused by the run, allowed by the session's
// policy, and — unless the session lets service messages through — it
// names no peer of the service account (decoding the whole query; one
// that does not decode is refused). The returned combinator is the
// method.
func policyCheck(s *tlschema.Schema, run Refuser, p Policy, query []byte) (*tlschema.Combinator, *Refusal) {
	if len(query) < 4 {
		return nil, &Refusal{Method: "(empty)", Reason: "no method"}
	}
	id := binary.LittleEndian.Uint32(query)
	m := s.ByID(id)
	if m == nil || !m.Method {
		return nil, &Refusal{Method: fmt.Sprintf("#%08x", id), Reason: "a method no known layer has (fail closed)"}
	}
	if run != nil {
		if reason, refused := run.Refused(m.Name); refused {
			return m, &Refusal{Method: m.Name, Reason: reason}
		}
	}
	if len(p.Allow) > 0 && !slices.Contains(p.Allow, m.Name) && !slices.Contains(ConnectMethods, m.Name) {
		return m, &Refusal{Method: m.Name, Reason: "not in the session's --allow list"}
	}
	if p.ReadOnly && !IsReadOnlyMethod(m.Name) && !slices.Contains(ConnectMethods, m.Name) {
		return m, &Refusal{Method: m.Name, Reason: "the session is read-only"}
	}
	if !p.ServiceMessages {
		n, err := s.DecodeObject(query)
		if err != nil {
			return m, &Refusal{Method: m.Name, Reason: "the query does not decode, and the service-message filter must read it (fail closed)"}
		}
		if namesServiceUser(query, n) {
			return m, &Refusal{Method: m.Name, Reason: "it names the service account 777000 (--allow-service-messages)"}
		}
	}
	return m, nil
}

// namesServiceUser reports whether an object of the query (an
// InputPeer, an InputUser, …) has user_id 777000.
func namesServiceUser(buf []byte, n *tlschema.Node) bool {
	found := false
	walk(n, func(n *tlschema.Node) bool {
		if id, ok := n.Long(buf, "user_id"); ok && id == ServiceUserID {
			found = true
		}
		return !found
	})
	return found
}

// walk calls f on n and every object inside it, depth first, until f
// returns false.
func walk(n *tlschema.Node, f func(*tlschema.Node) bool) bool {
	if !f(n) {
		return false
	}
	for i := range n.Fields {
		if !walkValue(&n.Fields[i], f) {
			return false
		}
	}
	return true
}

func walkValue(v *tlschema.Value, f func(*tlschema.Node) bool) bool {
	if v.Start < 0 {
		return true
	}
	if v.Node != nil && !walk(v.Node, f) {
		return false
	}
	for i := range v.Elems {
		if !walkValue(&v.Elems[i], f) {
			return false
		}
	}
	return true
}
