// Command ferry calls, inspects and load-tests Ferry servers and any other
// MessagePack-RPC server from the shell: JSON in, MessagePack on the wire,
// JSON out. Install it with
//
//	go install github.com/ferryrpc/ferry/cmd/ferry@latest
//
// Commands:
//
//	ferry call ADDR Service.Method ['<json params>']   call once, print the result as JSON
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
// single param, wrap it: '[[1,2,3]]'. No JSON (or "") sends no params.
// Integers stay exact (int64, or uint64 above MaxInt64; an integer beyond
// 64 bits is an error, never a rounded float), other numbers are float64,
// strings are MessagePack str, and object keys keep their order.
//
// Before sending, call checks the params against the method's description
// when the server offers introspection (introspect.Register), mapping them
// onto the arguments as the server will, and refuses what the server
// would refuse, with exit status 13 (invalid_argument) and the near miss
// for a mistyped field name:
//
//	ferry: Arith.Add: unknown field "a" (did you mean "A"?)
//	ferry: Arith.Add: argument 1 (A): want an integer, got 3.5
//	ferry: Arith.Add: takes at most 2 arguments (A, B), got 3
//
// -nocheck sends the params unchecked; against a server without
// introspection they go out unchecked anyway, and the server refuses
// them itself with the same messages (after "invalid_argument: ").
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
// "1", true → "true", [1,2] → "[1,2]").
//
// # Ferry or plain MessagePack-RPC
//
// By default ferry speaks Ferry's session protocol: the -timeout deadline
// (default 10 s) travels to the server and bounds the handler, -H key=value
// metadata reaches it, and errors arrive with their codes. Ferry servers
// also accept bare MessagePack-RPC, which is what every other
// MessagePack-RPC server speaks (Neovim, msgpack-rpc in Python or Node):
// -plain selects it. With -plain, -timeout only bounds the local wait,
// metadata is not sent, and every error has code unknown. A server that is
// not a Ferry server closes the connection on Ferry's handshake; ferry then
// suggests -plain.
//
//	nvim --headless --listen 127.0.0.1:6666 &
//	ferry call -plain 127.0.0.1:6666 nvim_eval '["1+2"]'                  # 3
//	ferry call -plain 127.0.0.1:6666 nvim_buf_get_lines '[0,0,-1,false]'
//
// # TLS
//
// -tls connects with TLS, verifying the server against the system's CAs or
// -cacert FILE, for the name in ADDR or -servername; -cert and -key present
// a client certificate; -insecure skips verification (testing only). Any
// of these flags implies -tls. -insecure is refused on an address other
// than localhost or a loopback IP, where anyone on the path could read and
// change the calls, unless -yes-really is given too:
//
//	ferry call -insecure 127.0.0.1:7000 Arith.Add '[3,4]'                     # allowed
//	ferry call -insecure -yes-really 10.0.0.5:7000 Arith.Add '[3,4]'          # told twice
//
// -token-file FILE sends the token in FILE (white space around it is
// dropped) to a server that authenticates connections with tokens.
//
// # Exit status
//
//	0       success (health: SERVING)
//	1       usage error, bad JSON, or no connection (dial, TLS, handshake)
//	2       health: the server answered NOT_SERVING or UNKNOWN
//	10+code the call failed with that Ferry error code: 11 canceled,
//	        12 unknown (every -plain error), 13 invalid_argument,
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
// bench runs -c workers (default 16) over -conns connections (default 1),
// each making one call after another, for -n calls in total (default 1000)
// or for -d, whichever ends first; Ctrl-C stops it early and still
// reports. A progress bar goes to stderr when it is a terminal (or with
// -progress). The report, like ghz's, has the totals, a latency histogram
// and percentiles (10 to 99.9) and the status codes and error messages;
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
