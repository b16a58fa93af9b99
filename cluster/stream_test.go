package cluster_test

import (
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/balancer"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/cluster"
	"github.com/ferryrpc/ferry/resolver"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// tagged is a message stamped with the node that echoed it.
type tagged struct {
	Text string
	Node string
}

// streamNode is a server whose "Svc.Chat" echoes each message stamped with
// name; refuse makes a stream interceptor refuse every stream, not
// executed. kill closes it at once.
type streamNode struct {
	name, addr string
	srv        *server.Server
	done       chan struct{}
	handled    atomic.Int64 // messages its handlers saw
}

func startStreamNode(t *testing.T, name string, refuse bool) *streamNode {
	t.Helper()
	n := &streamNode{name: name, done: make(chan struct{})}
	var opts []server.Option
	if refuse {
		opts = append(opts, server.WithStreamInterceptors(func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
			return nil, ferry.NewError(ferry.CodeUnavailable, name+" takes no streams")
		}))
	}
	n.srv = server.New(opts...)
	require.NoError(t, server.HandleBidi(n.srv, "Svc.Chat", func(ctx context.Context, st *server.BidiStream[tagged, tagged]) error {
		for {
			m, err := st.Recv()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return err
			}
			n.handled.Add(1)
			if err := st.Send(&tagged{Text: m.Text, Node: name}); err != nil {
				return err
			}
		}
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	n.addr = l.Addr().String()
	go func() { defer close(n.done); _ = n.srv.Serve(l) }()
	t.Cleanup(n.kill)
	return n
}

func (n *streamNode) kill() {
	n.srv.Close()
	<-n.done
}

func streamCluster(t *testing.T, nodes []*streamNode, opts ...cluster.Option) *cluster.Client {
	t.Helper()
	addrs := make([]string, len(nodes))
	for i, n := range nodes {
		addrs[i] = n.addr
	}
	c, err := cluster.New(resolver.Static(addrs...), opts...)
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	require.NoError(t, c.WaitReady(t.Context(), len(nodes)))
	return c
}

// chatOnce opens a stream, sends texts before reading anything, and
// returns the node that answered.
func chatOnce(ctx context.Context, c ferry.StreamOpener, texts ...string) (string, error) {
	st, err := client.OpenBidi[tagged, tagged](ctx, c, "Svc.Chat")
	if err != nil {
		return "", err
	}
	defer st.Close()
	for _, t := range texts {
		if err := st.Send(&tagged{Text: t}); err != nil {
			return "", err
		}
	}
	node := ""
	for _, t := range texts {
		m, err := st.Recv()
		if err != nil {
			return node, err
		}
		if m.Text != t {
			return node, errors.New("got " + m.Text + ", want " + t)
		}
		node = m.Node
	}
	if err := st.CloseSend(); err != nil {
		return node, err
	}
	if _, err := st.Recv(); err != io.EOF {
		return node, err
	}
	return node, nil
}

func TestClusterStreamsBalanceAndHash(t *testing.T) {
	nodes := []*streamNode{startStreamNode(t, "a", false), startStreamNode(t, "b", false), startStreamNode(t, "c", false)}
	c := streamCluster(t, nodes)
	seen := map[string]int{}
	for range 9 {
		node, err := chatOnce(t.Context(), c, "x", "y")
		require.NoError(t, err)
		seen[node]++
	}
	assert.GreaterOrEqual(t, len(seen), 2, "round robin spreads the streams: %v", seen)

	hc := streamCluster(t, nodes, cluster.WithBalancer(balancer.ConsistentHash()))
	kctx := balancer.WithHashKey(t.Context(), "user-42")
	first, err := chatOnce(kctx, hc, "x")
	require.NoError(t, err)
	for range 5 {
		node, err := chatOnce(kctx, hc, "y")
		require.NoError(t, err)
		assert.Equal(t, first, node, "one key, one endpoint")
	}

	// The untyped form.
	st, err := c.NewStream(t.Context(), "Svc.Chat")
	require.NoError(t, err)
	require.NoError(t, st.Send(tagged{Text: "raw"}))
	var m tagged
	require.NoError(t, st.Recv(&m))
	assert.Equal(t, "raw", m.Text)
	require.NoError(t, st.Close())
}

// A stream refused before its handler ran moves to another endpoint, with
// the messages already sent; the caller never sees the refusal.
func TestClusterStreamRetriesNotExecuted(t *testing.T) {
	nodes := []*streamNode{startStreamNode(t, "a", true), startStreamNode(t, "b", false), startStreamNode(t, "c", false)}
	c := streamCluster(t, nodes)
	// Round robin picks the refusing node too, once it is ready: open
	// streams until one was moved (bounded).
	n := int64(0)
	for n < 9 || (c.StreamStats().Retried == 0 && n < 300) {
		node, err := chatOnce(t.Context(), c, "one", "two", "three")
		require.NoError(t, err)
		assert.NotEqual(t, "a", node)
		n++
	}
	st := c.StreamStats()
	assert.GreaterOrEqual(t, st.Retried, int64(1), "round robin picks the refusing node too: %+v", st)
	assert.Equal(t, n+st.Retried, st.Opened)
	assert.Equal(t, int64(0), st.Failed)
	assert.Equal(t, int64(0), nodes[0].handled.Load())
	assert.Equal(t, 3*n, nodes[1].handled.Load()+nodes[2].handled.Load())

	// With every endpoint refusing, the caller gets the refusal, not
	// executed, naming the endpoint.
	all := streamCluster(t, []*streamNode{startStreamNode(t, "d", true), startStreamNode(t, "e", true)})
	_, err := chatOnce(t.Context(), all, "x")
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err), "%v", err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	assert.Contains(t, err.Error(), "takes no streams")
	assert.Contains(t, err.Error(), "endpoint 127.0.0.1:")
}

// A stream whose handler started stays on its endpoint: when that
// endpoint dies, the caller gets the failure, with the endpoint named.
func TestClusterStreamBrokenAfterStart(t *testing.T) {
	nodes := []*streamNode{startStreamNode(t, "a", false)}
	c := streamCluster(t, nodes)
	st, err := client.OpenBidi[tagged, tagged](t.Context(), c, "Svc.Chat")
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.Send(&tagged{Text: "hi"}))
	_, err = st.Recv()
	require.NoError(t, err)
	nodes[0].kill()
	_, err = st.Recv()
	require.Error(t, err)
	assert.False(t, ferry.NotExecuted(err))
	assert.Contains(t, err.Error(), "endpoint "+nodes[0].addr+": ")
	assert.Equal(t, int64(1), c.StreamStats().Failed)
}

