package ferry_test

import (
	"context"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

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
