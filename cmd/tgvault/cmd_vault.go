package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/crypto"
	"github.com/tgvault/tgvault/internal/agentkeyring"
	"github.com/tgvault/tgvault/localapi"
	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

// notePlan says, before any passphrase is asked for, where init or
// unlock will keep the vault key when it is not the OS keyring it was
// offered (vault.OpenForUnlock, vault.PlanInit).
func (a *app) notePlan(p vault.HolderPlan) {
	if p.Holder == vault.HeldByAgent && p.KeyringErr != nil {
		a.notef("the OS keyring is not usable here (%v); a tgvault agent will hold the vault key in memory instead", p.KeyringReason())
	}
}

// heldNote says where the key is held now, for unlock's and init's output.
func (a *app) heldNote(by string) string {
	switch by {
	case vault.HeldByKeyring:
		return "in the OS keyring"
	case vault.HeldByAgent:
		if k, ok := a.agentKeyring().(agentkeyring.Keyring); ok {
			if in, err := k.Info(); err == nil {
				lock := "locked against swap"
				if in.Memory == "none" {
					lock = "NOT locked against swap"
				}
				note := fmt.Sprintf("by the tgvault agent (pid %d, memory only, %s", in.PID, lock)
				if in.Refused > 0 {
					note += fmt.Sprintf(", refused %d connection(s) from other users", in.Refused)
				}
				return note + ")"
			}
		}
		return "by the tgvault agent (memory only)"
	}
	return "nowhere"
}

