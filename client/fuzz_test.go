package client_test

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/transport"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// The fuzz targets in this file feed a client what a hostile or broken
// server may send, in place of its answers: whatever the bytes, Dial, Call
// and Close return within their bounds, with nil or a *ferry.Error, and
// nothing panics.

// mp encodes v as one MessagePack value (seed building).
func mp(t testing.TB, vs ...any) []byte {
	var out []byte
	for _, v := range vs {
		b, err := msgpack.Marshal(v)
		require.NoError(t, err)
		out = append(out, b...)
	}
	return out
}

// readRequest reads one request the client sent and returns its msgid.
func readRequest(r *bufio.Reader) (uint32, error) {
	if b, err := r.Peek(1); err == nil && b[0] == 0xc1 {
		_, _ = r.ReadByte() // a stream's marker byte
	}
	var req []any
	if err := msgpack.NewDecoder(r).Decode(&req); err != nil {
		return 0, err
	}
	if len(req) < 2 {
		return 0, errors.New("not a request")
	}
	var id uint32
	switch v := req[1].(type) {
	case int8:
		id = uint32(v)
	case uint8:
		id = uint32(v)
	case int16:
		id = uint32(v)
	case uint16:
		id = uint32(v)
	case int32:
		id = uint32(v)
	case uint32:
		id = v
	case int64:
		id = uint32(v)
	case uint64:
		id = uint32(v)
	}
	return id, nil
}

// closeBounded closes c, which must return within 10 s.
func closeBounded(t *testing.T, c *client.Client) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- c.Close() }()
	select {
	case err := <-done:
		checkErr(t, "Close", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not return within 10 s")
	}
}

// checkErr fails unless err is nil or a *ferry.Error.
func checkErr(t *testing.T, what string, err error) {
	t.Helper()
	var fe *ferry.Error
	if err != nil && !errors.As(err, &fe) {
		t.Fatalf("%s: an error that is no *ferry.Error: %T %v", what, err, err)
	}
}

// callBounded makes one call that must return within its 2 s deadline
// and a margin.
func callBounded(t *testing.T, c *client.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		var sum int
		done <- c.Call(ctx, "Arith.Add", []int{1, 2}, &sum)
	}()
	select {
	case err := <-done:
		t.Logf("Call: %v", err)
		checkErr(t, "Call", err)
	case <-time.After(10 * time.Second):
		t.Fatal("Call did not return within 10 s with a 2 s deadline")
	}
}

// FuzzPlainClientReplies: a bare MessagePack-RPC client (the engine a
// session client uses too) calls Arith.Add; the server reads the request
// and answers with the fuzzer's bytes, then closes the connection.
func FuzzPlainClientReplies(f *testing.F) {
	for _, seed := range [][]byte{
		mp(f, []any{1, 1, nil, 3}),                             // the answer
		mp(f, []any{1, 1, "boom", nil}),                        // a plain error
		mp(f, []any{1, 1, map[string]any{"code": 3}, nil}),     // an error map
		mp(f, []any{1, 9, nil, 3}, []any{1, 1, nil, 3}),        // a stray reply first
		mp(f, []any{2, "note", []any{1}}, []any{1, 1, nil, 3}), // a notification first
		mp(f, []any{0, 7, "Peer.Call", []any{}}, []any{1, 1, nil, 3}),
		mp(f, []any{1, 1, nil, "not an int"}),
		mp(f, []any{1, 1, nil}),
		{0x94, 0x01, 0x01, 0xc0},                               // cut short
		{0x94, 0x01, 0x01, 0xc0, 0xdb, 0xff, 0xff, 0xff, 0xff}, // a str of 4 GiB declared
		{0xdd, 0xff, 0xff, 0xff, 0xff},                         // an array of 4 G elements declared
		{0xc1},
		{},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply []byte) {
		cc, sc := net.Pipe()
		var served sync.WaitGroup
		defer served.Wait()
		defer sc.Close()
		served.Add(1)
		go func() {
			defer served.Done()
			defer sc.Close()
			_ = sc.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(sc)
			if _, err := readRequest(r); err != nil {
				return
			}
			// Take whatever the client writes back (answers to requests
			// in the reply) while the reply goes out: a pipe holds
			// nothing, and a client blocked writing would stop reading.
			served.Add(1)
			go func() {
				defer served.Done()
				_, _ = io.Copy(io.Discard, r)
			}()
			_, _ = sc.Write(reply)
		}()
		c, err := client.New(cc, client.WithPlainMsgpackRPC())
		require.NoError(t, err)
		callBounded(t, c)
		closeBounded(t, c)
	})
}

// peerHandlers registers the methods a server may call on the fuzzed
// session client: "Peer.Add" takes two ints, "Peer.Echo" any value.
func peerHandlers(c *client.Client) error {
	if err := client.Handle(c, "Peer.Add", func(_ context.Context, a *[2]int) (*int, error) {
		sum := a[0] + a[1]
		return &sum, nil
	}); err != nil {
		return err
	}
	return client.Handle(c, "Peer.Echo", func(_ context.Context, v *any) (*any, error) { return v, nil })
}

