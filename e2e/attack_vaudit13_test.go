package e2e_test

// Memory the server keeps for as long as a connection lives, charged to
// no budget, that grows with what the peer once sent or was sent: checks
// of SECURITY.md's "memory held for one connection" and "memory held for
// all connections" rows from raw sessions, in process (heap after a
// collection) and against the example server (its RSS).

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/examples/arith/arith"
	"github.com/ferryrpc/ferry/server"
	"github.com/hashicorp/yamux"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// audit13Value is the size of the bin each Echo.Echo here sends: just
// under MaxMessageSize (4 MiB) with its envelope.
const audit13Value = 4<<20 - 1<<10

// audit13Session opens a session by hand, with a client whose streams
// grant the server window bytes each at once, and says hello on its first
// stream.
func audit13Session(t *testing.T, addr string, window uint32) *wireSession {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	require.NoError(t, err)
	cfg := yamux.DefaultConfig()
	cfg.EnableKeepAlive = false
	cfg.LogOutput = io.Discard
	cfg.MaxStreamWindowSize = window
	sess, err := yamux.Client(conn, cfg)
	require.NoError(t, err)
	t.Cleanup(func() { sess.Close() })
	s := &wireSession{t: t, sess: sess}
	s.call = s.open()
	s.call.write(request(1, "$ferry.hello", []any{map[string]any{}}, map[string]any{}))
	r := parseResponse(t, s.call.read())
	require.Nil(t, r.err)
	return s
}

// audit13Echo calls Echo.Echo with a bin of audit13Value bytes on st,
// written in pieces of 64 KiB (so that this side's yamux keeps no large
// buffer either), reads the reply, and lets st's receive buffer go.
func audit13Echo(t *testing.T, st *wireStream, id uint32) {
	t.Helper()
	require.NoError(t, audit13TryEcho(st, id))
}

// audit13TryEcho is audit13Echo returning what went wrong.
func audit13TryEcho(st *wireStream, id uint32) error {
	req := wholeEcho(id, audit13Value)
	if err := st.st.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		return err
	}
	for off := 0; off < len(req); off += 64 << 10 {
		if _, err := st.st.Write(req[off:min(len(req), off+64<<10)]); err != nil {
			return err
		}
	}
	var msg []any
	if err := msgpack.NewDecoder(st.r).Decode(&msg); err != nil {
		return err
	}
	if len(msg) != 4 || msg[2] != nil {
		return fmt.Errorf("the reply %.200v", msg)
	}
	if b, _ := msg[3].([]byte); len(b) != audit13Value {
		return fmt.Errorf("a reply of %d bytes", len(b))
	}
	st.r = bufio.NewReader(st.st)
	st.st.Shrink()
	return nil
}

// audit13Server serves the example's services in process, with the
// server's defaults.
func audit13Server(t *testing.T) (*server.Server, string) {
	t.Helper()
	s := server.New()
	require.NoError(t, arith.Register(s))
	t.Cleanup(func() { s.Close() })
	return s, listen(t, s)
}

// TestAudit13StreamsKeepNoLargeValue: a call stream that served one call
// with a 4 MiB codec.Raw argument (Echo.Echo) keeps nothing of it once
// the reply is written. The decoder each stream keeps for its life kept
// the msgpack library's buffer, grown to the largest str or bin it read,
// and the last message's buffer: 16 such streams in one session held
// 141 MiB of heap after a collection (48 held 356 MiB), charged to no
// budget, with the connection's budget 64 MiB and nothing charged.
func TestAudit13StreamsKeepNoLargeValue(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB over loopback")
	}
	const streams = 16
	s, addr := audit13Server(t)
	_, h0 := settle()
	sess := audit13Session(t, addr, 256<<10)
	for i := range streams {
		audit13Echo(t, sess.open(), uint32(i+2))
	}
	require.Eventually(t, func() bool { return memoryInUse(s) < 1<<20 }, 5*time.Second, 10*time.Millisecond,
		"the calls' charges are released")
	grew, used := heapGrowth(h0), memoryInUse(s)
	t.Logf("%d call streams that each echoed %d bytes: heap %+.1f MiB, budget in use %.1f MiB",
		streams, audit13Value, float64(grew)/(1<<20), float64(used)/(1<<20))
	// The shared buffer pools hold up to 16 MiB between two collections
	// (internal/wire), the session and its streams a few KiB each.
	assert.Less(t, grew-used, int64(24<<20), "held for the streams beyond what the budget charges")
}

// TestAudit13IdleSessionsKeepNoLargeFrame: a session whose peer granted
// a large window and once received a 4 MiB reply keeps no buffer of that
// size while idle. yamux's send loop copies each frame's data into a
// buffer it keeps, as large as the largest frame, for the session's life;
// a frame was as large as the write, up to the window the peer grants:
// 16 idle sessions held 64 MiB (32 held 128 MiB in the example server),
// charged to no budget. Frames of at most 1 MiB bound it: each session
// may keep that much (SECURITY.md), and 16 MiB of slack besides.
func TestAudit13IdleSessionsKeepNoLargeFrame(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 128 MiB over loopback")
	}
	const sessions = 16
	s, addr := audit13Server(t)
	_, h0 := settle()
	for range sessions {
		sess := audit13Session(t, addr, 16<<20)
		audit13Echo(t, sess.call, 2)
	}
	require.Eventually(t, func() bool { return memoryInUse(s) < 1<<20 }, 5*time.Second, 10*time.Millisecond,
		"the calls' charges are released")
	grew, used := heapGrowth(h0), memoryInUse(s)
	t.Logf("%d idle sessions that each echoed %d bytes: heap %+.1f MiB, budget in use %.1f MiB",
		sessions, audit13Value, float64(grew)/(1<<20), float64(used)/(1<<20))
	assert.Less(t, grew-used, int64(sessions<<20+16<<20), "held for idle sessions beyond what the budget charges")
}

