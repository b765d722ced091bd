// Package tljson is the local API's JSON form of Telegram's TL objects: a
// codec over gotd's generated types (DecodeCall for a method call, Encode
// for a result or an update; the convention is at the top of tljson.go and
// in README.md, "The local API") and the methods the local API never calls
// because they could export, replace or end the login (RefusedMethod,
// MethodPolicy for run's --allow and --deny).
//
// Layer rule: tljson imports the standard library and gotd's tg, bin and
// tdp packages only, never another tgvault package; package mtproto (the
// client that sends the calls) and the local API import it (see
// docs/ARCHITECTURE.md).
//
// Every codec error is an *Error whose Kind is one of this package's
// sentinels. Their texts keep the "mtproto:" prefix they had before the
// codec was split out of mtproto: the local API answers with them.
package tljson