func (a *app) initCmd() *cobra.Command {
	var noKeyring, weak bool
	cmd := &cobra.Command{
		Use:   "init [--no-keyring]",
		Short: "Create a vault (asks for its passphrase twice)",
		Long: `Create a vault: a new age identity (the vault key), a passphrase slot that
recovers it, and the identity in the OS keyring, so the new vault is
unlocked. Where the OS keyring is not usable (a server without a D-Bus
session or a Secret Service) a tgvault agent holds the key instead (Linux and
FreeBSD); where neither can, the vault is made locked and each process
unlocks it (TGVAULT_PASSPHRASE_FILE, --identity). init says which before it
asks for the passphrase. The passphrase comes from TGVAULT_PASSPHRASE_FILE or
is asked for twice on the terminal, never from the command line; one shorter
than 12 characters is refused unless --weak-passphrase.

--no-keyring makes a vault that never uses the OS keyring: it is made
locked; unlock each process, or run ` + "`tgvault unlock`" + ` to have the agent hold the key.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return a.runInit(noKeyring, weak)
		},
	}
	cmd.Flags().BoolVar(&weak, "weak-passphrase", false, fmt.Sprintf("accept a passphrase shorter than %d characters", crypto.MinPassphraseLen))
	cmd.Flags().BoolVar(&noKeyring, "no-keyring", false, "never use the OS keyring: unlock each process with a passphrase file or an identity, or through the agent")
	return cmd
}

// runInit creates the vault (init).
func (a *app) runInit(noKeyring, weak bool) error {
	loc, closeBackend, err := a.location()
	if err != nil {
		return err
	}
	defer closeBackend()
	// A vault there already: refused before anything is asked or said.
	if err := vault.CheckVacant(loc); err != nil {
		return err
	}
	opts := vault.InitOptions{Options: loc, NoKeyring: noKeyring}
	if !noKeyring {
		opts.Keyring, opts.Agent = a.keyring(), a.agentKeyring()
	}
	plan, err := vault.PlanInit(&opts)
	if err != nil {
		return err
	}
	a.notePlan(plan)
	if opts.LeaveLocked {
		a.notef("no OS keyring and no tgvault agent can hold the vault key here: the vault will be locked once made; unlock each process with TGVAULT_PASSPHRASE_FILE or --identity")
	}
	pass, err := a.newPassphrase("TGVAULT_PASSPHRASE_FILE", "New vault passphrase: ", weak)
	if err != nil {
		return err
	}
	defer pass.Wipe()
	held := plan.Holder
	if held == "" {
		// Nothing holds the key: this process's passphrase opens it.
		opts.Passphrase = pass
	}
	v, err := vault.Init(opts, pass)
	if err != nil {
		return err
	}
	defer v.Close()
	rcpt, err := v.Recipient()
	if err != nil {
		return err
	}
	return a.resultFunc(struct {
		VaultID   string `json:"vault_id"`
		Dir       string `json:"dir"`
		Recipient string `json:"recipient"`
		NoKeyring bool   `json:"no_keyring"`
		HeldBy    string `json:"held_by"` // "keyring", "agent" or "" (locked)
	}{v.ID(), v.Dir(), rcpt, noKeyring, held}, func() error {
		a.printf("created vault %s in %s\nrecipient (give it to whoever sends you sessions): %s\n", v.ID(), v.Dir(), rcpt)
		switch {
		case noKeyring:
			a.printf("no keyring: unlock each process with TGVAULT_PASSPHRASE_FILE or --identity, or run tgvault unlock (a tgvault agent then holds the key)\n")
		case held == "":
			a.printf("locked: nothing can hold the vault key here; unlock each process with TGVAULT_PASSPHRASE_FILE or --identity\n")
		default:
			a.printf("unlocked: the vault key is held %s until `tgvault lock`\n", a.heldNote(held))
		}
		return nil
	})
}

func (a *app) unlockCmd() *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "unlock [--timeout DUR]",
		Short: "Put the vault key into the OS keyring, or a tgvault agent (asks for the passphrase)",
		Long: `Open the passphrase slot and keep the vault key for the other tgvault
commands: in the OS keyring where it works, else in a tgvault agent, a
process of yours that holds it in locked memory and answers only your uid
over a private unix socket (started here, or reused; Linux and FreeBSD).
unlock says which before it asks for the passphrase. --timeout DUR locks
again after DUR (the agent forgets the key then, and exits when it holds
none); tgvault lock removes it at once. The passphrase comes from
TGVAULT_PASSPHRASE_FILE or the terminal.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if timeout < 0 {
				return usagef("--timeout must not be negative")
			}
			opts, cleanup, err := a.options(keyringOnly)
			defer cleanup()
			if err != nil {
				return err
			}
			// No vault, no questions (and no keyring probe).
			v, plan, err := vault.OpenForUnlock(opts)
			if errors.Is(err, vault.ErrNoHolder) {
				return fmt.Errorf("%w; unlock each process with TGVAULT_PASSPHRASE_FILE, TGVAULT_IDENTITY or --identity", err)
			}
			if err != nil {
				return err
			}
			defer v.Close()
			a.notePlan(plan)
			pass, err := a.passphrase("TGVAULT_PASSPHRASE_FILE", "Vault passphrase: ", false)
			if err != nil {
				return err
			}
			defer pass.Wipe()
			if err := v.Unlock(pass, timeout); err != nil {
				return err
			}
			st, err := v.Status()
			if err != nil {
				return err
			}
			return a.resultFunc(struct {
				Unlocked bool       `json:"unlocked"`
				Expires  *time.Time `json:"expires"`
				HeldBy   string     `json:"held_by"`
			}{true, st.Expires, st.UnlockedBy}, func() error {
				if st.Expires != nil {
					a.printf("unlocked until %s, held %s\n", st.Expires.Local().Format(timeWithZone), a.heldNote(st.UnlockedBy))
				} else {
					a.printf("unlocked until `tgvault lock`, held %s\n", a.heldNote(st.UnlockedBy))
				}
				return nil
			})
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "lock again after `DUR` (e.g. 30m, 8h; 0 = never)")
	return cmd
}

func (a *app) lockCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "lock",
		Short: "Remove the vault key from the OS keyring and the tgvault agent",
		Args:  exactArgs(),
		RunE: a.vaultRunE(keyringOnly, func(v *vault.Vault, _ []string) error {
			if err := v.Lock(); err != nil {
				return err
			}
			return a.result(struct {
				Locked bool `json:"locked"`
			}{true}, "locked\n")
		}),
	}
}

