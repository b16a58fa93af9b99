package debug_test

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/debug"
	"github.com/ferryrpc/ferry/server"
)

// pipeClient serves s on one end of an in-memory pipe and returns a client
// on the other; over TCP it would be s.Serve and client.Dial.
func pipeClient(s *server.Server) (*client.Client, func()) {
	cc, sc := net.Pipe()
	served := make(chan struct{})
	go func() { defer close(served); _ = s.ServeConn(sc) }()
	c, err := client.New(cc)
	if err != nil {
		panic(err)
	}
	return c, func() { c.Close(); s.Close(); <-served }
}

func square(ctx context.Context, n *int) (*int, error) {
	if *n < 0 {
		return nil, ferry.NewError(ferry.CodeOutOfRange, "negative")
	}
	r := *n * *n
	return &r, nil
}

// Stats counts each method's calls, errors by code and latency; its
// Handler serves them as the /debug/ferry page (or JSON).
func ExampleStats() {
	st := debug.New()
	s := server.New(st.Option())
	_ = server.Handle(s, "Math.Square", square)
	c, done := pipeClient(s)
	defer done()

	for _, n := range []int{1, 2, -3} {
		_ = c.Call(context.Background(), "Math.Square", n, new(int))
	}
	for _, m := range st.Snapshot(s).Methods {
		fmt.Println(m.Name, m.Calls, m.Errors, m.Codes)
	}

	// Mount it beside your other debug handlers.
	mux := http.NewServeMux()
	mux.Handle("/debug/ferry", st.Handler(s))
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/debug/ferry?format=json", nil))
	fmt.Println(rec.Code, rec.Header().Get("Content-Type"))
	// Output:
	// Math.Square 3 1 map[out_of_range:1]
	// 200 application/json
}

// ServerLogger logs every call to a *slog.Logger: completed calls at
// Debug, failed ones at Warn.
func ExampleServerLogger() {
	logger := slog.New(slog.NewTextHandler(os.Stdout, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey || a.Key == "duration" || a.Key == "peer" {
				return slog.Attr{} // vary from run to run
			}
			return a
		},
	}))
	s := server.New(server.WithInterceptors(debug.ServerLogger(logger)))
	_ = server.Handle(s, "Math.Square", square)
	c, done := pipeClient(s)
	defer done()

	_ = c.Call(context.Background(), "Math.Square", 2, new(int))
	_ = c.Call(context.Background(), "Math.Square", -2, new(int))
	// Output:
	// level=WARN msg="ferry: served" method=Math.Square code=out_of_range err="ferry: out_of_range: negative"
}
