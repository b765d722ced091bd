package tljson

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	tdtg "github.com/gotd/td/tg"
)

// refusal is why the local API refuses a method, and whether an operator
// may allow it (run --allow).
type refusal struct {
	reason string
	fixed  bool // never allowed: a wrapper or an MTProto service function
}

// refusedMethods are the methods the local API refuses, with the reason.
// Through the API a script uses an account without seeing its key; these
// would hand the login to someone else, replace it, change how the account
// logs in, or end sessions or the account behind the vault's back.
// `tgvault login` and `tgvault logout` do the login work. The list is a
// guard rail for scripts, not a security boundary (see SECURITY.md: code
// running as the user is not protected against). Besides these names,
// every auth.* method is refused (RefusedMethod). README.md lists them.
var refusedMethods = map[string]refusal{
	// Key binding, authorization export/import, login tokens: these move
	// or copy the login to another key.
	"auth.exportAuthorization": {reason: "exports the login for another auth key"},
	"auth.importAuthorization": {reason: "replaces the login of the auth key"},
	"auth.bindTempAuthKey":     {reason: "binds another auth key to this one"},
	"auth.dropTempAuthKeys":    {reason: "destroys temporary auth keys"},
	"auth.exportLoginToken":    {reason: "starts a QR login on this key"},
	"auth.importLoginToken":    {reason: "replaces the login of the auth key"},
	"auth.acceptLoginToken":    {reason: "logs another device in as this account"},
	"auth.logOut":              {reason: "ends the session (use `tgvault logout`)"},
	"auth.resetAuthorizations": {reason: "ends every other session of the account"},
	// Sessions and the account itself.
	"account.resetAuthorization":          {reason: "ends a session of the account"},
	"account.setAuthorizationTTL":         {reason: "makes the server end idle sessions"},
	"account.changeAuthorizationSettings": {reason: "confirms a new login of another device"},
	"account.deleteAccount":               {reason: "deletes the account and every session"},
	"account.setAccountTTL":               {reason: "sets when the server deletes the account for inactivity"},
	"bots.exportBotToken":                 {reason: "exports the bot's token (a login), and revoke ends its sessions"},
	// The ways the account logs in: its phone number, its login email, its
	// 2FA password and recovery email, passkeys, and logins to websites.
	"account.sendChangePhoneCode":     {reason: "starts changing the phone number the account logs in with"},
	"account.changePhone":             {reason: "changes the phone number the account logs in with"},
	"account.sendVerifyEmailCode":     {reason: "starts setting the email the account logs in with"},
	"account.verifyEmail":             {reason: "sets the email the account logs in with"},
	"account.updatePasswordSettings":  {reason: "changes the 2FA password or its recovery email"},
	"account.confirmPasswordEmail":    {reason: "sets the recovery email of the 2FA password"},
	"account.resetPassword":           {reason: "removes the 2FA password (after a waiting period)"},
	"account.initPasskeyRegistration": {reason: "adds a passkey, a new way to log in"},
	"account.registerPasskey":         {reason: "adds a passkey, a new way to log in"},
	"account.deletePasskey":           {reason: "removes a passkey the account logs in with"},
	"messages.acceptUrlAuth":          {reason: "logs a website in as the account"},
	"messages.checkUrlAuthMatchCode":  {reason: "is a step of logging a website in as the account"},
	// Wrappers carry another query, which would escape this list;
	// initConnection would also change the account's stable device
	// parameters.
	"invokeAfterMsg":                {reason: "wraps another query", fixed: true},
	"invokeAfterMsgs":               {reason: "wraps another query", fixed: true},
	"initConnection":                {reason: "wraps another query and changes the device parameters", fixed: true},
	"invokeWithLayer":               {reason: "wraps another query", fixed: true},
	"invokeWithoutUpdates":          {reason: "wraps another query", fixed: true},
	"invokeWithMessagesRange":       {reason: "wraps another query", fixed: true},
	"invokeWithTakeout":             {reason: "wraps another query", fixed: true},
	"invokeWithBusinessConnection":  {reason: "wraps another query", fixed: true},
	"invokeWithGooglePlayIntegrity": {reason: "wraps another query", fixed: true},
	"invokeWithApnsSecret":          {reason: "wraps another query", fixed: true},
	"invokeWithReCaptcha":           {reason: "wraps another query", fixed: true},
	// MTProto service functions (not in the API schema at all).
	"destroy_auth_key":      {reason: "destroys the auth key", fixed: true},
	"destroy_session":       {reason: "destroys a session", fixed: true},
	"req_pq":                {reason: "starts a key exchange", fixed: true},
	"req_pq_multi":          {reason: "starts a key exchange", fixed: true},
	"req_DH_params":         {reason: "is part of a key exchange", fixed: true},
	"set_client_DH_params":  {reason: "is part of a key exchange", fixed: true},
	"rpc_drop_answer":       {reason: "is an MTProto service function", fixed: true},
	"get_future_salts":      {reason: "is an MTProto service function", fixed: true},
	"ping":                  {reason: "is an MTProto service function", fixed: true},
	"ping_delay_disconnect": {reason: "is an MTProto service function", fixed: true},
	"http_wait":             {reason: "is an MTProto service function", fixed: true},
}

