package relay

import (
	"encoding/binary"
	"fmt"

	"github.com/tgvault/tgvault/mtproto/tlschema"
)

// dcOptionID is dcOption's constructor id: dcOption#18b7a10d flags:#
// ipv6:flags.0?true media_only:flags.1?true tcpo_only:flags.2?true
// cdn:flags.3?true static:flags.4?true this_port_only:flags.5?true id:int
// ip_address:string port:int secret:flags.10?bytes, the same in every
// embedded layer.
const dcOptionID uint32 = 0x18b7a10d

// dcOption flag bits.
const (
	dcIPv6      = 1 << 0
	dcMediaOnly = 1 << 1
	dcTCPOOnly  = 1 << 2
	dcCDN       = 1 << 3
)

// realOption is one DC address of the server, from its help.getConfig.
type realOption struct {
	DC    int
	Media bool
	Host  string
	Port  int
}

// relayAddr says where the relay answers as a DC (ok false: it does not).
type relayAddr func(dc int) (host string, port int, ok bool)

// rewriteConfig returns the bytes of a Config (help.getConfig's result)
// with its dc_options replaced: every DC it lists (IPv4, not a CDN, not
// an MTProxy-only option) points at the relay's address for that DC, and
// the relay's own options come out of it too (the real addresses, for
// the relay's upstream connections). Every other byte stays.
func rewriteConfig(buf []byte, cfg *tlschema.Node, addr relayAddr) ([]byte, []realOption, error) {
	if cfg.C.Result.Name != "Config" {
		return nil, nil, fmt.Errorf("relay: help.getConfig answered %s", cfg.C.Name)
	}
	opts := cfg.Field("dc_options")
	if opts == nil || opts.Type.Kind != tlschema.Vector {
		return nil, nil, fmt.Errorf("relay: %s has no dc_options", cfg.C.Name)
	}
	var real []realOption
	var out []byte
	out = append(out, buf[:opts.Start]...)
	out = binary.LittleEndian.AppendUint32(out, tlschema.VectorID)
	countAt := len(out)
	out = binary.LittleEndian.AppendUint32(out, 0)
	type key struct {
		dc    int
		media bool
	}
	seen := map[key]bool{}
	n := 0
	for _, e := range opts.Elems {
		o := e.Node
		if o.C.ID != dcOptionID {
			return nil, nil, fmt.Errorf("relay: dc_options holds %s", o.C.Name)
		}
		flags := binary.LittleEndian.Uint32(buf[o.Field("flags").Start:])
		id, _ := o.Int(buf, "id")
		port, _ := o.Int(buf, "port")
		host := tlString(buf, o.Field("ip_address"))
		if flags&(dcIPv6|dcCDN|dcTCPOOnly) != 0 {
			continue
		}
		media := flags&dcMediaOnly != 0
		real = append(real, realOption{DC: int(id), Media: media, Host: host, Port: int(port)})
		k := key{int(id), media}
		if seen[k] {
			continue
		}
		seen[k] = true
		rh, rp, ok := addr(int(id))
		if !ok {
			continue
		}
		out = binary.LittleEndian.AppendUint32(out, dcOptionID)
		var f uint32
		if media {
			f |= dcMediaOnly
		}
		out = binary.LittleEndian.AppendUint32(out, f)
		out = binary.LittleEndian.AppendUint32(out, uint32(id))
		out = appendTLString(out, rh)
		out = binary.LittleEndian.AppendUint32(out, uint32(rp))
		n++
	}
	binary.LittleEndian.PutUint32(out[countAt:], uint32(n))
	out = append(out, buf[opts.End:]...)
	return out, real, nil
}

// tlString reads the TL string at v.
func tlString(buf []byte, v *tlschema.Value) string {
	if v == nil || v.Start < 0 {
		return ""
	}
	b := buf[v.Start:v.End]
	if b[0] == 254 {
		n := int(b[1]) | int(b[2])<<8 | int(b[3])<<16
		return string(b[4 : 4+n])
	}
	return string(b[1 : 1+int(b[0])])
}

// appendTLString appends s as a TL string.
func appendTLString(out []byte, s string) []byte {
	n := len(s)
	start := len(out)
	if n < 254 {
		out = append(out, byte(n))
	} else {
		out = append(out, 254, byte(n), byte(n>>8), byte(n>>16))
	}
	out = append(out, s...)
	for (len(out)-start)%4 != 0 {
		out = append(out, 0)
	}
	return out
}