func (a *app) statusCmd() *cobra.Command {
	var socket string
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show whether the vault is unlocked, who writes it, and the pool of a running `tgvault run`",
		Args:  exactArgs(),
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, _ []string) error {
			// Which process holds which account: a run serving it,
			// a worker's lease, a command using it.
			r, err := v.StatusReport()
			if err != nil {
				return err
			}
			fl, isFleet, err := pgvault.FleetStatus(context.Background(), v)
			if err != nil {
				return err
			}
			// The pool section: the accounts of a running `tgvault
			// run`, from its local API.
			var pool []localapi.Account
			var poolErr error
			if r.Serving && !isFleet {
				pool, poolErr = a.poolStatus(socket)
			}
			return a.printStatus(statusReport{r, pool, poolErr, fl})
		}),
	}
	cmd.Flags().StringVar(&socket, "socket", "", "the local API socket `PATH` of the running `tgvault run` (default $TGVAULT_SOCKET, else run's default)")
	return cmd
}

// statusReport is what status found: the vault's report, the pool of
// the run serving it (or why not), and a PostgreSQL vault's fleet.
type statusReport struct {
	vault.StatusReport
	pool    []localapi.Account
	poolErr error
	fl      *pgvault.FleetReport // nil: not a fleet
}

// printStatus says what status found.
func (a *app) printStatus(r statusReport) error {
	if a.json {
		out := struct {
			vault.StatusReport
			Pool      []localapi.Account   `json:"pool"`
			PoolError string               `json:"pool_error,omitempty"`
			Fleet     *pgvault.FleetReport `json:"fleet,omitempty"`
		}{StatusReport: r.StatusReport, Pool: r.pool, Fleet: r.fl}
		if r.poolErr != nil {
			out.PoolError = r.poolErr.Error()
		}
		return a.printJSON(out)
	}
	a.printf("vault     %s\ndir       %s\n", r.VaultID, r.Dir)
	switch {
	case !r.Unlocked:
		a.printf("state     locked\n")
	case r.Expires != nil:
		a.printf("state     unlocked (by %s, until %s)\n", a.byNote(r.UnlockedBy), r.Expires.Local().Format(timeWithZone))
	default:
		a.printf("state     unlocked (by %s)\n", a.byNote(r.UnlockedBy))
	}
	if r.NoKeyring {
		a.printf("keyring   not used (--no-keyring)\n")
	}
	if r.UnlockedBy == vault.HeldByAgent {
		a.printf("agent     %s\n", a.heldNote(vault.HeldByAgent))
	}
	if r.Accounts >= 0 {
		a.printf("accounts  %d\n", r.Accounts)
	}
	if w := r.Writer; w != nil {
		a.printf("writer    pid %d (%s) since %s\n", w.PID, w.Command, w.Since.Local().Format(timeWithZone))
	}
	if len(r.Holders) > 0 && r.fl == nil {
		a.printf("held      %d account(s)\n", len(r.Holders))
		for _, h := range r.Holders {
			name := h.Name
			if name == "" {
				name = "(id " + h.ID + ")"
			}
			a.printf("  %-20s process %d (%s) since %s\n", name, h.Holder.PID, h.Holder.Command, h.Holder.Since.Local().Format(timeWithZone))
		}
	}
	if r.fl != nil {
		a.printf("leases    %d (%d held, %d free or expired)\n", r.fl.Leases, r.fl.Held, r.fl.Leases-r.fl.Held)
		for _, w := range r.fl.Workers {
			a.printf("  %-20s %5d leases  %s pid %d, seen %s\n", w.Name, w.Leases, w.Host, w.PID, w.Seen.Local().Format(timeWithZone))
		}
	}
	switch {
	case errors.Is(r.poolErr, errNotRunning):
		a.printf("pool      unknown: no answer on the socket (is run's --socket elsewhere? give it with --socket)\n")
	case r.poolErr != nil:
		a.printf("pool      unknown: %v\n", r.poolErr)
	case r.Serving && r.fl == nil:
		a.printf("pool      %d account(s)\n", len(r.pool))
		for _, p := range r.pool {
			relays := ""
			if p.RelaySessions > 0 {
				relays = fmt.Sprintf(" (%d relay session(s))", p.RelaySessions)
			}
			if p.Error != "" {
				a.printf("  %-20s %-12s %s%s\n", p.Name, p.Status, p.Error, relays)
			} else {
				a.printf("  %-20s %s%s\n", p.Name, p.Status, relays)
			}
		}
	}
	return nil
}

