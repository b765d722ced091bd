package vault

// StatusReport is what `tgvault status` shows of a vault: its Status, which
// process holds which account, and whether one of them serves accounts
// for its whole life (a `tgvault run`, a fleet worker).
type StatusReport struct {
	Status
	Holders []Holding `json:"holders"`
	// Serving says that a holder serves accounts of this vault
	// (LockHolder.Serving): its pool is worth asking about.
	Serving bool `json:"-"`
}

// StatusReport reads the vault's Status and its account Holders.
func (v *Vault) StatusReport() (StatusReport, error) {
	s, err := v.Status()
	if err != nil {
		return StatusReport{}, err
	}
	hs, err := v.Holders()
	if err != nil {
		return StatusReport{}, err
	}
	r := StatusReport{Status: s, Holders: hs}
	for _, h := range hs {
		r.Serving = r.Serving || h.Holder.Serving()
	}
	return r, nil
}
