package e2e_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
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

// TestSecurityAuditFiguresTable checks SECURITY.md's figures table
// against its own summary and against the attack tool: every attack of
// scripts/attack has a row with one and with eight connections; "every
// row but one meets the targets in this run: RSS peak ≤ 256 MiB (at most
// 232 MiB), every fresh call within 2 s", the exception being
// plainpartial with eight connections, 2 of 50 probes over 2 s.
func TestSecurityAuditFiguresTable(t *testing.T) {
	b, err := os.ReadFile("../SECURITY.md")
	require.NoError(t, err)
	src, err := os.ReadFile("../scripts/attack/attacks.go")
	require.NoError(t, err)
	var attacks []string
	for _, m := range regexp.MustCompile(`(?m)^\t\{"([a-z0-9-]+)", `).FindAllStringSubmatch(string(src), -1) {
		if m[1] != "none" { // the baseline, no row
			attacks = append(attacks, m[1])
		}
	}
	require.Len(t, attacks, 15, "scripts/attack's attacks")

	row := regexp.MustCompile(`(?m)^\| ([a-z0-9-]+) \| (\d) \| [^|]+ \| (\d+) MiB, [\d.]+ s CPU, slowest Add (\d+) ms, (\d+) failed \|$`)
	rows := map[string]bool{}
	maxRSS := 0
	for _, m := range row.FindAllStringSubmatch(string(b), -1) {
		key := m[1] + "/" + m[2]
		rows[key] = true
		rss, slowest, failed := atoi(t, m[3]), atoi(t, m[4]), atoi(t, m[5])
		maxRSS = max(maxRSS, rss)
		assert.LessOrEqual(t, rss, 256, "%s: RSS peak", key)
		if key == "plainpartial/8" {
			assert.Equal(t, 2, failed, "%s: the exception, 2 of 50 probes", key)
			assert.Greater(t, slowest, 2000, key)
			continue
		}
		assert.Zero(t, failed, "%s: failed probes", key)
		assert.Less(t, slowest, 2000, "%s: slowest fresh call", key)
	}
	assert.Equal(t, 232, maxRSS, "at most 232 MiB")
	for _, a := range attacks {
		for _, conns := range []string{"1", "8"} {
			assert.True(t, rows[a+"/"+conns], "no row for %s with %s connections", a, conns)
		}
	}
	assert.Len(t, rows, 2*len(attacks), "rows for attacks the tool does not have")
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	require.NoError(t, err)
	return n
}

// TestSecurityAuditYamuxVersion checks "Session teardown: yamux v0.1.2
// makes every stream reader of a dropped session spin ...": that is the
// version go.mod requires.
func TestSecurityAuditYamuxVersion(t *testing.T) {
	doc, err := os.ReadFile("../SECURITY.md")
	require.NoError(t, err)
	mod, err := os.ReadFile("../go.mod")
	require.NoError(t, err)
	m := regexp.MustCompile(`yamux (v[\d.]+) makes every stream reader`).FindSubmatch(doc)
	require.NotNil(t, m)
	assert.Contains(t, string(mod), "github.com/hashicorp/yamux "+string(m[1])+"\n")
}
