package vault

import (
	"bufio"
	"encoding/json"
	"io"
	"strconv"
	"time"

	"github.com/tgvault/tgvault/sessionstring"
)

// WriteAccountsJSON writes accounts as a JSON array, one compact object per
// line, with the same fields and values encoding/json gives Account (the
// form of `tgvault list --json`).
//
// `list --json` over 10,000 accounts spent nine tenths of its time in
// encoding/json (reflection, indentation, and re-scanning what each Opt's
// MarshalJSON returns); this writes the bytes directly.
func WriteAccountsJSON(w io.Writer, accts []Account) error {
	bw := bufio.NewWriterSize(w, 64<<10)
	var buf []byte
	bw.WriteString("[")
	for i := range accts {
		buf = buf[:0]
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, '\n')
		buf = appendAccountJSON(buf, &accts[i])
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	if len(accts) > 0 {
		bw.WriteString("\n")
	}
	bw.WriteString("]\n")
	return bw.Flush()
}

func appendAccountJSON(b []byte, a *Account) []byte {
	b = append(b, `{"name":`...)
	b = appendJSONString(b, a.Name)
	b = append(b, `,"id":`...)
	b = appendJSONString(b, a.ID)
	b = append(b, `,"user_id":`...)
	b = appendJSONOptInt(b, a.UserID)
	b = append(b, `,"dc_id":`...)
	b = strconv.AppendInt(b, int64(a.DCID), 10)
	b = append(b, `,"is_bot":`...)
	b = appendJSONOptBool(b, a.IsBot)
	b = append(b, `,"test_mode":`...)
	b = appendJSONOptBool(b, a.TestMode)
	b = append(b, `,"api_id":`...)
	if v, ok := a.APIID.Get(); ok {
		b = strconv.AppendInt(b, int64(v), 10)
	} else {
		b = append(b, "null"...)
	}
	if a.KeyID != "" {
		b = append(b, `,"key_id":`...)
		b = appendJSONString(b, a.KeyID)
	}
	b = append(b, `,"status":`...)
	b = appendJSONString(b, string(a.Status))
	if a.Reason != "" {
		b = append(b, `,"reason":`...)
		b = appendJSONString(b, a.Reason)
	}
	b = append(b, `,"peers":`...)
	b = strconv.AppendInt(b, int64(a.Peers), 10)
	b = append(b, `,"revision":`...)
	b = strconv.AppendUint(b, a.Revision, 10)
	if a.Source != "" {
		b = append(b, `,"source":`...)
		b = appendJSONString(b, a.Source)
	}
	b = append(b, `,"created":`...)
	b = appendJSONTime(b, a.Created)
	b = append(b, `,"updated":`...)
	b = appendJSONTime(b, a.Updated)
	return append(b, '}')
}

func appendJSONOptInt(b []byte, o sessionstring.Opt[int64]) []byte {
	if v, ok := o.Get(); ok {
		return strconv.AppendInt(b, v, 10)
	}
	return append(b, "null"...)
}

func appendJSONOptBool(b []byte, o sessionstring.Opt[bool]) []byte {
	if v, ok := o.Get(); ok {
		return strconv.AppendBool(b, v)
	}
	return append(b, "null"...)
}

func appendJSONTime(b []byte, t time.Time) []byte {
	b = append(b, '"')
	b = t.AppendFormat(b, time.RFC3339Nano)
	return append(b, '"')
}

// appendJSONString quotes s as encoding/json does with HTML escaping off.
func appendJSONString(b []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c == '"' || c == '\\' || c >= 0x80 {
			// Rare: let encoding/json handle escapes and invalid UTF-8.
			q, _ := json.Marshal(s)
			return append(b, q...)
		}
	}
	b = append(b, '"')
	b = append(b, s...)
	return append(b, '"')
}
