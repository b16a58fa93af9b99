// Package debug shows what a Ferry server is doing, for people: a
// /debug/ferry HTTP page in the spirit of net/http/pprof and gRPC's
// channelz, and slog-based logging interceptors.
//
// Stats counts every call through a server interceptor: calls, errors by
// code, calls in flight and handler-time percentiles per method, calls per
// connection, and calls per second over the last minute; through a hook
// (server.WithRefused) the calls refused before any handler ran (arguments
// that do not decode or fit, unknown methods, limits, authentication), per
// method and code; and, with ClientInterceptor, the calls a side makes.
// And every streaming call through a stream interceptor
// (StreamInterceptor): per streaming method, the streams open now and
// opened, messages received and sent by the handlers, errors by code and
// duration percentiles; and the calls denied (permission_denied, from an
// authorization policy such as auth.Policy installed after it). Its
// Handler renders them, with the server's
// connections and registered methods, as one self-contained HTML page
// (inline CSS and SVG charts, no scripts, no external assets), or as JSON
// with ?format=json:
//
//	st := debug.New()
//	s := server.New(st.Option())
//	// ... register services, Serve ...
//	mux := http.NewServeMux()
//	mux.Handle("/debug/ferry", st.Handler(s))
//	go http.ListenAndServe("127.0.0.1:6060", mux)
//
// Serve the page on a loopback or otherwise private address: it shows
// client addresses and method names.
//
// ServerLogger and ClientLogger log each call to a *slog.Logger. Like the
// rest of Ferry they are silent unless given a logger.
//
// The page's latency histograms (log-linear buckets, 16 per power of two,
// quantiles within 6.25 %) are the same implementation as the ferry CLI's
// bench report; the chart shows them in 20 log-scaled bars, fastest to
// slowest.
package debug