// byNote names what unlocked the vault, for status: the agent with its pid.
func (a *app) byNote(by string) string {
	if by != vault.HeldByAgent {
		return by
	}
	if k, ok := a.agentKeyring().(agentkeyring.Keyring); ok {
		if pid, err := k.PID(); err == nil {
			return fmt.Sprintf("agent, pid %d", pid)
		}
	}
	return by
}

func (a *app) recipientCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "recipient",
		Short: "Print the vault's public key, for `export --to` on another machine",
		Long: `Print the vault's public key (age1...), for ` + "`export --to`" + ` on the sending
side. Unlocked, it is derived from the vault key (verified). Locked, it is
vault.json's copy, which anyone who can write the vault directory could have
replaced: it is printed with a note that it was not verified (--json:
"verified": false).`,
		Args: exactArgs(),
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, _ []string) error {
			r, verified, err := v.RecipientOrUnverified()
			if err != nil {
				return err
			}
			return a.resultFunc(struct {
				Recipient string `json:"recipient"`
				Verified  bool   `json:"verified"`
			}{r, verified}, func() error {
				a.printf("%s\n", r)
				if !verified {
					a.notef("not verified: the vault is locked, so this is vault.json's copy, which anyone who can write the vault directory could have replaced; unlock and run tgvault recipient again to verify it")
				}
				return nil
			})
		}),
	}
}

func (a *app) passwdCmd() *cobra.Command {
	var weak bool
	cmd := &cobra.Command{
		Use:   "passwd",
		Short: "Change the vault passphrase",
		Long: `Change the vault passphrase (re-seals the passphrase slot only). The current
passphrase comes from TGVAULT_PASSPHRASE_FILE or the terminal, the new one
from TGVAULT_NEW_PASSPHRASE_FILE or the terminal (asked twice); one shorter
than 12 characters is refused unless --weak-passphrase.`,
		Args: exactArgs(),
		RunE: a.vaultRunE(keyringOnly, func(v *vault.Vault, _ []string) error {
			old, err := a.passphrase("TGVAULT_PASSPHRASE_FILE", "Current vault passphrase: ", false)
			if err != nil {
				return err
			}
			defer old.Wipe()
			nw, err := a.newPassphrase("TGVAULT_NEW_PASSPHRASE_FILE", "New vault passphrase: ", weak)
			if err != nil {
				return err
			}
			defer nw.Wipe()
			if err := v.Passwd(old, nw); err != nil {
				return err
			}
			return a.done("passphrase changed")
		}),
	}
	cmd.Flags().BoolVar(&weak, "weak-passphrase", false, fmt.Sprintf("accept a new passphrase shorter than %d characters", crypto.MinPassphraseLen))
	return cmd
}

func (a *app) rekeyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "rekey",
		Short: "Make a new vault key and re-seal every account with it",
		Long: `Make a new vault key (age identity), re-seal every account and the index with
it, and seal it into the passphrase slot. The recipient changes: senders need
the new one (tgvault recipient). The passphrase comes from
TGVAULT_PASSPHRASE_FILE or the terminal.`,
		Args: exactArgs(),
		RunE: a.vaultRunE(keyringOnly, func(v *vault.Vault, _ []string) error {
			pass, err := a.passphrase("TGVAULT_PASSPHRASE_FILE", "Vault passphrase: ", false)
			if err != nil {
				return err
			}
			defer pass.Wipe()
			if err := v.Rekey(pass); err != nil {
				return err
			}
			return a.done("every account is re-sealed to the new vault key; the recipient changed (tgvault recipient)")
		}),
	}
}