// TestAttackAudit13LargeValuesLeaveNothing runs both of the above against
// the example server, with a 64 MiB Go memory limit (-memlimit; its
// memory budget is then 16 MiB): 32 sessions granting 16 MiB windows
// each echo one 4 MiB value and stay open. What they leave is the
// sessions' own few KiB each, so the server's RSS must stay within the
// memory limit and 48 MiB of slack, and a fresh call must succeed. Before
// frames were bounded the sessions kept 128 MiB of heap and the peak
// passed 170 MiB; before the decoder kept no large value too, 32 sessions
// kept 367 MiB (with the default 192 MiB limit, RSS 379 MiB).
func TestAttackAudit13LargeValuesLeaveNothing(t *testing.T) {
	needAttacks(t)
	if testing.Short() {
		t.Skip("moves 256 MiB over loopback")
	}
	const sessions, memLimit = 32, 64 << 20
	srv := startArith(t, buildArithServer(t), "-memlimit", fmt.Sprint(memLimit))
	pid := srv.cmd.Process.Pid
	start := time.Now()
	shed := 0
	for range sessions {
		// The server's budget (16 MiB) may shed a session whose call
		// arrives while the previous one's reply is still charged: it
		// then ends the session; another one takes its place.
		for try := 0; ; try++ {
			sess := audit13Session(t, srv.addr, 16<<20)
			err := audit13TryEcho(sess.call, 2)
			if err == nil {
				break
			}
			require.Less(t, try, 3, "session after session was shed: %v", err)
			shed++
			sess.sess.Close()
		}
	}
	took, err := probeAdd(srv.addr)
	require.NoError(t, err, "a fresh call with the sessions open")
	rss, err := procStatus(pid, "VmRSS")
	require.NoError(t, err)
	hwm, err := procStatus(pid, "VmHWM")
	require.NoError(t, err)
	t.Logf("%d sessions (%d more shed), one %d-byte echo each, in %v: RSS %.0f MiB, peak %.0f MiB; a fresh Add took %v",
		sessions, shed, audit13Value, time.Since(start).Round(time.Millisecond), float64(rss)/(1<<20),
		float64(hwm)/(1<<20), took.Round(time.Millisecond))
	assert.Less(t, hwm, int64(memLimit+48<<20), "the example server's RSS peak")
}

// TestAudit13IdleCallStreamsCharged: a session call stream that served a
// call and went idle keeps its engine (reader, writer, decoder, context,
// Peer) for as long as the stream is open, and that is charged to the
// connection's budget. The transport charged 1 KiB a stream and nothing
// else did: 2,000 idle call streams grew this process's heap by 6.5 KiB a
// stream (about 4.2 KiB of it the server's, by its heap profile, the rest
// this side's yamux streams) with 1.0 KiB charged; now 4.0 KiB is. In the
// example server 44,000 of them over 44 sessions held 180 MiB of heap
// with 42 MiB charged, against a budget of 48 MiB (RSS 204 MiB, over its
// 192 MiB Go memory limit).
func TestAudit13IdleCallStreamsCharged(t *testing.T) {
	const sessions, streams = 2, 1000
	s, addr := audit13Server(t)
	_, h0 := settle()
	req := request(9, "Arith.Add", []any{1, 2}, map[string]any{})
	var buf [64]byte
	for range sessions {
		sess := audit13Session(t, addr, 256<<10)
		for range streams {
			st, err := sess.sess.OpenStream()
			require.NoError(t, err)
			require.NoError(t, st.SetDeadline(time.Now().Add(5*time.Second)))
			_, err = st.Write(req)
			require.NoError(t, err)
			_, err = st.Read(buf[:])
			require.NoError(t, err)
		}
	}
	require.Eventually(t, func() bool { return streamsOpen(s) >= sessions*(streams+1) }, 5*time.Second, time.Millisecond)
	// Idle, each stream's reader parks (after 250 ms) and gives back its
	// 8 KiB: the charges stop changing.
	var last, same atomic.Int64
	require.Eventually(t, func() bool {
		if u := memoryInUse(s); last.Swap(u) != u {
			same.Store(0)
			return false
		}
		return same.Add(1) >= 50
	}, 10*time.Second, 10*time.Millisecond, "the readers park")
	grew, used := heapGrowth(h0), memoryInUse(s)
	per := func(n int64) float64 { return float64(n) / (sessions * streams) / (1 << 10) }
	t.Logf("%d idle call streams: heap %.1f KiB a stream (both sides), %.1f KiB charged",
		sessions*streams, per(grew), per(used))
	// This side's yamux streams hold about 2 KiB each of the growth.
	assert.Less(t, per(grew-used), 3.5, "KiB a stream held beyond what the budget charges")
}
