package vault

// Report is what `tgvault status` shows of a vault: its Status, which
// process holds which account, and whether one of them serves accounts
// for its whole life (a `tgvault run`, a fleet worker).
type Report struct {
	Status
	Holders []Holding `json:"holders"`
	// Serving says that a holder serves accounts of this vault
	// (LockHolder.Serving): its pool is worth asking about.
	Serving bool `json:"-"`
}

// Report reads the vault's Status and its account Holders.
func (v *Vault) Report() (Report, error) {
	s, err := v.Status()
	if err != nil {
		return Report{}, err
	}
	hs, err := v.Holders()
	if err != nil {
		return Report{}, err
	}
	r := Report{Status: s, Holders: hs}
	for _, h := range hs {
		r.Serving = r.Serving || h.Holder.Serving()
	}
	return r, nil
}
