// Command ferry calls, inspects and load-tests Ferry servers and any other
// MessagePack-RPC server from the shell: JSON in, MessagePack on the wire,
// JSON out. Install it with
//
//	go install github.com/ferryrpc/ferry/cmd/ferry@latest
//
// Commands:
//
//	ferry call ADDR Service.Method ['<json>'|@FILE|@-] call once, print the result as JSON (a stream: each message)
//	ferry list ADDR                                    services and methods (introspection)
//	ferry describe ADDR Service.Method|Service         argument and reply shapes (introspection)
//	ferry bench ADDR Service.Method ['<json>'] [-c 64] [-n 100000 | -d 30s] [-o text|json|csv]
//	ferry health ADDR [service]                        Health.Check; exit 0 only when SERVING
//	ferry version
//
// Flags may come before or after the arguments; "--" ends them, and a
// negative number such as -5 is taken as an argument.
//
// # Params
//
// A JSON array is the call's params array as it is, so '[3,4]' calls
// Arith.Add with a=3, b=4 exactly like a Python client's
// client.call("Arith.Add", 3, 4). Any other JSON value is the single
// param: '{"A":3,"B":4}' sends [{"A":3,"B":4}]. To pass one array as the
// single param, wrap it: '[[1,2,3]]'. No JSON (or "") sends no params,
// over a session as over bare MessagePack-RPC. @FILE reads the JSON from a
// file and @- from standard input (JSON never starts with "@"), for call
// and bench:
//
//	echo '[3,4]' | ferry call ADDR Arith.Add @-
//	ferry bench ADDR Orders.Create @order.json -n 10000
//
// Integers stay exact (int64, or uint64 above MaxInt64; an integer beyond
// 64 bits is an error, never a rounded float), other numbers are float64,
// strings are MessagePack str, and object keys keep their order. Params
// (the params array included) and streaming messages nest at most 63
// arrays and objects deep, as a server with the default MaxDepth reads
// them (PROTOCOL.md, section 5): deeper JSON is refused before sending,
// with exit status 1, since the server would close the connection.
//
// Before sending, call checks the params against the method's description
// when the server offers introspection (introspect.Register), mapping them
// onto the arguments as the server will. It refuses what the server would
// refuse, and also a field name that no argument has (a server ignores
// one unless built with server.WithDisallowUnknownFields) and an integer
// argument written with a fraction or an exponent that float64 does not
// hold exactly (9007199254740993.0 would arrive as 9007199254740992), with exit
// status 13 (invalid_argument) and the near miss for a mistyped field
// name:
//
//	ferry: Arith.Add: unknown field "a" (did you mean "A"?)
//	ferry: Arith.Add: argument 1 (A): want an integer, got 3.5
//	ferry: Arith.Add: takes at most 2 arguments (A, B), got 3
//
// -nocheck sends the params unchecked; against a server without
// introspection they go out unchecked anyway, and the server refuses
// them itself with the same messages (after "invalid_argument: "), but
// for a field name it does not know, which it ignores by default:
// '{"a":3,"B":4}' then adds 0 and 4.
//
// # Results
//
// Results print as indented JSON (-compact: one line). MessagePack values
// JSON lacks print as follows: integers with all their digits (uint64 and
// int64 exact, never through float64); NaN and ±Inf as the strings "NaN",
// "Infinity", "-Infinity"; bin as a base64 string (-bin string or -bin hex
// to change that); the timestamp extension as an RFC 3339 string in UTC;
// other extensions as {"$ext": TYPE, "data": "BASE64"} (Neovim's Buffer,
// Window and Tabpage handles look like that); maps as objects in wire
// order, with a key that is not a string written as its JSON text (1 →
// "1", true → "true", [1,2] → "[1,2]"). A value whose JSON would be more
// than 16 times its MessagePack size plus 1 MiB is not printed (exit
// status 1): no value gets near that but maps used as keys of maps used
// as keys, whose text doubles with each level.
//
// Control characters a terminal acts on (ESC, CR, DEL, C1) are escaped,
// in JSON as \u001b and in what prints as text (errors, list, describe,
// health) as \x1b, so that what a server sends cannot clear the screen
// or rewrite what was printed.
//
// # Streaming methods
//
// call streams when the method does (the server's description says so, or
// a server without introspection refuses the unary call as a streaming
// method), and prints each message the server sends as one line of
// compact JSON, then the handler's result if it returned one. A
// server-streaming method gets the params as its one request, mapped as
// for a unary call:
//
//	ferry call 127.0.0.1:7000 Counter.Count '[3]'     # 1, 2 and 3, one per line
//
// A client-streaming or bidi method reads one JSON value per line from
// standard input (blank lines are skipped; the end of input ends the
// caller's side), or, when params are given, sends each element of the
// params array as one message:
//
//	printf '"a"\n"b"\n' | ferry call 127.0.0.1:7000 Echo.Chat   # "a" and "b"
//
// A line that is not one JSON value cancels the call (exit status 1); the
// stream's error exits with 10 + its code as a call's does. Each line is
// checked against the method's description as params are: one that does
// not fit cancels the call with exit status 13, naming the line and the
// near miss, and -nocheck sends it:
//
//	ferry: Geo.Move: standard input, line 2: unknown field "x" (did you mean "X"?)
//
// The -timeout deadline bounds the whole stream. describe names the kind ("server
// streaming: one request, many responses"), and bench drives a bidi
// method: each worker sends the params as one message at a time on its
// own stream and waits for the reply, and the report gives messages per
// second and per-message latency. Streams need Ferry's session protocol:
// they are refused with -plain.
//
// # Ferry or plain MessagePack-RPC
//
// ADDR is host:port (TCP), or unix:PATH or an absolute PATH (a unix
// socket, such as Neovim's default server: :echo v:servername). By default ferry speaks Ferry's session protocol: the
// -timeout deadline (default 10 s) travels to the server and bounds the
// handler, -H key=value metadata reaches it, and errors arrive with their
// codes. Every other MessagePack-RPC server (Neovim, msgpack-rpc in Python
// or Node) speaks bare MessagePack-RPC, and so do Ferry servers too. When
// a server answers the session's first bytes with a MessagePack-RPC
// message, as Neovim does ("Message is not an array"), ferry connects
// again and speaks bare MessagePack-RPC, with no flag; -plain does so from
// the start. Then -timeout only bounds the local wait, metadata is not
// sent, and every error has code unknown, its message the error value as
// JSON when it is not a string. A server that closes the connection
// without a word gets the hint to try -plain.
//
// -timeout also bounds connecting: a server that accepts the connection
// but never answers fails within it, and the error says what was found:
// nothing, an HTTP server (asked with an HTTP request on a second
// connection after a second of silence, or a quarter of -timeout if that
// is less), a TLS port, or the first bytes it sent.
//
//	nvim --headless --listen 127.0.0.1:6666 &
//	ferry call 127.0.0.1:6666 nvim_eval '"1+2"'                     # 3
//	ferry call 127.0.0.1:6666 nvim_buf_get_lines '[0,0,-1,false]'
//	ferry call unix:/run/user/1000/nvim.1234.0 nvim_get_current_line
//
// # TLS
//
// -tls connects with TLS, verifying the server against the system's CAs or
// -cacert FILE, for the name in ADDR or -servername (which a unix socket,
// having no host name, needs); -cert and -key present a client
// certificate; -insecure skips verification (testing only). Any of these
// flags implies -tls. -insecure is refused on an address other than
// localhost, a loopback IP or a unix socket, where anyone on the path
// could read and change the calls, unless -yes-really is given too:
//
//	ferry call -insecure 127.0.0.1:7000 Arith.Add '[3,4]'                     # allowed
//	ferry call -insecure -yes-really 10.0.0.5:7000 Arith.Add '[3,4]'          # told twice
//
// -token-file FILE sends the token in FILE (white space around it is
// dropped) to a server that authenticates connections with tokens (not
// over plain MessagePack-RPC, which carries no token: ferry warns that it
// is ignored, as it does for -H). Without
// -tls it is refused on an address other than localhost, a loopback IP or
// a unix socket, where anyone on the path could read and replay the token,
// unless -yes-really is given too.
//
// # Exit status
//
//	0       success (health: SERVING)
//	1       usage error, bad JSON, or no connection (dial, TLS, handshake,
//	        or the server's authentication refused the token or certificate)
//	2       health: the server answered NOT_SERVING or UNKNOWN
//	10+code the call failed with that Ferry error code: 11 canceled,
//	        12 unknown (every plain MessagePack-RPC error), 13 invalid_argument,
//	        14 deadline_exceeded, 15 not_found, 17 permission_denied,
//	        22 unimplemented (no such method), 23 internal,
//	        24 unavailable (connection lost), 26 unauthenticated, ...
//
// bench exits 0 when every call succeeded, else 10 + the most frequent
// error code.
//
// # Introspection
//
// list and describe call Introspect.List and Introspect.Describe, which a
// Ferry server offers after introspect.Register(s) (package
// github.com/ferryrpc/ferry/introspect). describe prints Go-like type
// expressions; -json prints the full JSON-Schema-like description.
//
// # Load tests
//
// bench runs -c workers (default 16, at most 10,000) over -conns
// connections (default 1, at most 1,000),
// each making one call after another, for -n calls in total (default 1000
// when -d is not given) or for -d, whichever ends first. Ctrl-C stops sending, waits for the
// calls in flight (each bounded by -timeout), prints the report of the
// calls that completed and exits as if the run had ended there (0 when
// they all succeeded); a second Ctrl-C quits at once, without a report
// (for calls that hang, as they may with -timeout 0). A progress bar goes to stderr when it is a terminal
// (golang.org/x/term decides; a file or /dev/null is not one) or with
// -progress. The report, like ghz's, has the totals, a latency histogram
// (ten buckets from the fastest call to the slowest whose bounds grow by
// one factor, so that a long tail does not squeeze every other call into
// the first bar) and percentiles (10 to 99.9) and the status codes and error messages;
// -o json prints it as JSON (durations in nanoseconds), -o csv as a header
// and one row (milliseconds), for appending runs to a spreadsheet.
// Latencies are measured at the client and are exact to within 6.25 %.
//
// # Health
//
// health calls Health.Check with params [{"service": NAME}] ("" for the
// whole server) and expects {"status": "SERVING" | "NOT_SERVING" |
// "UNKNOWN"}; it prints the status.
package main