// authReason is why every auth.* method is refused.
const authReason = "logs in or out (use `tgvault login` and `tgvault logout`)"

// defaultRefusal says whether the default list refuses name.
func defaultRefusal(name string) (refusal, bool) {
	if r, ok := refusedMethods[name]; ok {
		return r, true
	}
	if strings.HasPrefix(name, "auth.") {
		return refusal{reason: authReason}, true
	}
	return refusal{}, false
}

// RefusedMethod reports whether the local API refuses the TL method by
// default, and why. Besides the names listed in refusedMethods, every
// auth.* method is refused: logging in, out, or between keys is `tgvault
// login`'s and `tgvault logout`'s work, and through a running account it
// would change the login of the stored key behind the vault's back.
func RefusedMethod(name string) (reason string, refused bool) {
	r, ok := defaultRefusal(name)
	return r.reason, ok
}

// ErrBadMethodPolicy reports an --allow or --deny that names no method of
// the schema, or allows a method that is never allowed.
var ErrBadMethodPolicy = errors.New("mtproto: bad method policy")

// MethodPolicy is the local API's list of refused methods as an operator
// adjusted it: the default (RefusedMethod), less the methods allowed, plus
// the methods denied. A nil *MethodPolicy is the default. Wrappers around
// another query and MTProto service functions are refused whatever the
// policy says: the query inside a wrapper would escape the list, and the
// service functions are not API methods. A MethodPolicy is immutable and
// safe for concurrent use.
type MethodPolicy struct {
	allow map[string]bool
	deny  map[string]bool
}

// NewMethodPolicy makes the policy that allows the default-refused methods
// in allow and refuses the methods in deny as well. Every name must be a
// method of the schema; allowing a wrapper or a service function, or a
// method that is not refused, and naming one method in both lists are
// errors (ErrBadMethodPolicy, naming it).
func NewMethodPolicy(allow, deny []string) (*MethodPolicy, error) {
	p := &MethodPolicy{allow: map[string]bool{}, deny: map[string]bool{}}
	for _, name := range allow {
		r, refused := defaultRefusal(name)
		switch {
		case !IsMethod(name):
			return nil, fmt.Errorf("%w: --allow %s: no such method in the schema (layer %d)", ErrBadMethodPolicy, name, tdtg.Layer)
		case r.fixed:
			return nil, fmt.Errorf("%w: --allow %s: it stays refused (it %s)", ErrBadMethodPolicy, name, r.reason)
		case !refused:
			return nil, fmt.Errorf("%w: --allow %s: it is not refused", ErrBadMethodPolicy, name)
		case slices.Contains(deny, name):
			return nil, fmt.Errorf("%w: %s is both allowed and denied", ErrBadMethodPolicy, name)
		}
		p.allow[name] = true
	}
	for _, name := range deny {
		if !IsMethod(name) {
			return nil, fmt.Errorf("%w: --deny %s: no such method in the schema (layer %d)", ErrBadMethodPolicy, name, tdtg.Layer)
		}
		if _, refused := defaultRefusal(name); !refused {
			p.deny[name] = true
		}
	}
	return p, nil
}

// Refused reports whether the policy refuses the method, and why.
func (p *MethodPolicy) Refused(name string) (reason string, refused bool) {
	if p != nil && p.deny[name] {
		return "is denied by this run (--deny)", true
	}
	r, ok := defaultRefusal(name)
	if ok && p != nil && p.allow[name] && !r.fixed {
		return "", false
	}
	return r.reason, ok
}

// Allowed and Denied list the policy's adjustments, sorted (for run's
// start-up line).
func (p *MethodPolicy) Allowed() []string {
	return p.names(func(p *MethodPolicy) map[string]bool { return p.allow })
}

// Denied: see Allowed.
func (p *MethodPolicy) Denied() []string {
	return p.names(func(p *MethodPolicy) map[string]bool { return p.deny })
}

func (p *MethodPolicy) names(set func(*MethodPolicy) map[string]bool) []string {
	if p == nil {
		return nil
	}
	var out []string
	for n := range set(p) {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}
