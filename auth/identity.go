package auth

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry"
)

// Identity is who a connection is, as the AuthFuncs of this package
// return it: handlers find it with ferry.IdentityFromContext, and a
// Policy matches its Name.
type Identity struct {
	Name   string // the token's identity, or the certificate's name
	Source string // "token" or "certificate"
}

// String returns the identity's name; it never holds a secret.
func (id Identity) String() string { return id.Name }

// All authenticates a connection with every fn in turn: the connection is
// accepted only if all accept it, and its identity is the one the last fn
// returned. Use it to require both a verified client certificate and a
// token:
//
//	server.WithAuth(auth.All(auth.Certificates("spiffe://example.org/*"), tokens.Authenticate))
func All(fns ...ferry.AuthFunc) ferry.AuthFunc {
	return func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		if len(fns) == 0 {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "no authentication configured (auth.All of nothing)")
		}
		var id any
		for _, fn := range fns {
			var err error
			if id, err = fn(ctx, info); err != nil {
				return nil, err
			}
		}
		return id, nil
	}
}

// Matching is All, and also requires every fn's identity to carry the
// same name: a token is then accepted only over a connection whose client
// certificate names the token's own identity, so that a stolen token is
// of no use with another client's certificate. Name the tokens after the
// certificates (a token file line "spiffe://example.org/alice TOKEN"):
//
//	server.WithAuth(auth.Matching(auth.Certificates("spiffe://example.org/*"), tokens.Authenticate))
//
// With Certificates, the certificate's name compared is the one its
// accept patterns selected. The identity is the last fn's.
func Matching(fns ...ferry.AuthFunc) ferry.AuthFunc {
	return func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		if len(fns) == 0 {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "no authentication configured (auth.Matching of nothing)")
		}
		var id any
		first := ""
		for i, fn := range fns {
			var err error
			if id, err = fn(ctx, info); err != nil {
				return nil, err
			}
			name, ok := nameOf(id)
			switch {
			case !ok:
				return nil, ferry.NewError(ferry.CodeUnauthenticated, "an identity without a name cannot be matched")
			case i == 0:
				first = name
			case name != first:
				return nil, ferry.NewError(ferry.CodeUnauthenticated, "the credentials name different identities")
			}
		}
		return id, nil
	}
}

// nameOf returns the name a Policy matches for identity, and false when
// the caller has none (no authentication, or an identity of a type with
// no name).
func nameOf(identity any) (string, bool) {
	switch id := identity.(type) {
	case nil:
		return "", false
	case Identity:
		return id.Name, id.Name != ""
	case *Identity:
		if id == nil {
			return "", false
		}
		return id.Name, id.Name != ""
	case string:
		return id, id != ""
	case fmt.Stringer:
		s := id.String()
		return s, s != ""
	}
	return "", false
}
