package ferry_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

// Outgoing metadata merges, the later value winning, and is copied.
func TestOutgoingMetadata(t *testing.T) {
	assert.Nil(t, ferry.OutgoingMetadata(t.Context()))
	md := ferry.Metadata{"a": "1", "b": "1"}
	ctx := ferry.WithOutgoingMetadata(t.Context(), md)
	ctx = ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"b": "2", "c": "2"})
	md["a"] = "changed"
	assert.Equal(t, ferry.Metadata{"a": "1", "b": "2", "c": "2"}, ferry.OutgoingMetadata(ctx))
}

// Incoming metadata is separate from outgoing: a handler does not forward
// what it received unless it copies it.
func TestIncomingMetadata(t *testing.T) {
	ctx := ferry.NewIncomingContext(t.Context(), ferry.Metadata{"tenant": "a"})
	assert.Equal(t, ferry.Metadata{"tenant": "a"}, ferry.IncomingMetadata(ctx))
	assert.Nil(t, ferry.OutgoingMetadata(ctx))
	assert.Nil(t, ferry.IncomingMetadata(t.Context()))
}

func TestMetadataStringRedactsSecrets(t *testing.T) {
	for _, key := range []string{"Authorization", "x-api-key", "session-id", "password", "Cookie", "refresh_token"} {
		assert.Equal(t, "Metadata{"+key+"=[redacted]}", ferry.Metadata{key: "hunter2"}.String(), key)
	}
	assert.Equal(t, "Metadata{tenant=a}", ferry.Metadata{"tenant": "a"}.String())
	assert.Equal(t, "Metadata{}", ferry.Metadata{}.String())
}

func TestAuthInfoStringHidesToken(t *testing.T) {
	s := ferry.AuthInfo{Token: "hunter2"}.String()
	assert.NotContains(t, s, "hunter2")
	assert.Equal(t, "AuthInfo{remote=<nil> tls=false token=[redacted]}", s)
	assert.Equal(t, "AuthInfo{remote=<nil> tls=false token=none}", ferry.AuthInfo{}.String())
}

func TestIdentity(t *testing.T) {
	assert.Nil(t, ferry.IdentityFromContext(t.Context()))
	assert.Equal(t, "alice", ferry.IdentityFromContext(ferry.WithIdentity(t.Context(), "alice")))
}

// Chained interceptors run first outermost, around the call.
func TestChainServer(t *testing.T) {
	assert.Nil(t, ferry.ChainServer())
	var order []string
	ic := func(name string) ferry.ServerInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
			order = append(order, name+">")
			r, err := next(ctx, args)
			order = append(order, "<"+name)
			return r, err
		}
	}
	chain := ferry.ChainServer(ic("a"), ic("b"), ic("c"))
	reply, err := chain(t.Context(), &ferry.CallInfo{Method: "S.M"}, 1, func(_ context.Context, args any) (any, error) {
		order = append(order, "handler")
		return args.(int) + 1, nil
	})
	assert.NoError(t, err)
	assert.Equal(t, 2, reply)
	assert.Equal(t, []string{"a>", "b>", "c>", "handler", "<c", "<b", "<a"}, order)
}

func TestChainClient(t *testing.T) {
	assert.Nil(t, ferry.ChainClient())
	var order []string
	ic := func(name string) ferry.ClientInterceptor {
		return func(ctx context.Context, info *ferry.CallInfo, args, reply any, next ferry.Invoker) error {
			order = append(order, name+":"+info.Method)
			return next(ctx, info, args, reply)
		}
	}
	one := ic("solo")
	assert.NotNil(t, ferry.ChainClient(one))
	chain := ferry.ChainClient(ic("a"), ic("b"))
	err := chain(t.Context(), &ferry.CallInfo{Method: "S.M"}, nil, nil, func(context.Context, *ferry.CallInfo, any, any) error {
		order = append(order, "send")
		return ferry.ErrClosed
	})
	assert.ErrorIs(t, err, ferry.ErrClosed)
	assert.Equal(t, []string{"a:S.M", "b:S.M", "send"}, order)
}
