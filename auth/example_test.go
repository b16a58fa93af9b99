package auth_test

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
)

func ExampleNewPolicy() {
	policy, err := auth.NewPolicy(
		auth.Rule{Identity: "billing", Allow: []string{"Invoice.*"}, Deny: []string{"Invoice.Purge"}},
		auth.Rule{Identity: "*", Allow: []string{"Health.Check"}},
	)
	if err != nil {
		panic(err)
	}
	billing := auth.Identity{Name: "billing", Source: "token"}
	for _, m := range []string{"Invoice.Create", "Invoice.Purge", "invoice.purge", "Health.Check", "Admin.Reset"} {
		if err := policy.Allow(billing, m); err != nil {
			fmt.Printf("%-15s %v\n", m, ferry.CodeOf(err))
		} else {
			fmt.Printf("%-15s allowed\n", m)
		}
	}
	// A stream interceptor or a streaming handler makes the same decision:
	//	policy.Allow(ferry.IdentityFromContext(ctx), method)

	// Output:
	// Invoice.Create  allowed
	// Invoice.Purge   permission_denied
	// invoice.purge   permission_denied
	// Health.Check    allowed
	// Admin.Reset     permission_denied
}

func ExampleNewTokens() {
	tokens, err := auth.NewTokens(map[string]string{
		"3f9c1a0d7e5b42c8a1f06d93be47c215": "billing",
		"c0ffee00c0ffee00c0ffee00c0ffee00": "billing", // the next one, during a rotation
	})
	if err != nil {
		panic(err)
	}
	// server.New(server.WithAuth(tokens.Authenticate)); here, by hand:
	id, err := tokens.Authenticate(context.Background(), ferry.AuthInfo{Token: "c0ffee00c0ffee00c0ffee00c0ffee00"})
	fmt.Println(id, err)
	_, err = tokens.Authenticate(context.Background(), ferry.AuthInfo{Token: "guess"})
	fmt.Println(err)
	// Output:
	// billing <nil>
	// ferry: unauthenticated: invalid token
}