// FuzzSessionClientReplies: a session client dials a server that runs a
// real session and reads the client's hello. The input's first byte
// chooses what the fuzzer's bytes (the rest) answer: even, the hello
// itself; odd, the call that follows a valid answer. The client serves
// two methods the bytes may call (peer mode). Then the server ends
// the call stream (a valid answer to the hello is then followed by a call
// that fails: the odd inputs cover calls). The bytes may hold more than
// one answer: requests, notifications, control messages, stray replies.
func FuzzSessionClientReplies(f *testing.F) {
	hello := []any{1, 1, nil, map[string]any{}}
	for _, seed := range [][]byte{
		append([]byte{0}, mp(f, hello)...),
		append([]byte{0}, mp(f, hello, []any{2, "$ferry.goaway", []any{}})...),
		append([]byte{0}, mp(f, []any{1, 1, nil, map[string]any{"max": 1024, "depth": 4}})...),
		append([]byte{0}, mp(f, []any{1, 1, nil, map[string]any{"depth": []any{"x"}, "max": -1}})...),
		append([]byte{0}, mp(f, []any{1, 1, "who are you", nil, map[string]any{"c": 16, "n": true}})...),
		append([]byte{0}, mp(f, []any{1, 1, "refused", nil})...),
		append([]byte{0}, mp(f, []any{1, 1, nil, "not a map"})...),
		append([]byte{0}, mp(f, []any{1, 7, nil, map[string]any{}})...),
		append([]byte{0}, mp(f, []any{1, 1, "x", nil, map[string]any{"c": "not a code"}})...),
		{0, 0x94, 0x01, 0x01, 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff}, // a map of 4 G pairs declared
		{0, 0xc1},
		{0},
		append([]byte{1}, mp(f, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{1, 2, "no", nil, map[string]any{"c": 8, "d": map[string]any{"k": "v"}}})...),
		append([]byte{1}, mp(f, []any{1, 2, "no", nil, nil})...),
		append([]byte{1}, mp(f, []any{1, 2, "no", nil, []any{1}})...),
		append([]byte{1}, mp(f, []any{2, "$ferry.goaway", []any{}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{0, 5, "$ferry.hello", []any{map[string]any{}}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{0, 5, "Peer.Call", []any{1}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{0, 5, "Peer.Add", []any{[]any{1, 2}}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{0, 6, "Peer.Add", []any{"x"}, map[string]any{"t": 1000}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{0, 7, "Peer.Echo", []any{map[string]any{"a": []any{1, "b", nil}}}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{2, "Peer.Add", []any{[]any{1, 2}}}, []any{1, 2, nil, 3})...),
		append([]byte{1}, mp(f, []any{2, "$ferry.cancel", []any{2}}, []any{1, 2, nil, 3})...),
		{1, 0x95, 0x01, 0x02, 0xa1, 'x', 0xc0, 0xdf, 0xff, 0xff, 0xff, 0xff},
		{1},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) == 0 {
			return
		}
		answerCall, bytes := input[0]&1 == 1, input[1:]
		cc, sc := net.Pipe()
		defer sc.Close()
		var served sync.WaitGroup
		served.Add(1)
		go func() {
			defer served.Done()
			defer sc.Close()
			cfg := yamux.DefaultConfig()
			cfg.LogOutput = io.Discard
			sess, err := yamux.Server(sc, cfg)
			if err != nil {
				return
			}
			defer sess.Close()
			st, err := sess.Accept()
			if err != nil {
				return
			}
			_ = st.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(st)
			id, err := readRequest(r)
			if err != nil {
				return
			}
			if answerCall {
				if _, err := st.Write(mp(t, []any{1, id, nil, map[string]any{}})); err != nil {
					return
				}
				if _, err := readRequest(r); err != nil {
					return
				}
			}
			served.Add(1)
			go func() { // whatever the client sends back
				defer served.Done()
				_, _ = io.Copy(io.Discard, r)
			}()
			_, _ = st.Write(bytes)
			_ = st.Close()
		}()
		cfg := transport.DefaultConfig()
		cfg.StreamOpenTimeout = time.Second // New waits at most this for the hello's answer
		start := time.Now()
		c, err := client.New(cc, client.WithConfig(cfg), client.WithHandlers(peerHandlers))
		if elapsed := time.Since(start); elapsed > 5*time.Second {
			t.Fatalf("New took %v with a 1 s StreamOpenTimeout", elapsed)
		}
		if err != nil {
			t.Logf("New: %v", err)
			checkErr(t, "New", err)
		} else {
			callBounded(t, c)
			closeBounded(t, c)
		}
		sc.Close()
		served.Wait()
	})
}
