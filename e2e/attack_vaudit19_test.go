package e2e_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/hashicorp/yamux"
)

// v19PartialRequest is the start of an Echo.Echo request whose bin
// argument makes the whole message just under 4 MiB (MaxMessageSize),
// cut to its first n bytes.
func v19PartialRequest(msgid byte, n int) []byte {
	// the bin's size, 4 MiB - 64: 0x003fffc0
	b := []byte{0x94, 0x00, msgid, 0xa9}
	b = append(b, "Echo.Echo"...)
	b = append(b, 0x91, 0xc6, 0x00, 0x3f, 0xff, 0xc0) // size, big-endian
	for len(b) < n {
		b = append(b, byte(len(b)))
	}
	return b[:n]
}

// TestAttackVaudit19PartialMix: one session holds, at once, a partial
// request just under MaxMessageSize on its call stream, on as many more
// call streams as it can open, and on as many Echo.Chat streams (a stream
// message just under MaxMessageSize after the opening), each sent up to
// just under the stream window (1 MiB) and never finished, interleaved.
// The memory budget (a quarter of the 192 MiB limit, 48 MiB) ends the
// session; the RSS stays under its bound, fresh clients are served, and
// the server is alive after. Then eight such sessions at once.
func TestAttackVaudit19PartialMix(t *testing.T) {
	needAttacks(t)
	const part = 1<<20 - 64
	unary := v19PartialRequest(9, part)
	chat := append(append([]byte{0xc1}, request(0, "Echo.Chat", []any{}, map[string]any{})...), v16Bin(4<<20-64, 1)[:part]...)
	for _, sessions := range []int{1, 8} {
		t.Run(fmt.Sprint(sessions), func(t *testing.T) {
			s := besiege(t)
			sessionAttackers(t, s.p.addr, sessions, func(i int, a *attackSession) string {
				_ = a.call.SetWriteDeadline(time.Now().Add(2 * time.Second))
				_, err := a.call.Write(unary)
				var held []*yamux.Stream
				defer func() {
					for _, st := range held {
						st.Close()
					}
				}()
				calls, chats := 0, 0
				n := until(6*time.Second, 2048, func(k int) bool {
					st, err := a.sess.OpenStream()
					if err != nil {
						return false
					}
					held = append(held, st)
					_ = st.SetWriteDeadline(time.Now().Add(2 * time.Second))
					msg := unary
					if k%2 == 1 {
						msg = chat
					}
					if _, err := st.Write(msg); err != nil {
						return !a.sess.IsClosed()
					}
					if k%2 == 1 {
						chats++
					} else {
						calls++
					}
					return true
				})
				// Hold what was sent until the server ends the session, or 3 s.
				select {
				case <-a.sess.CloseChan():
				case <-time.After(3 * time.Second):
				}
				return fmt.Sprintf("first write %v; %d streams opened, %d call streams and %d chats took their part (%d MiB); session closed %t",
					err, n, calls, chats, (calls+chats)*part>>20, a.sess.IsClosed())
			})
			s.finish()
		})
	}
}
