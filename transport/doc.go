// Package transport carries Ferry connections: one TCP (or TLS, or any
// net.Conn) connection is multiplexed into streams by yamux, tuned and
// wrapped so that no yamux type appears in Ferry's API.
//
// A listening port serves two protocols: a yamux session (Ferry clients,
// first byte 0x00) and bare MessagePack-RPC (clients in any language, first
// byte an array header). Sniff tells them apart from the first byte.
package transport
