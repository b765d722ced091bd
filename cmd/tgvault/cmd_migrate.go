package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/vault"
	"github.com/tgvault/tgvault/vault/pgvault"
)

func (a *app) migrateCmd() *cobra.Command {
	var to string
	cmd := &cobra.Command{
		Use:   "migrate --to postgres://...",
		Short: "Copy a directory vault into PostgreSQL, for a fleet of run workers",
		Long: `Copy the vault (--vault, TGVAULT_DIR or the default directory) into the
PostgreSQL database --to, blob for blob: everything stays sealed, the
database never sees a plaintext key or account name. The vault keeps its id,
so the keyring that unlocks it unlocks the copy. It refuses while run serves
the vault and when the database holds a vault already. The directory is left
as it was: once the fleet serves the copy, remove it (or keep it as a
backup, but never run both: a session used from two places is killed).

Keep the password out of the URL: pgx reads PGPASSWORD and ~/.pgpass.`,
		Args: exactArgs(),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !pgvault.IsURL(to) {
				return usagef("--to needs a postgres:// URL")
			}
			ctx, cancel := context.WithTimeout(context.Background(), pgvault.OpenTimeout)
			dst, err := pgvault.Open(ctx, to)
			cancel()
			if err != nil {
				return err
			}
			defer dst.Close()
			return a.withVault(perProcess, func(v *vault.Vault) error {
				if _, ok := v.Backend().(vault.DirBackend); !ok {
					return usagef("migrate copies a directory vault; this one is in %s", v.Dir())
				}
				n, err := v.MigrateTo(dst)
				if err != nil {
					return err
				}
				return a.result(struct {
					To       string `json:"to"`
					Accounts int    `json:"accounts"`
				}{dst.Location(), n}, "copied vault %s with %d account(s) to %s\nserve it with: tgvault --vault %s run --worker NAME\n", v.ID(), n, dst.Location(), dst.Location())
			})
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the PostgreSQL `URL` to copy the vault into")
	return cmd
}
