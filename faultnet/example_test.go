package faultnet_test

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"github.com/ferryrpc/ferry/faultnet"
)

// A stalled connection blocks writes until the faults heal; deadlines
// still end the wait.
func Example() {
	a, b := net.Pipe()
	f := faultnet.New()
	conn := f.Conn(a)
	defer conn.Close()
	defer b.Close()

	f.Stall(faultnet.Out)
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Millisecond))
	_, err := conn.Write([]byte("hello"))
	fmt.Println("stalled:", errors.Is(err, os.ErrDeadlineExceeded))

	f.Heal()
	_ = conn.SetWriteDeadline(time.Time{})
	go func() { _, _ = conn.Write([]byte("hello")) }()
	buf := make([]byte, 5)
	_, _ = io.ReadFull(b, buf)
	fmt.Println("healed:", string(buf))
	// Output:
	// stalled: true
	// healed: hello
}
