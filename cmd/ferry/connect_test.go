package main

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/ferryrpc/ferry"
)

// silentServer accepts connections and never writes.
func silentServer(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	var conns []net.Conn
	go func() {
		defer close(done)
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			conns = append(conns, nc)
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		for _, nc := range conns {
			nc.Close()
		}
	})
	return l.Addr().String()
}

func TestCallTimeoutBoundsConnecting(t *testing.T) {
	addr := silentServer(t)
	start := time.Now()
	r := ferryCmd(t, "call", "-timeout", "300ms", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "accepted the connection but answered nothing within 300ms")
	assert.Less(t, time.Since(start), 5*time.Second, "bounded by -timeout, not the 10 s default")
}

func TestCallHTTPServerSaysWhatItFound(t *testing.T) {
	hs := httptest.NewServer(http.NotFoundHandler())
	defer hs.Close()
	// An HTTP server is silent to Ferry's first bytes (no request line);
	// ferry then asks it an HTTP question within what is left of -timeout.
	r := ferryCmd(t, "call", "-timeout", "1s", strings.TrimPrefix(hs.URL, "http://"), "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "is not a Ferry or MessagePack-RPC server: it is an HTTP server")
	// The HEAD question gets a 404. The session's own bytes may get an
	// answer first: its hello carries the call's remaining time, and when
	// one of those bytes is '\n' they end a request line that the HTTP
	// server refuses (CI run 21b).
	if !strings.Contains(r.stderr, `(it answered "HTTP/1.1 400 Bad Request")`) {
		assert.Contains(t, r.stderr, `(it answered "HTTP/1.0 404 Not Found")`)
	}
}

func TestCallNoParamsOverASession(t *testing.T) {
	addr := serve(t, newTestServer(t))
	for _, args := range [][]string{{"call", addr, "Echo.Echo"}, {"call", "-plain", addr, "Echo.Echo"}} {
		r := ferryCmd(t, args...)
		require.Equal(t, exitOK, r.code, r.stderr)
		assert.Equal(t, "null\n", r.stdout, "%q", args)
	}
}

func TestCallParamsFromStdinAndFile(t *testing.T) {
	addr := serve(t, newTestServer(t))
	var out, errb strings.Builder
	code := run(t.Context(), []string{"call", addr, "Arith.Add", "@-"}, &env{stdin: strings.NewReader("[5, 6]\n"), stdout: &out, stderr: &errb})
	require.Equal(t, exitOK, code, errb.String())
	assert.Equal(t, "11\n", out.String())

	path := filepath.Join(t.TempDir(), "params.json")
	require.NoError(t, os.WriteFile(path, []byte(`{"A": 40, "B": 2}`), 0o600))
	r := ferryCmd(t, "call", addr, "Arith.Add", "@"+path)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "42\n", r.stdout)

	r = ferryCmd(t, "call", addr, "Arith.Add", "@"+filepath.Join(t.TempDir(), "missing.json"))
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "no such file")
	r = ferryCmd(t, "call", addr, "Arith.Add", "@-") // no standard input in tests
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, "no standard input")
}

func TestCallPlainFallbackKeepsFerryForFerry(t *testing.T) {
	addr := serve(t, newTestServer(t))
	r := ferryCmd(t, "call", "-H", "tenant=acme", addr, "Echo.Header", `"tenant"`)
	require.Equal(t, exitOK, r.code, r.stderr)
	assert.Equal(t, "\"acme\"\n", r.stdout, "a Ferry server gets a session, with metadata")
}

// recordingServer accepts one connection, never writes, and sends what it
// read on the returned channel once the client closes the connection.
func recordingServer(t *testing.T) (string, <-chan []byte) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	got := make(chan []byte, 1)
	go func() {
		nc, err := l.Accept()
		l.Close()
		if err != nil {
			got <- nil
			return
		}
		defer nc.Close()
		_ = nc.SetReadDeadline(time.Now().Add(30 * time.Second))
		b, _ := io.ReadAll(io.LimitReader(nc, 1<<20))
		got <- b
	}()
	t.Cleanup(func() { l.Close() })
	return l.Addr().String(), got
}

// TestCallPlainSilentServerOneTimeout: with -plain, call first asks the
// server for the method's description; a server that does not answer
// within -timeout fails the call there, rather than being sent the call
// and waited for a second -timeout.
func TestCallPlainSilentServerOneTimeout(t *testing.T) {
	addr, got := recordingServer(t)
	r := ferryCmd(t, "call", "-plain", "-timeout", "200ms", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitCodeBase+int(ferry.CodeDeadlineExceeded), r.code, r.stderr)
	var sent []byte
	select {
	case sent = <-got:
	case <-t.Context().Done():
		t.Fatal("the connection stayed open")
	}
	assert.Contains(t, string(sent), "Introspect.Describe")
	assert.Equal(t, 1, strings.Count(string(sent), "Arith.Add"), "only in Introspect.Describe's params: the call itself is not sent")
}

// lineHTTPServer is an HTTP/1.0 server that, like Python's http.server,
// waits for a request's header lines and answers 404; it reports how many
// of its connections were open when each request was complete.
func lineHTTPServer(t *testing.T) (string, <-chan int) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var open atomic.Int64
	atRequest := make(chan int, 16)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			nc, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, nc)
			mu.Unlock()
			open.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer open.Add(-1)
				defer nc.Close()
				br := bufio.NewReader(io.LimitReader(nc, 1<<16))
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					if line == "\r\n" || line == "\n" {
						break
					}
				}
				atRequest <- int(open.Load())
				_, _ = io.WriteString(nc, "HTTP/1.0 404 Not Found\r\n\r\n")
			}()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		mu.Lock()
		for _, nc := range conns {
			nc.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return l.Addr().String(), atRequest
}

// TestCallHTTPProbeWhileSessionWaits: an HTTP server that waits for a
// request line is asked its HTTP question while the session's connection
// still waits for an answer, rather than after most of -timeout: when the
// question arrives, both connections are open.
func TestCallHTTPProbeWhileSessionWaits(t *testing.T) {
	addr, atRequest := lineHTTPServer(t)
	r := ferryCmd(t, "call", "-timeout", "1m", addr, "Arith.Add", "[1,2]")
	assert.Equal(t, exitFail, r.code)
	assert.Contains(t, r.stderr, `it is an HTTP server (it answered "HTTP/1.0 404 Not Found")`)
	require.Len(t, atRequest, 1)
	assert.Equal(t, 2, <-atRequest, "the session's connection and the HTTP question's")
}
