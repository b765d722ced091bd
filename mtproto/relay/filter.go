package relay

import (
	"encoding/binary"
	"slices"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// isServiceObject reports whether n carries the service account's
// words: a message in its chat, from it, or forwarded from it (a login
// code sent on); the dialog of its chat; an updateShortMessage from it;
// a service notification (clients show it as a message from 777000).
func isServiceObject(buf []byte, n *tlschema.Node) bool {
	switch n.C.Result.Name {
	case "Message":
		if isServicePeer(buf, n.Field("peer_id")) || isServicePeer(buf, n.Field("from_id")) {
			return true
		}
		if fwd := n.Field("fwd_from"); fwd != nil && fwd.Node != nil {
			return isServicePeer(buf, fwd.Node.Field("from_id")) || isServicePeer(buf, fwd.Node.Field("saved_from_peer"))
		}
		return false
	case "Dialog":
		return isServicePeer(buf, n.Field("peer"))
	}
	switch n.C.Name {
	case "updateShortMessage":
		id, ok := n.Long(buf, "user_id")
		return ok && id == ServiceUserID
	case "updateShortChatMessage":
		id, ok := n.Long(buf, "from_id")
		return ok && id == ServiceUserID
	case "updateServiceNotification":
		return true
	}
	return false
}

// isServicePeer reports whether v is peerUser{user_id: 777000}.
func isServicePeer(buf []byte, v *tlschema.Value) bool {
	if v == nil || v.Node == nil || v.Node.C.Name != "peerUser" {
		return false
	}
	id, ok := v.Node.Long(buf, "user_id")
	return ok && id == ServiceUserID
}

// cut is one element to leave out of a vector.
type cut struct {
	vec  *tlschema.Value
	elem int
}

// withholdService returns buf without the service account's objects: each
// goes with the innermost vector element that holds it (a message out of
// a list of messages, an update out of a list of updates), and the
// vector's count drops to match; every other byte stays as it was.
// whole is true when such an object is not inside any vector (an
// updateShort with a service message, an updateShortMessage from 777000):
// then nothing of buf may pass. changed is false when there was nothing
// to withhold (out is buf then).
func withholdService(buf []byte, root *tlschema.Node) (out []byte, changed, whole bool) {
	return withholdValue(buf, &tlschema.Value{Start: root.Start, End: root.End, Node: root})
}

// withholdValue is withholdService for a value of any type (a method's
// result may be a vector: users.getUsers' Vector<User>).
func withholdValue(buf []byte, root *tlschema.Value) (out []byte, changed, whole bool) {
	var cuts []cut
	var stack []cut // enclosing vector elements, innermost last
	var visit func(n *tlschema.Node)
	var visitValue func(v *tlschema.Value)
	visit = func(n *tlschema.Node) {
		if isServiceObject(buf, n) {
			if len(stack) == 0 {
				whole = true
			} else {
				cuts = append(cuts, stack[len(stack)-1])
			}
			return
		}
		for i := range n.Fields {
			visitValue(&n.Fields[i])
		}
	}
	visitValue = func(v *tlschema.Value) {
		if v.Start < 0 {
			return
		}
		if v.Node != nil {
			visit(v.Node)
		}
		for i := range v.Elems {
			stack = append(stack, cut{vec: v, elem: i})
			visitValue(&v.Elems[i])
			stack = stack[:len(stack)-1]
		}
	}
	visitValue(root)
	if whole {
		return nil, true, true
	}
	if len(cuts) == 0 {
		return buf, false, false
	}
	return splice(buf, cuts), true, false
}

// splice copies buf without the cut vector elements, lowering each
// vector's count by its cuts. A cut inside another cut's element goes
// with it.
func splice(buf []byte, cuts []cut) []byte {
	type span struct{ start, end int }
	var spans []span
	counts := map[int]int{} // offset of a vector's count → elements cut
	slices.SortFunc(cuts, func(a, b cut) int { return a.vec.Elems[a.elem].Start - b.vec.Elems[b.elem].Start })
	last := -1
	for _, c := range cuts {
		e := c.vec.Elems[c.elem]
		if e.Start < last {
			continue // inside an element already cut
		}
		spans = append(spans, span{e.Start, e.End})
		counts[c.vec.CountAt]++
		last = e.End
	}
	out := make([]byte, 0, len(buf))
	pos := 0
	for _, s := range spans {
		out = append(out, buf[pos:s.start]...)
		pos = s.end
	}
	out = append(out, buf[pos:]...)
	// Patch the counts: each count sits before its vector's elements, so
	// its offset moves only by the spans cut before it.
	for at, n := range counts {
		shift := 0
		for _, s := range spans {
			if s.end <= at {
				shift += s.end - s.start
			}
		}
		p := at - shift
		binary.LittleEndian.PutUint32(out[p:], binary.LittleEndian.Uint32(out[p:])-uint32(n))
	}
	return out
}
