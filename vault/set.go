package vault

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/storage"
)

// SetFields are the session fields that `tgvault set` fills in for
// offline use: the ones a source format may lack. An unknown Opt leaves
// the field as it is.
type SetFields struct {
	APIID    sessionstring.Opt[int32]
	UserID   sessionstring.Opt[int64]
	IsBot    sessionstring.Opt[bool]
	TestMode sessionstring.Opt[bool]
	// Host and Port are the DC address that exports to Telethon, GramJS
	// and mtcute write (the server `run` connects to is not changed: it
	// is the account's login server, or Telegram's DC for its dc_id and
	// test mode). Both or neither.
	Host sessionstring.Opt[string]
	Port sessionstring.Opt[int]
}

// FieldChange is one field Set changed. Old is null for a field the
// account did not know.
type FieldChange struct {
	Field string  `json:"field"`
	Old   *string `json:"old"`
	New   string  `json:"new"`
}

func optText[T any](o sessionstring.Opt[T]) *string {
	v, ok := o.Get()
	if !ok {
		return nil
	}
	s := fmt.Sprint(v)
	return &s
}

// change records field's new value in *cur, and the change in out.
func change[T comparable](out *[]FieldChange, field string, cur *sessionstring.Opt[T], set sessionstring.Opt[T]) {
	v, ok := set.Get()
	if !ok {
		return
	}
	if old, known := cur.Get(); known && old == v {
		return
	}
	*out = append(*out, FieldChange{Field: field, Old: optText(*cur), New: fmt.Sprint(v)})
	*cur = set
}

// checkSet refuses values no session has, and an address that Telegram's
// DC table gives to another DC or the other environment.
func checkSet(f SetFields, dc int, test sessionstring.Opt[bool]) error {
	if err := checkAPIID(f.APIID); err != nil {
		return err
	}
	if v, ok := f.UserID.Get(); ok && v <= 0 {
		return fmt.Errorf("%w: user_id must be positive", ErrBadInput)
	}
	if f.Host.Known() != f.Port.Known() {
		return fmt.Errorf("%w: the address needs a host and a port", ErrBadInput)
	}
	host, ok := f.Host.Get()
	if !ok {
		return nil
	}
	if p, _ := f.Port.Get(); p < 1 || p > 65535 {
		return fmt.Errorf("%w: the port must be 1 to 65535", ErrBadInput)
	}
	if !validHostName(host) {
		return fmt.Errorf("%w: the host must be an IP address or a host name", ErrBadInput)
	}
	if a, known := sessionstring.LookupDCAddress(host); known {
		if a.DC != dc {
			return fmt.Errorf("%w: %s is Telegram's DC %d, the account is on DC %d", ErrBadInput, host, a.DC, dc)
		}
		if t, ok := test.Get(); ok && t != a.Test {
			return fmt.Errorf("%w: %s is a %s address, the account's test mode is %v", ErrBadInput, host, envName(a.Test), t)
		}
	}
	return nil
}

// checkAPIID is the rule of an api_id given (Set, ImportOptions.APIID):
// positive, as Telegram issues them (ErrBadAPIID).
func checkAPIID(id sessionstring.Opt[int32]) error {
	if v, ok := id.Get(); ok && v <= 0 {
		return ErrBadAPIID
	}
	return nil
}

func envName(test bool) string {
	if test {
		return "test DC"
	}
	return "production DC"
}

// validHostName accepts an IP literal, or a host name of letters, digits,
// '.', '-' and '_' (1 to 253 bytes).
func validHostName(h string) bool {
	if a, err := netip.ParseAddr(h); err == nil {
		return a.Zone() == ""
	}
	if h == "" || len(h) > 253 {
		return false
	}
	for _, c := range h {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '-' || c == '_') {
			return false
		}
	}
	return true
}

