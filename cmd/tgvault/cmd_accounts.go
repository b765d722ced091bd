package main

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/sessionstring"
	"github.com/tgvault/tgvault/vault"
)

// opt prints an optional field, "-" when the source did not carry it.
func opt[T any](o sessionstring.Opt[T]) string {
	v, ok := o.Get()
	if !ok {
		return "-"
	}
	return fmt.Sprint(v)
}

func (a *app) listCmd() *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the accounts (never their keys)",
		Args:    exactArgs(),
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, _ []string) error {
			accts, err := v.List()
			if err != nil {
				return err
			}
			if a.json {
				return vault.WriteAccountsJSON(a.stdout, accts)
			}
			if len(accts) == 0 {
				a.notef("no accounts yet: tgvault import SOURCE")
				return nil
			}
			return writeAccountsTable(a.stdout, accts)
		}),
		ValidArgsFunction: cobra.NoFileCompletions,
	}
}

// writeAccountsTable writes the table of `list`: the columns tabwriter
// would make (each as wide as its widest cell, in characters, plus two
// spaces; the last one not padded), built in one buffer and written in
// 64 KiB chunks. tabwriter itself wrote every cell with its own Write (one
// system call per cell: 160,018 for 10,000 accounts) and took most of the
// command's time.
func writeAccountsTable(w io.Writer, accts []vault.Account) error {
	const cols = 8
	rows := make([][cols]string, 0, len(accts)+1)
	rows = append(rows, [cols]string{"NAME", "USER_ID", "DC", "BOT", "TEST", "API_ID", "STATUS", "PEERS"})
	for _, ac := range accts {
		rows = append(rows, [cols]string{ac.Name, opt(ac.UserID), strconv.Itoa(ac.DCID), opt(ac.IsBot),
			opt(ac.TestMode), opt(ac.APIID), string(ac.Status), strconv.Itoa(ac.Peers)})
	}
	var width [cols]int
	for _, r := range rows {
		for c := range cols - 1 {
			width[c] = max(width[c], utf8.RuneCountInString(r[c]))
		}
	}
	bw := bufio.NewWriterSize(w, 64<<10)
	for _, r := range rows {
		for c := range cols - 1 {
			bw.WriteString(r[c])
			for n := utf8.RuneCountInString(r[c]); n < width[c]+2; n++ {
				bw.WriteByte(' ')
			}
		}
		bw.WriteString(r[cols-1])
		bw.WriteByte('\n')
	}
	return bw.Flush()
}

func (a *app) showCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "show NAME",
		Short:             "Show one account (never its key)",
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, args []string) error {
			ac, err := v.Show(args[0])
			if err != nil {
				return err
			}
			return a.resultFunc(ac, func() error { a.printAccount(ac); return nil })
		}),
	}
}

func (a *app) printAccount(ac vault.Account) {
	tw := tabwriter.NewWriter(a.stdout, 0, 4, 2, ' ', 0)
	row := func(k, v string) { fmt.Fprintf(tw, "%s\t%s\n", k, v) }
	row("name", ac.Name)
	row("user_id", opt(ac.UserID))
	row("dc_id", strconv.Itoa(ac.DCID))
	row("is_bot", opt(ac.IsBot))
	row("test_mode", opt(ac.TestMode))
	row("api_id", opt(ac.APIID))
	if ac.KeyID != "" {
		row("key_id", ac.KeyID)
	}
	status := string(ac.Status)
	if ac.Reason != "" {
		status += " (" + ac.Reason + ")"
	}
	row("status", status)
	row("peers", strconv.Itoa(ac.Peers))
	if ac.Source != "" {
		row("source", ac.Source)
	}
	if !ac.Created.IsZero() {
		row("created", ac.Created.Local().Format(timeWithZone))
	}
	if !ac.Updated.IsZero() {
		row("updated", ac.Updated.Local().Format(timeWithZone))
	}
	tw.Flush()
}

// nameResult is the --json output of the commands that change one
// account.
type nameResult struct {
	Name   string              `json:"name"`
	Status vault.AccountStatus `json:"status,omitempty"`
	Action string              `json:"action"`
}

func (a *app) reclaimCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "reclaim NAME",
		Short: "Mark a handed-off account as used here again",
		Long: `Mark an account that was exported with --move as active here again. Do this
only when the other machine no longer uses the session: Telegram kills a
session used from two places at once.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, args []string) error {
			if err := v.Reclaim(args[0]); err != nil {
				return err
			}
			return a.result(nameResult{args[0], vault.StatusActive, "reclaimed"}, "%s is active here again\n", args[0])
		}),
	}
}

func (a *app) rmCmd() *cobra.Command {
	var yes bool
	cmd := &cobra.Command{
		Use:   "rm NAME [--yes]",
		Short: "Remove an account and its sealed file (asks first)",
		Long: `Remove an account and its sealed file. The session is gone from the vault for
good (it is not logged out on the server: tgvault logout does that). On a
terminal rm asks first; --yes removes without asking. Without a terminal and
without --yes it removes nothing and exits 2.`,
		Args:              exactArgs("NAME"),
		ValidArgsFunction: a.completeNames,
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, args []string) error {
			name := args[0]
			if !yes {
				// Show first: an unknown name fails before the question.
				if _, err := v.Show(name); err != nil {
					return err
				}
				ok, err := a.confirm(fmt.Sprintf("remove account %s and its sealed file? The session cannot be recovered from this vault afterwards.", name))
				if errors.Is(err, errNotAsked) {
					return usagef("rm asks before it removes an account, and there is no terminal to ask on: add --yes to remove %s", name)
				}
				if err != nil {
					return err
				}
				if !ok {
					return usagef("not removed: %s stays in the vault (the answer was not yes)", name)
				}
			}
			if err := v.Remove(name); err != nil {
				return err
			}
			return a.result(nameResult{Name: name, Action: "removed"}, "removed %s\n", name)
		}),
	}
	cmd.Flags().BoolVarP(&yes, "yes", "y", false, "remove without asking")
	return cmd
}

func (a *app) renameCmd() *cobra.Command {
	return &cobra.Command{
		Use:               "rename OLD NEW",
		Short:             "Rename an account",
		Args:              exactArgs("OLD", "NEW"),
		ValidArgsFunction: a.completeNames,
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, args []string) error {
			if err := v.Rename(args[0], args[1]); err != nil {
				return err
			}
			return a.result(nameResult{Name: args[1], Action: "renamed"}, "renamed %s to %s\n", args[0], args[1])
		}),
	}
}

// completeNames completes the first argument with account names, when
// the vault is unlocked; it never prompts.
func (a *app) completeNames(cmd *cobra.Command, args []string, _ string) ([]string, cobra.ShellCompDirective) {
	if len(args) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var names []string
	_ = a.withVault(perProcess, func(v *vault.Vault) error {
		accts, err := v.List()
		for _, ac := range accts {
			names = append(names, ac.Name)
		}
		return err
	})
	return names, cobra.ShellCompDirectiveNoFileComp
}

func (a *app) completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:   "completion bash|zsh|fish",
		Short: "Print a shell completion script",
		Long: `Print a completion script for bash, zsh or fish. For example:

  tgvault completion bash > /etc/bash_completion.d/tgvault
  tgvault completion zsh > "${fpath[1]}/_tgvault"
  tgvault completion fish > ~/.config/fish/completions/tgvault.fish`,
		Args:      exactArgs("SHELL"),
		ValidArgs: []string{"bash", "zsh", "fish"},
		RunE: func(cmd *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return usagef("unknown shell %q (bash, zsh or fish)", args[0])
		},
	}
}
