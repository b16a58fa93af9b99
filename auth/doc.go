// Package auth holds ready authentication and authorization for Ferry
// servers, so that the safe way is the short way.
//
// Authentication (server.WithAuth takes a ferry.AuthFunc, run once per
// connection before any of its calls is decoded):
//
//   - Tokens: static bearer tokens (client.WithToken), several valid at
//     once for rotation, each mapped to an identity, compared in constant
//     time; LoadTokens reads them from a file and reads it again when it
//     changes, so a token is revoked without a restart. A client sends
//     its token only over TLS, or to a peer on its own machine (loopback,
//     a unix socket), unless told otherwise (client.WithInsecureToken).
//   - Certificates: a client certificate that the TLS handshake verified,
//     mapped to an identity by its URI SANs (SPIFFE IDs), DNS SANs or
//     subject common name; an unverified chain is refused. Package
//     auth/pemfile builds the TLS configs from PEM files and reloads them.
//   - All: several checks together (a certificate and a token); Matching
//     also requires them to name the same identity.
//
// A refused connection's Dial fails with CodeUnauthenticated and
// ferry.NotExecuted true; none of its calls reaches a handler.
//
// Authorization: a Policy allows or denies methods per identity (exact
// method, "Service.*", or "*"; deny wins; anything not allowed is denied).
// Its Option installs it on a server for unary and streaming calls alike
// (Interceptor and StreamInterceptor; either alone leaves the other kind
// of method unpoliced): a denied call or stream is refused before its
// handler with CodePermissionDenied and ferry.NotExecuted true. Its Allow
// method is the same decision as a plain function, for other kinds of
// interceptors.
//
//	tokens, _ := auth.LoadTokens("/etc/ferry/tokens", logger)
//	policy, _ := auth.NewPolicy(
//		auth.Rule{Identity: "billing", Allow: []string{"Invoice.*"}, Deny: []string{"Invoice.Purge"}},
//		auth.Rule{Identity: "*", Allow: []string{"Health.Check"}},
//	)
//	s := server.New(
//		server.WithTLS(tlsConfig),
//		server.WithAuth(tokens.Authenticate),
//		stats.Option(),  // debug.Stats first, so that /debug/ferry counts denials
//		policy.Option(), // unary and streaming calls
//	)
//
// examples/secure puts mutual TLS, tokens and a policy together.
package auth
