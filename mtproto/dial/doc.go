// Package dial opens the connections tgvault's MTProto clients travel on
// when an account goes through a proxy: a SOCKS5 dialer (RFC 1928 CONNECT
// with RFC 1929 login), MTProxy secrets and gotd's MTProxy resolver over
// them, and the proxy URLs users give (socks5://, tg://proxy, t.me/proxy,
// mtproxy://): parsed (Parse), told whether they carry a secret
// (HasSecret) and shown without it (Redact).
//
// Layer rule: dial imports only the standard library and gotd's dcs and
// transport packages; it never imports another tgvault package (package
// mtproto imports it, not the other way round; see docs/ARCHITECTURE.md).
//
// Proxy passwords and MTProxy secrets are credentials: no error, String or
// GoString of this package shows them. Error texts keep the "mtproto:"
// prefix (and "bad proxy") they had before the package was split out of
// mtproto: the CLI and the local API show them as they were.
package dial