// TestClusterStreamsWhileOneDies is the figure: 16 goroutines open
// streams in a loop (two messages each) on a cluster of three while one
// node is killed; every stream either succeeds or fails with its
// endpoint named.
func TestClusterStreamsWhileOneDies(t *testing.T) {
	nodes := []*streamNode{startStreamNode(t, "a", false), startStreamNode(t, "b", false), startStreamNode(t, "c", false)}
	c := streamCluster(t, nodes)
	var ok, failed atomic.Int64
	progress := make(chan struct{}, 1)
	var mu sync.Mutex
	var errs []string
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 100000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := chatOnce(t.Context(), c, "x", "y"); err != nil {
					failed.Add(1)
					mu.Lock()
					errs = append(errs, err.Error())
					mu.Unlock()
					continue
				}
				ok.Add(1)
				select {
				case progress <- struct{}{}:
				default:
				}
			}
		}()
	}
	waitFor := func(n int64) {
		timeout := time.After(20 * time.Second)
		for ok.Load() < n {
			select {
			case <-progress:
			case <-timeout:
				return
			}
		}
	}
	waitFor(200)
	nodes[1].kill()
	before := ok.Load()
	waitFor(before + 400)
	close(stop)
	wg.Wait()
	st := c.StreamStats()
	t.Logf("figure: cluster of 3, node b killed while 16 goroutines open streams in a loop: %d streams completed, %d failed to the caller, %d opens moved to another endpoint; stats %+v",
		ok.Load(), failed.Load(), st.Retried, st)
	assert.Greater(t, ok.Load(), before, "streams go on after the kill")
	for _, e := range errs {
		assert.True(t, strings.Contains(e, "endpoint 127.0.0.1:"), "a failure names its endpoint: %s", e)
	}
}