// Set fills in session fields an account's source lacked (api_id, user_id,
// is_bot, test_mode, the DC address), for exports to formats that need
// them when `tgvault run` has not learned them from the server yet. It is
// refused while another process holds the account (a `tgvault run`
// serving it: its ownership lock). A field already known is
// changed too (the change names its old value); an account marked
// mismatch (the server said the key belongs to another user, bot flag or
// environment than the vault recorded) becomes active again when one of
// those fields is set. The account file is saved sealed, and the index
// updated, as any write does.
func (v *Vault) Set(name string, f SetFields) (Account, []FieldChange, error) {
	release, err := v.ClaimAccount(name)
	if err != nil {
		return Account{}, nil, heldAdvice(err)
	}
	defer release()
	t, err := v.begin()
	if err != nil {
		return Account{}, nil, err
	}
	defer t.end()
	a, err := t.account(name)
	if err != nil {
		return Account{}, nil, err
	}
	if a.Status == StatusHandedOff {
		return Account{}, nil, fmt.Errorf("%w: run `tgvault reclaim` first if it is no longer used elsewhere", ErrHandedOff)
	}
	file, err := v.openFile(t.sealer, false, a)
	if err != nil {
		return Account{}, nil, err
	}
	defer file.Close()
	row, err := file.Session()
	if err != nil {
		return Account{}, nil, err
	}
	test := row.TestMode
	if v, ok := f.TestMode.Get(); ok {
		test = sessionstring.Some(v)
	}
	if err := checkSet(f, row.DCID, test); err != nil {
		return Account{}, nil, err
	}
	var changes []FieldChange
	newRow := row
	change(&changes, "api_id", &newRow.APIID, f.APIID)
	change(&changes, "user_id", &newRow.UserID, f.UserID)
	change(&changes, "is_bot", &newRow.IsBot, f.IsBot)
	change(&changes, "test_mode", &newRow.TestMode, f.TestMode)
	identity := len(changes) > 0 && (f.UserID.Known() || f.IsBot.Known() || f.TestMode.Known())

	var meta sourceMeta
	raw, hasMeta, err := file.Meta(metaSource)
	if err != nil {
		return Account{}, nil, err
	}
	if hasMeta && json.Unmarshal(raw, &meta) != nil {
		return Account{}, nil, fmt.Errorf("%w: the account's source record is unreadable", ErrCorrupt)
	}
	before := len(changes)
	change(&changes, "host", &meta.Host, f.Host)
	change(&changes, "port", &meta.Port, f.Port)
	if len(changes) > before {
		b, err := json.Marshal(meta)
		if err != nil {
			return Account{}, nil, err
		}
		if err := file.SetMeta(metaSource, b); err != nil {
			return Account{}, nil, fmt.Errorf("vault: save the account: %w", err)
		}
	}
	if newRow != row {
		if err := file.SetSession(newRow); err != nil {
			return Account{}, nil, fmt.Errorf("vault: save the account: %w", err)
		}
	}
	if len(changes) == 0 {
		return *a, nil, nil
	}
	if identity {
		// The mark is in the file (state.go): clear it there.
		op, err := openedOf(file)
		if err != nil {
			return Account{}, nil, err
		}
		if cur, _ := effectiveState(a, op.state, op.hasState); cur == StatusMismatch {
			if err := setState(file, StatusActive, "", v.now()); err != nil {
				return Account{}, nil, fmt.Errorf("vault: save the account: %w", err)
			}
		}
	}
	if _, err := t.record(file); err != nil {
		return Account{}, nil, err
	}
	// record copies what is known; a field set here is known.
	a.APIID, a.UserID, a.IsBot, a.TestMode = newRow.APIID, newRow.UserID, newRow.IsBot, newRow.TestMode
	if identity && a.Status == StatusMismatch {
		a.Status, a.Reason = StatusActive, ""
	}
	a.Updated = v.now().UTC()
	if err := t.save(); err != nil {
		return Account{}, nil, err
	}
	return *a, changes, nil
}

// missingHint says how to fill in a field an export lacks.
func missingHint(field string) string {
	switch field {
	case "api_id":
		return "set it with `tgvault set NAME --api-id N`"
	case "user_id":
		return "run the account once (`tgvault run NAME`: the server says), or `tgvault set NAME --user-id N`"
	case "is_bot":
		return "run the account once (`tgvault run NAME`: the server says), or `tgvault set NAME --bot` / `--no-bot`"
	case "test_mode":
		return "run the account once (`tgvault run NAME`), or `tgvault set NAME --test-mode` / `--no-test-mode`"
	case "host", "port":
		return "set it with `tgvault set NAME --address HOST:PORT`"
	}
	return ""
}

// missingFieldError is an export's missing field, with the way to fill it
// in (tgvault set, or a run).
func missingFieldError(field string) error {
	msg := fmt.Sprintf("%v: %s", ErrMissingField, field)
	if h := missingHint(field); h != "" {
		msg += " (" + h + ", or choose another format)"
	}
	return &fieldError{msg: msg}
}

type fieldError struct{ msg string }

func (e *fieldError) Error() string { return e.msg }
func (e *fieldError) Unwrap() error { return ErrMissingField }

// missingField translates a missing-field error of a lower layer. A
// missing host of a session whose test mode is unknown is reported as the
// test mode: the DC address depends on it.
func missingField(s sessionstring.Session, err error) error {
	var se *sessionstring.MissingFieldError
	var fe *storage.MissingFieldError
	field := ""
	switch {
	case errors.As(err, &se):
		field = se.Field
	case errors.As(err, &fe):
		field = fe.Field
	default:
		return err
	}
	if (field == "host" || field == "port") && !s.TestMode.Known() {
		field = "test_mode"
	}
	return missingFieldError(field)
}
