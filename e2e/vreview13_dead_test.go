package e2e_test

import (
	"net"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVreview13CallsOnADeadConnection: once the connection has ended
// (Done closed), a call is "never written to any connection"
// (ferry.NotExecuted's doc): every way to call says so, with
// CodeUnavailable, and Err says why the connection ended.
func TestVreview13CallsOnADeadConnection(t *testing.T) {
	for _, tr := range conduits {
		t.Run(tr.name, func(t *testing.T) {
			s := streamServer(t)
			l, err := net.Listen("tcp", "127.0.0.1:0")
			require.NoError(t, err)
			done := make(chan error, 1)
			go func() { done <- s.Serve(l) }()
			var opts []client.Option
			if tr.plain {
				opts = append(opts, client.WithPlainMsgpackRPC())
			}
			c, err := client.Dial(t.Context(), l.Addr().String(), opts...)
			require.NoError(t, err)
			defer c.Close()
			require.NoError(t, c.Call(t.Context(), "Arith.Add", client.Params{1, 2}, nil))
			require.NoError(t, s.Close())
			<-done
			select {
			case <-c.Done():
			case <-time.After(10 * time.Second):
				t.Fatal("the client did not notice the server closing")
			}
			require.Error(t, c.Err())
			ctx := t.Context()
			err = c.Call(ctx, "Arith.Add", client.Params{1, 2}, nil)
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "Call: %v", err)
			assert.True(t, ferry.NotExecuted(err), "Call: %v", err)
			call := c.Go(ctx, "Arith.Add", client.Params{1, 2}, nil)
			<-call.Done()
			assert.True(t, ferry.NotExecuted(call.Err()), "Go: %v", call.Err())
			err = c.Notify(ctx, "Arith.Add", client.Params{1, 2})
			assert.Error(t, err, "Notify")
			assert.True(t, ferry.NotExecuted(err), "Notify: %v", err)
			if !tr.plain {
				st, err := c.NewStream(ctx, "Num.Double")
				if err == nil {
					err = st.Send(&num{1})
					if err == nil {
						err = st.Recv(new(num))
					}
					st.Close()
				}
				assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "stream: %v", err)
				assert.True(t, ferry.NotExecuted(err), "stream: %v", err)
			}
		})
	}
}
