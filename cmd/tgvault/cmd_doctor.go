package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tgvault/tgvault/vault"
)

func (a *app) doctorCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "doctor",
		Short: "Check the vault and say what to do about each problem",
		Args:  exactArgs(),
		RunE: a.vaultRunE(perProcess, func(v *vault.Vault, _ []string) error {
			checks := v.Doctor()
			failed := 0
			for _, c := range checks {
				if !c.OK {
					failed++
				}
			}
			if err := a.resultFunc(struct {
				OK     bool          `json:"ok"`
				Checks []vault.Check `json:"checks"`
			}{failed == 0, checks}, func() error {
				for _, c := range checks {
					mark := "ok  "
					if !c.OK {
						mark = "FAIL"
					}
					a.printf("%s  %s", mark, c.Name)
					if c.Detail != "" {
						a.printf(": %s", c.Detail)
					}
					a.printf("\n")
					if !c.OK && c.Fix != "" {
						a.printf("      fix: %s\n", c.Fix)
					}
				}
				return nil
			}); err != nil {
				return err
			}
			if failed > 0 {
				return fmt.Errorf("%d of %d checks failed", failed, len(checks))
			}
			return nil
		}),
	}
}
