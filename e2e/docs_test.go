package e2e_test

// The tests in the docs_*_test.go files check what README.md, PROTOCOL.md
// and SECURITY.md promise, against the example server the README and the
// attack tool use (examples/arith/server), built as a binary and run with
// its default options: from raw sockets with hand-built bytes, and through
// the Ferry client.

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// arithProc is a running examples/arith/server process.
type arithProc struct {
	cmd    *exec.Cmd
	addr   string
	stderr *lockedBuffer
	exited chan error // receives the result of cmd.Wait once
}

// lockedBuffer is a bytes.Buffer that the process's stderr copier and the
// test may use at once.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// cleanupM runs the tests, then removes what they built once for all.
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	defer builtArith.remove()
	return c.m.Run()
}

// builtBinary is a binary built once by the first test that needs it.
type builtBinary struct {
	once sync.Once
	dir  string
	bin  string
	err  error
}

// builtArith is the example server.
var builtArith builtBinary

func (b *builtBinary) remove() {
	if b.dir != "" {
		_ = os.RemoveAll(b.dir)
	}
}

// buildArithServer builds examples/arith/server once per test binary, or
// skips t when there is no go command.
func buildArithServer(t *testing.T) string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skip("no go command to build the example server with:", err)
	}
	b := &builtArith
	b.once.Do(func() {
		if b.dir, b.err = os.MkdirTemp("", "ferry-docs-"); b.err != nil {
			return
		}
		b.bin = filepath.Join(b.dir, "arith-server")
		out, err := exec.Command(goTool, "build", "-o", b.bin, "../examples/arith/server").CombinedOutput()
		if err != nil {
			b.err = fmt.Errorf("go build: %w: %s", err, out)
		}
	})
	require.NoError(t, b.err)
	return b.bin
}

// startArith starts the example server binary on 127.0.0.1:0 and returns
// once it printed its address. The process is killed at t's cleanup unless
// it has exited.
func startArith(t *testing.T, bin string, args ...string) *arithProc {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-addr", "127.0.0.1:0"}, args...)...)
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	p := &arithProc{cmd: cmd, stderr: &lockedBuffer{}, exited: make(chan error, 1)}
	cmd.Stderr = p.stderr
	require.NoError(t, cmd.Start())
	go func() { p.exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		select {
		case <-p.exited:
		case <-time.After(10 * time.Second):
			t.Error("the example server did not exit")
		}
	})
	line, err := bufio.NewReader(stdout).ReadString('\n')
	require.NoError(t, err, "stderr: %s", p.stderr)
	addr, ok := strings.CutPrefix(strings.TrimSpace(line), "listening on ")
	require.True(t, ok, "first line %q", line)
	p.addr = addr
	return p
}

// sigterm is what the example server stops gracefully on.
var sigterm = syscall.SIGTERM

// wait returns the process's exit error, or fails t if it does not exit
// within d.
func (p *arithProc) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-p.exited:
		p.exited <- err // for the cleanup
		return err
	case <-time.After(d):
		t.Fatalf("the server did not exit within %v; stderr: %s", d, p.stderr)
		return nil
	}
}

// rawConn is a TCP connection to a Ferry port on which the test writes
// hand-built bytes and reads whole msgpack values.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	t.Cleanup(func() { conn.Close() })
	return &rawConn{t: t, conn: conn, r: bufio.NewReaderSize(conn, 64<<10)}
}

func (c *rawConn) write(b ...[]byte) {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetWriteDeadline(time.Now().Add(10*time.Second)))
	for _, p := range b {
		_, err := c.conn.Write(p)
		require.NoError(c.t, err)
	}
}

// writeMay writes b, which the server may refuse part way: a write error
// is returned, not a failure.
func (c *rawConn) writeMay(b []byte) error {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetWriteDeadline(time.Now().Add(10*time.Second)))
	_, err := c.conn.Write(b)
	return err
}

// readRaw returns the next whole msgpack value the server sends, as bytes.
func (c *rawConn) readRaw() []byte {
	c.t.Helper()
	require.NoError(c.t, c.conn.SetReadDeadline(time.Now().Add(10*time.Second)))
	var raw msgpack.RawMessage
	require.NoError(c.t, msgpack.NewDecoder(c.r).Decode(&raw))
	return raw
}

