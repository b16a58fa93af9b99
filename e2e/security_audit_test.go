package e2e_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// TestSecurityAuditExamplePerIPBound checks, against the example server
// binary run with its defaults, SECURITY.md's "192 MiB Go memory limit, so
// 3,072 connections and 768 per IP" and "at a bound, a newcomer is served
// by closing ... a quiet one ... from the address holding the most
// connections, the one quiet the longest": 768 connections from
// 127.0.0.1 that each made a call and went quiet, then a 769th, which is
// served, and the first of them, quiet the longest, is closed while the
// last stays open.
func TestSecurityAuditExamplePerIPBound(t *testing.T) {
	srv := startArith(t, buildArithServer(t))
	const perIP = 768
	conns := make([]*rawConn, perIP)
	for i := range conns {
		conns[i] = dialRaw(t, srv.addr)
		r := conns[i].call(request(1, "Arith.Add", []any{i, 1}))
		require.Nil(t, r.err, "connection %d", i)
		require.EqualValues(t, i+1, r.result, "connection %d", i)
	}

	// The newcomer is refused until a connection has been quiet for
	// 250 ms: try for at most 5 s.
	served := false
	for attempt := 0; attempt < 50 && !served; attempt++ {
		served = addOnce(srv.addr)
	}
	require.True(t, served, "the 769th connection from 127.0.0.1 was never served")

	first, last := conns[0], conns[perIP-1]
	first.closedWithin(5 * time.Second)
	require.NoError(t, last.conn.SetReadDeadline(time.Now().Add(100*time.Millisecond)))
	_, err := last.r.ReadByte()
	var ne net.Error
	assert.True(t, errors.As(err, &ne) && ne.Timeout(), "the connection quiet the shortest stays open: %v", err)
}

// addOnce dials addr and calls Arith.Add as a plain MessagePack-RPC
// client, within 100 ms, and reports whether it got 7.
func addOnce(addr string) bool {
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(100 * time.Millisecond))
	if _, err := conn.Write(request(1, "Arith.Add", []any{3, 4})); err != nil {
		return false
	}
	var msg []any
	if err := msgpack.NewDecoder(conn).Decode(&msg); err != nil || len(msg) != 4 {
		return false
	}
	sum, ok := toUint(msg[3])
	return ok && sum == 7
}

// TestSecurityAuditNamedTests checks that the tests, benchmarks and fuzz
// targets SECURITY.md names for its figures exist where it says, and that
// its command for the in-process figures runs every test that measures
// one.
func TestSecurityAuditNamedTests(t *testing.T) {
	b, err := os.ReadFile("../SECURITY.md")
	require.NoError(t, err)
	doc := string(b)
	for _, c := range []struct{ name, dir string }{
		{"TestAttackAuditBusySessions", "."},
		{"BenchmarkConnLimitScan", "../server"},
		{"TestAttackIdleSessions", "."},
		{"FuzzDecodeAllocation", "../codec"},
		{"BenchmarkTokenMismatch", "../auth"},
		{"TestRotationUnderLoad", "../auth/pemfile"},
		{"TestAttacks", "../scripts/attack"},
	} {
		require.Contains(t, doc, "`"+c.name+"`")
		files, err := filepath.Glob(filepath.Join(c.dir, "*_test.go"))
		require.NoError(t, err)
		found := false
		for _, f := range files {
			src, err := os.ReadFile(f)
			require.NoError(t, err)
			found = found || strings.Contains(string(src), "\nfunc "+c.name+"(")
		}
		assert.True(t, found, "%s is not in %s", c.name, c.dir)
	}

	m := regexp.MustCompile("`go test -run '([^']+)' -v ./e2e/`").FindStringSubmatch(doc)
	require.NotNil(t, m, "SECURITY.md's command for the in-process figures")
	run := regexp.MustCompile(m[1])
	for _, name := range []string{
		"TestRefusedStreamsAreBounded",       // streams past MaxStreams
		"TestPartialMessagesAreBounded",      // streams each holding part of a 4 MiB request
		"TestUnreadRepliesAreBounded",        // 64 streams whose replies are never read
		"TestServerBudgetShedsTheLargest",    // server budget 32 MiB, 8 connections
		"TestPlainPartialMessages",           // 100 bare connections each sending 1 MiB
		"TestSessionDropDoesNotFreeze",       // dropping a session with 1,000 streams
		"TestIdleFloodDoesNotLockOutClients", // 200 idle one-byte connections
	} {
		assert.True(t, run.MatchString(name), "-run %q does not run %s", m[1], name)
	}
}
