// Package crypto seals bytes with age (https://age-encryption.org) and owns
// the key material that opens them.
//
// It provides:
//
//   - Sealing to public keys: [Seal] (binary age file), [SealArmored] (PEM-like
//     ASCII armor) and [SealText] (the one-line text form: the binary age file in
//     standard, padded base64, safe for env vars and chat; `base64 -d | age -d`
//     opens it). [Open] detects all three forms.
//   - Key slots: the passphrase slot ([SealPassphrase], [OpenPassphrase], scrypt
//     with a capped work factor) and identity files ([ParseIdentities], and [ReadIdentityFile] for --identity: age
//     X25519 and post-quantum hybrid keys, unencrypted OpenSSH ed25519 and RSA
//     keys). The OS-keyring slot belongs to the vault package; it stores the
//     text of [Identity.Reveal].
//   - Secret types ([Identity], [Passphrase]) that print "(redacted)" with every
//     fmt verb and in slog records.
//   - Classification of every failure to open into [ErrWrongKey] (no key
//     matched, wrong passphrase) or [ErrCorrupt] (anything else: damaged,
//     truncated, extended, tampered or foreign data), by error type, never by
//     message. Errors never contain plaintext, secret keys or passphrases.
//   - [Sealer], the two-method value the storage package is handed, and
//     [VaultSealer], the same for vault files: it adds to every file a
//     `tgvault-auth` stanza (an HMAC keyed from the identity over the file
//     key and the file's name) and opens only files that carry a valid one,
//     so a file sealed to the vault's public key by anyone else is refused
//     ([ErrUnauthenticated]). `age -d` skips the stanza. The construction
//     is in auth.go and docs/design.md §6; keys for other purposes come
//     from [Identity.DeriveKey].
//
// Tests of any package of this module can make passphrase slots cheap with
// internal/testhooks.SetScryptWorkFactor; programs cannot.
//
// Every sealed value is a standard age v1 file: the age CLI and other age
// implementations open it with the same identity.
//
// Open and its variants return plaintext only on full success: the whole file
// is authenticated before anything is returned, and on error the plaintext is
// nil.
//
// Layer rule (docs/ARCHITECTURE.md): this package must never import storage, vault,
// mtproto, cmd/... or github.com/gotd/td; internal/deptest checks
// the table of docs/ARCHITECTURE.md.
package crypto
