package tljson

import (
	"errors"
	"strings"
	"testing"
)

// TestRefusedLoginMethods: the methods that change how the account logs in
// or end it are refused by default.
func TestRefusedLoginMethods(t *testing.T) {
	t.Parallel()
	for _, name := range []string{
		"account.changePhone", "account.sendChangePhoneCode", "account.sendVerifyEmailCode",
		"account.verifyEmail", "account.updatePasswordSettings", "account.setAccountTTL",
		"messages.acceptUrlAuth", "account.confirmPasswordEmail", "account.resetPassword",
		"account.deletePasskey", "account.changeAuthorizationSettings", "messages.checkUrlAuthMatchCode",
	} {
		if _, refused := RefusedMethod(name); !refused {
			t.Errorf("%s is not refused", name)
		}
		if !IsMethod(name) {
			t.Errorf("%s is not a method of the schema", name)
		}
	}
	for _, name := range []string{"account.getPassword", "account.getAccountTTL", "messages.requestUrlAuth", "account.declinePasswordReset"} {
		if _, refused := RefusedMethod(name); refused {
			t.Errorf("%s is refused", name)
		}
	}
}

// TestMethodPolicy: --allow lifts a default refusal but never a
// wrapper's or a service function's; --deny adds one; names are checked.
func TestMethodPolicy(t *testing.T) {
	t.Parallel()
	p, err := NewMethodPolicy([]string{"account.setAccountTTL", "auth.logOut"}, []string{"messages.sendMessage", "account.deleteAccount"})
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]bool{
		"account.setAccountTTL": false, "auth.logOut": false, // allowed
		"messages.sendMessage": true, "account.deleteAccount": true, // denied
		"auth.exportAuthorization": true, "invokeWithLayer": true, "ping": true, // untouched
		"users.getUsers": false,
	} {
		if _, refused := p.Refused(name); refused != want {
			t.Errorf("%s: refused %v, want %v", name, refused, want)
		}
	}
	if r, _ := p.Refused("messages.sendMessage"); !strings.Contains(r, "--deny") {
		t.Errorf("denied reason %q does not name --deny", r)
	}
	var nilPolicy *MethodPolicy
	if _, refused := nilPolicy.Refused("account.setAccountTTL"); !refused {
		t.Error("the nil policy is not the default")
	}
	if got := p.Allowed(); strings.Join(got, ",") != "account.setAccountTTL,auth.logOut" {
		t.Errorf("Allowed = %v", got)
	}
	for _, c := range []struct {
		allow, deny []string
		has         string
	}{
		{[]string{"invokeWithLayer"}, nil, "stays refused"},
		{[]string{"initConnection"}, nil, "stays refused"},
		{[]string{"destroy_auth_key"}, nil, "stays refused"},
		{[]string{"ping"}, nil, "stays refused"},
		{[]string{"users.getUsers"}, nil, "not refused"},
		{[]string{"account.changePhonee"}, nil, "no such method"},
		{nil, []string{"messages.sendMesage"}, "no such method"},
		{[]string{"account.changePhone"}, []string{"account.changePhone"}, "both allowed and denied"},
	} {
		_, err := NewMethodPolicy(c.allow, c.deny)
		if !errors.Is(err, ErrBadMethodPolicy) || !strings.Contains(err.Error(), c.has) {
			t.Errorf("allow %v deny %v: %v, want %q", c.allow, c.deny, err, c.has)
		}
	}
}
