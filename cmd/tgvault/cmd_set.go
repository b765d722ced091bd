package main

import (
	"net"
	"strconv"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// setCmd is `tgvault set`. Long: its help text is half of it, and its flag
// checks are one line each.
func (a *app) setCmd() *cobra.Command {
	var (
		apiID, userID           int64
		bot, noBot, test, noTst bool
		address                 string
	)
	cmd := &cobra.Command{
		Use:   "set NAME [--api-id N] [--user-id N] [--bot|--no-bot] [--test-mode|--no-test-mode] [--address HOST:PORT]",
		Short: "Fill in session fields the account's source lacked",
		Long: `Fill in session fields an imported account's source did not carry, so that
formats that need them can be exported: a Telethon string has no api_id, user
id or bot flag; a session on an address outside Telegram's DC table, or a tdata
folder without a config file, has no test mode; a Pyrogram or MTKruto string
has no DC address (--address: the address Telethon, GramJS and mtcute exports
write; run keeps connecting where it did).

` + "`tgvault run`" + ` learns the user id, bot flag and test mode from the server on the
account's first connect; set is for offline use. A field already known is
changed too: the output names its old value. An account that run marked
mismatch (the server said its key belongs to another user, bot flag or
environment than the vault recorded) is active again once one of those fields
is set. Refused while another process holds the account (a ` + "`tgvault run`" + `
serving it; exit 5).`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: func(cmd *cobra.Command, args []string) error {
			var f vault.SetFields
			fl := cmd.Flags()
			if fl.Changed("api-id") {
				if apiID <= 0 || apiID > 1<<31-1 {
					return usagef("--api-id wants a positive 32-bit number")
				}
				f.APIID = sessionstring.Some(int32(apiID))
			}
			if fl.Changed("user-id") {
				if userID <= 0 {
					return usagef("--user-id wants a positive number")
				}
				f.UserID = sessionstring.Some(userID)
			}
			switch {
			case bot && noBot:
				return usagef("--bot and --no-bot contradict each other")
			case bot, noBot:
				f.IsBot = sessionstring.Some(bot)
			}
			switch {
			case test && noTst:
				return usagef("--test-mode and --no-test-mode contradict each other")
			case test, noTst:
				f.TestMode = sessionstring.Some(test)
			}
			if address != "" {
				host, portText, err := net.SplitHostPort(address)
				port, perr := strconv.Atoi(portText)
				if err != nil || perr != nil || host == "" {
					return usagef("--address wants HOST:PORT ([IPv6]:PORT for an IPv6 address)")
				}
				f.Host, f.Port = sessionstring.Some(host), sessionstring.Some(port)
			}
			if f == (vault.SetFields{}) {
				return usagef("set needs at least one field: --api-id, --user-id, --bot/--no-bot, --test-mode/--no-test-mode or --address")
			}
			return a.withVault(perProcess, func(v *vault.Vault) error {
				acct, changes, err := v.Set(args[0], f)
				if err != nil {
					return err
				}
				return a.printSet(acct, changes)
			})
		},
	}
	f := cmd.Flags()
	f.Int64Var(&apiID, "api-id", 0, "the api_id `N` the account's app uses (my.telegram.org)")
	f.Int64Var(&userID, "user-id", 0, "the account's user id `N`")
	f.BoolVar(&bot, "bot", false, "the account is a bot")
	f.BoolVar(&noBot, "no-bot", false, "the account is a user, not a bot")
	f.BoolVar(&test, "test-mode", false, "the account is on Telegram's test DCs")
	f.BoolVar(&noTst, "no-test-mode", false, "the account is on Telegram's production DCs")
	f.StringVar(&address, "address", "", "the DC address `HOST:PORT` exports to Telethon, GramJS and mtcute write")
	return cmd
}

// printSet says what set changed.
func (a *app) printSet(acct vault.Account, changes []vault.FieldChange) error {
	if changes == nil {
		changes = []vault.FieldChange{}
	}
	return a.resultFunc(struct {
		Name    string              `json:"name"`
		Changes []vault.FieldChange `json:"changes"`
		Account vault.Account       `json:"account"`
	}{acct.Name, changes, acct}, func() error {
		if len(changes) == 0 {
			a.printf("%s: nothing changed\n", acct.Name)
			return nil
		}
		for _, c := range changes {
			was := "unknown"
			if c.Old != nil {
				was = *c.Old
			}
			a.printf("%s: %s %s (was %s)\n", acct.Name, c.Field, c.New, was)
		}
		if acct.Status != vault.StatusActive {
			a.printf("%s: status %s\n", acct.Name, acct.Status)
		}
		return nil
	})
}