// read returns the next message as a slice of its elements.
func (c *rawConn) read() []any {
	c.t.Helper()
	raw := c.readRaw()
	var msg []any
	require.NoError(c.t, msgpack.Unmarshal(raw, &msg), "% x", raw)
	return msg
}

// closedWithin asserts the server closes the connection within d without
// sending anything more, and returns how long it took.
func (c *rawConn) closedWithin(d time.Duration) time.Duration {
	c.t.Helper()
	took, n := c.discardUntilClosed(d)
	require.Zero(c.t, n, "bytes the server sent before closing")
	return took
}

// discardUntilClosed reads until the server closes the connection, for at
// most d, and returns how long it took and the bytes it read.
func (c *rawConn) discardUntilClosed(d time.Duration) (time.Duration, int64) {
	c.t.Helper()
	start := time.Now()
	require.NoError(c.t, c.conn.SetReadDeadline(start.Add(d)))
	n, err := io.Copy(io.Discard, c.r)
	var ne net.Error
	if err != nil {
		require.False(c.t, errorsAs(err, &ne) && ne.Timeout(), "the server did not close the connection within %v", d)
	}
	return time.Since(start), n
}

// enc encodes v with sorted map keys.
func enc(v any) []byte { return mustMarshal(v) }

// request encodes [0, msgid, method, params] (plus ext when given).
func request(msgid uint32, method string, params []any, ext ...map[string]any) []byte {
	msg := []any{0, msgid, method, params}
	if len(ext) > 0 {
		msg = append(msg, ext[0])
	}
	return enc(msg)
}

// notification encodes [2, method, params] (plus ext when given).
func notification(method string, params []any, ext ...map[string]any) []byte {
	msg := []any{2, method, params}
	if len(ext) > 0 {
		msg = append(msg, ext[0])
	}
	return enc(msg)
}

// rawRequest assembles a request from encoded pieces: the array header for
// 4 (or 5) elements, 0, then each piece as given.
func rawRequest(pieces ...[]byte) []byte {
	b := []byte{0x90 | byte(len(pieces)+1), 0x00}
	for _, p := range pieces {
		b = append(b, p...)
	}
	return b
}

// response is a decoded response: [1, msgid, error, result(, ext)].
type response struct {
	msgid  uint64
	err    any
	result any
	ext    map[string]any
	n      int // elements
}

func parseResponse(t *testing.T, msg []any) response {
	t.Helper()
	require.True(t, len(msg) == 4 || len(msg) == 5, "response %v", msg)
	require.EqualValues(t, 1, msg[0], "message type of %v", msg)
	r := response{err: msg[2], result: msg[3], n: len(msg)}
	id, ok := toUint(msg[1])
	require.True(t, ok, "msgid %T %v", msg[1], msg[1])
	r.msgid = id
	if len(msg) == 5 {
		m, ok := msg[4].(map[string]any)
		require.True(t, ok, "ext %T", msg[4])
		r.ext = m
	}
	return r
}

func toUint(v any) (uint64, bool) {
	switch x := v.(type) {
	case int8:
		return uint64(x), x >= 0
	case int16:
		return uint64(x), x >= 0
	case int32:
		return uint64(x), x >= 0
	case int64:
		return uint64(x), x >= 0
	case uint8:
		return uint64(x), true
	case uint16:
		return uint64(x), true
	case uint32:
		return uint64(x), true
	case uint64:
		return x, true
	}
	return 0, false
}

// code returns a response's ext "c", or 0.
func (r response) code() uint64 {
	c, _ := toUint(r.ext["c"])
	return c
}

// call writes a request and reads its response.
func (c *rawConn) call(req []byte) response {
	c.t.Helper()
	c.write(req)
	return parseResponse(c.t, c.read())
}

// binHeader returns a bin32 header for n bytes.
func binHeader(n int) []byte {
	b := []byte{0xc6, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(b[1:], uint32(n))
	return b
}

// str8 encodes s as a str8, whatever its length (< 256).
func str8(s string) []byte { return append([]byte{0xd9, byte(len(s))}, s...) }
