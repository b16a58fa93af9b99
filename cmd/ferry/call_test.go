package main

import (
	"net"
	"testing"

	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCallParamsLikeAPythonClient(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, mode := range [][]string{nil, {"-plain"}} {
		for _, tc := range []struct {
			method, json, want string
		}{
			{"Arith.Add", `[3,4]`, "7\n"},                                     // the params array as is
			{"Arith.Add", `{"A":6,"B":7}`, "13\n"},                            // a single param
			{"Arith.Add", `[{"A":1,"B":2}]`, "3\n"},                           // the same, explicitly
			{"Arith.Add", ``, "0\n"},                                          // no params: zero args
			{"Arith.Add", `[]`, "0\n"},                                        // the same
			{"Echo.Echo", `[[1,2,3]]`, "[\n  1,\n  2,\n  3\n]\n"},             // one array param
			{"Echo.Echo", `"hi"`, "\"hi\"\n"},                                 // a scalar param
			{"Echo.Echo", `-5`, "-5\n"},                                       // a negative number is not a flag
			{"Echo.Echo", `[18446744073709551615]`, "18446744073709551615\n"}, // uint64 stays exact
		} {
			args := append(append([]string{"call"}, mode...), addr, tc.method)
			if tc.json != "" {
				args = append(args, tc.json)
			}
			r := ferryCmd(t, args...)
			assert.Equal(t, exitOK, r.code, "%v: %s", args, r.stderr)
			assert.Equal(t, tc.want, r.stdout, "%v", args)
		}
	}
}

func TestCallCompactAndOrder(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "call", addr, "Echo.Echo", `{"z":1,"a":{"y":[true,null],"b":-9223372036854775808},"m":1.5}`, "-compact")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, `{"z":1,"a":{"y":[true,null],"b":-9223372036854775808},"m":1.5}`+"\n", r.stdout)
}

func TestCallErrorsExitWithTheirCode(t *testing.T) {
	addr := serve(t, newTestServer(t))

	r := ferryCmd(t, "call", addr, "Arith.Div", "[1,0]")
	assert.Equal(t, 13, r.code)
	assert.Contains(t, r.stderr, "ferry: invalid_argument: division by zero")
	assert.Contains(t, r.stderr, "field: B")
	assert.Empty(t, r.stdout)

	r = ferryCmd(t, "call", addr, "No.Such", "[]")
	assert.Equal(t, 22, r.code)

	// Plain MessagePack-RPC carries no codes: every error is unknown.
	r = ferryCmd(t, "call", "-plain", addr, "Arith.Div", "[1,0]")
	assert.Equal(t, 12, r.code)
	assert.Contains(t, r.stderr, "division by zero")

	// The deadline reaches the server, which ends the handler.
	// -timeout bounds connecting too: leave room for a loaded machine.
	r = ferryCmd(t, "call", "-timeout", "400ms", addr, "Echo.Wait")
	assert.Equal(t, 14, r.code, r.stderr)
	assert.Contains(t, r.stderr, "deadline_exceeded")
}

func TestCallTransportAndInputErrorsExit1(t *testing.T) {
	r := ferryCmd(t, "call", closedAddr(t), "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "connection refused")

	addr := serve(t, newTestServer(t))
	for _, bad := range []string{`[1,`, `{"a":1} 2`, `123456789012345678901234567890`, `nope`} {
		r = ferryCmd(t, "call", addr, "Echo.Echo", bad)
		assert.Equal(t, exitFail, r.code, bad)
		assert.Contains(t, r.stderr, "invalid JSON", bad)
	}
}

func TestCallMetadata(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "call", "-H", "tenant=acme", "-H", "x=y=z", addr, "Echo.Header", `"tenant"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"acme\"\n", r.stdout)
	r = ferryCmd(t, "call", "-H", "x=y=z", addr, "Echo.Header", `"x"`)
	assert.Equal(t, "\"y=z\"\n", r.stdout)

	r = ferryCmd(t, "call", "-plain", "-H", "tenant=acme", addr, "Echo.Header", `"tenant"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"\"\n", r.stdout)
	assert.Contains(t, r.stderr, "plain MessagePack-RPC sends no metadata; -H ignored")

	assert.Equal(t, exitFail, ferryCmd(t, "call", "-H", "novalue", addr, "Echo.Header").code)
}

// rawServer is a bare MessagePack-RPC server speaking like Neovim: before
// answering a request it sends a notification and calls the client, and
// it answers errors as [type, message] arrays. It serves one connection.
func rawServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	go func() {
		defer close(done)
		nc, err := l.Accept()
		if err != nil {
			return
		}
		defer nc.Close()
		r := wire.NewReader(nc, wire.Limits{MaxMessage: 1 << 20, MaxDepth: 32})
		for {
			b, err := r.Next()
			if err != nil {
				return
			}
			m, err := wire.Parse(b)
			if err != nil || m.Type != wire.TypeRequest {
				continue // the client's answer to our call
			}
			note := msgpack.AppendString(append(msgpack.AppendArrayHeader(nil, 3), wire.TypeNotification), "redraw")
			note = msgpack.AppendArrayHeader(note, 0)
			call := msgpack.AppendUint(append(msgpack.AppendArrayHeader(nil, 4), wire.TypeRequest), 99)
			call = msgpack.AppendArrayHeader(msgpack.AppendString(call, "client.method"), 0)
			resp := msgpack.AppendUint(append(msgpack.AppendArrayHeader(nil, 4), wire.TypeResponse), uint64(m.ID))
			if string(m.Method) == "fail" {
				resp = msgpack.AppendString(append(msgpack.AppendArrayHeader(resp, 2), 0x00), "Vim:E121: Undefined variable: x")
				resp = msgpack.AppendNil(resp)
			} else {
				resp = append(msgpack.AppendNil(resp), m.Params...) // echo the params array
			}
			if _, err := nc.Write(append(append(note, call...), resp...)); err != nil {
				return
			}
		}
	}()
	t.Cleanup(func() { l.Close(); <-done })
	return l.Addr().String()
}

func TestCallPlainAgainstANonFerryServer(t *testing.T) {
	addr := rawServer(t)
	r := ferryCmd(t, "call", "-plain", "-compact", addr, "nvim_buf_get_lines", "[0,0,-1,false]")
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "[0,0,-1,false]\n", r.stdout, "four params, sent as they are")

	addr = rawServer(t)
	r = ferryCmd(t, "call", "-plain", addr, "fail")
	assert.Equal(t, 12, r.code)
	assert.Contains(t, r.stderr, `ferry: unknown: [0,"Vim:E121: Undefined variable: x"]`)
}

func TestCallFerryAgainstANonFerryServerHintsPlain(t *testing.T) {
	addr := rawServer(t) // reads Ferry's handshake as garbage and hangs up
	r := ferryCmd(t, "call", addr, "nvim_eval", `["1+2"]`)
	// Exit 1 when the handshake fails (no connection), 24 when the
	// connection is lost at the first call: either way, a hint.
	assert.Contains(t, []int{exitFail, 24}, r.code, r.stderr)
	assert.Contains(t, r.stderr, "needs -plain")
}
