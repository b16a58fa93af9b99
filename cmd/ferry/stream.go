package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"sync/atomic"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/introspect"
)

// streamer is a connection that can open streaming calls: a Ferry
// session, not -plain.
type streamer interface {
	openStream(ctx context.Context, method string) (*client.Stream, error)
}

// asStreamer returns c as a streamer when it speaks Ferry's session
// protocol: a connection speaking bare MessagePack-RPC (-plain, or the
// fallback for a server that answers as one) cannot open streams.
func asStreamer(c caller) (streamer, bool) {
	if fc, ok := c.(*ferryConn); ok && fc.plain {
		return nil, false
	}
	s, ok := c.(streamer)
	return s, ok
}

// openStream opens a streaming call with the -H metadata.
func (f *ferryConn) openStream(ctx context.Context, method string) (*client.Stream, error) {
	if len(f.md) > 0 {
		ctx = ferry.WithOutgoingMetadata(ctx, f.md)
	}
	return f.c.NewStream(ctx, method)
}

// streamKindOf returns method's streaming kind ("bidi", "server" or
// "client") from the server's description, or "" for a unary method or
// a server without introspection. It asks with -plain too, so that a
// stream is refused for what it is (runStreamCall, detectStream).
func streamKindOf(ctx context.Context, cf *connFlags, c caller, method string) string {
	d, _ := describe(ctx, cf, c, method)
	return streamKind(d)
}

// streamKind returns the streaming kind d describes, or "" for a unary
// method or no description.
func streamKind(d *introspect.Description) string {
	if d == nil || d.Kind == "unary" {
		return ""
	}
	return d.Kind
}

// refusedStream recognizes a unary call refused because the method
// streams (a server without introspection says so), and returns its kind.
var refusedStream = regexp.MustCompile(` is a (bidi|server|client)-streaming method`)

// kindFromRefusal returns the kind a refusal names: unimplemented over a
// session, unknown (every error's code) over bare MessagePack-RPC.
func kindFromRefusal(err error) string {
	if code := ferry.CodeOf(err); code != ferry.CodeUnimplemented && code != ferry.CodeUnknown {
		return ""
	}
	if m := refusedStream.FindStringSubmatch(err.Error()); m != nil {
		return m[1]
	}
	return ""
}

// kindLabel names a kind in describe's output.
func kindLabel(kind string) string {
	switch kind {
	case "bidi":
		return "bidi streaming: messages both ways"
	case "server":
		return "server streaming: one request, many responses"
	case "client":
		return "client streaming: many requests, one response"
	}
	return kind
}

// paramsMessage maps a call's params array onto the single message a
// server-streaming method reads, as a unary call maps it onto its args:
// [] is nil, [x] is x, and [a, b, ...] is the whole array.
func paramsMessage(params []byte) (codec.Raw, error) {
	switch n, hdr, ok := msgpack.ArrayLen(params); {
	case !ok:
		return nil, errors.New("ferry: params must be an array")
	case n == 0:
		return codec.Raw{0xc0}, nil
	case n == 1:
		return codec.Raw(params[hdr:]), nil
	}
	return codec.Raw(params), nil
}

// paramsMessages splits a params array into its elements, each one
// message of a client-streaming or bidi call.
func paramsMessages(params []byte) ([]codec.Raw, error) {
	n, hdr, ok := msgpack.ArrayLen(params)
	if !ok {
		return nil, errors.New("ferry: params must be an array")
	}
	rest := params[hdr:]
	out := make([]codec.Raw, 0, n)
	for range n {
		size, err := codec.Validate(rest)
		if err != nil {
			return nil, err
		}
		out = append(out, codec.Raw(rest[:size]))
		rest = rest[size:]
	}
	return out, nil
}

// streamCall is what runStreamCall needs of the command line.
type streamCall struct {
	method, kind string
	params       []byte
	haveParams   bool
	jo           jsonOptions
	// check, unless nil, is the description each message read from
	// standard input is checked against before it is sent.
	check *introspect.Description
}

// runStreamCall makes a streaming call and prints each message the server
// sends as one line of JSON, then the handler's result, if any. A
// server-streaming call sends the params as its one request; a
// client-streaming or bidi call sends the elements of the params array
// when they were given, otherwise one message per line of JSON read from
// standard input, and ends its side at the end of the input.
func runStreamCall(ctx context.Context, e *env, cf *connFlags, c caller, sc streamCall) int {
	method, kind, jo := sc.method, sc.kind, sc.jo
	s, ok := asStreamer(c)
	if !ok {
		e.printf("ferry: %s is a %s-streaming method: streams need Ferry's session protocol, not -plain", method, kind)
		return exitFail
	}
	var msgs []codec.Raw
	var err error
	if kind == "server" {
		var m codec.Raw
		m, err = paramsMessage(sc.params)
		msgs = []codec.Raw{m}
	} else if sc.haveParams {
		msgs, err = paramsMessages(sc.params)
	}
	if err != nil {
		e.printf("%v", err)
		return exitFail
	}
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	st, err := s.openStream(cctx, method)
	if err != nil {
		return callExit(e, cf, err)
	}
	defer st.Close()
	jo.indent = false // one value per line
	var bad atomic.Pointer[error]
	sent := make(chan struct{})
	fixed := kind == "server" || sc.haveParams
	go func() {
		defer close(sent)
		if err := sendMessages(st, msgs, fixed, e.stdin, sc.check); err != nil {
			bad.Store(&err)
			st.Close() // cancels the call
		}
	}()
	code := printMessages(e, cf, st, jo, func() bool { return bad.Load() != nil })
	if code != exitOK {
		cancel()
	}
	if e.stdin != os.Stdin || fixed {
		<-sent
	} // else: a read from the terminal cannot be interrupted, and the process exits without waiting for it
	if err := bad.Load(); err != nil {
		var ce *checkError
		if errors.As(*err, &ce) {
			for _, msg := range ce.errs {
				e.printf("ferry: %s: standard input, line %d: %s", method, ce.line, msg)
			}
			e.printf(checkHint, "messages", method)
			return exitCodeBase + int(ferry.CodeInvalidArgument)
		}
		e.printf("%v", *err)
		return exitFail
	}
	return code
}

// checkError is a line of standard input that does not fit the method's
// message schema.
type checkError struct {
	line int
	errs []string
}

func (ce *checkError) Error() string {
	return fmt.Sprintf("ferry: standard input, line %d: %s", ce.line, strings.Join(ce.errs, "; "))
}

// sendMessages sends msgs, or, unless fixed, the lines of in, then ends
// the sending side. It returns an error for a line that is not one JSON
// value, or that does not fit check's message schema (a *checkError)
// when check is not nil, or input that cannot be read.
func sendMessages(st *client.Stream, msgs []codec.Raw, fixed bool, in io.Reader, check *introspect.Description) error {
	if fixed || in == nil {
		for _, m := range msgs {
			if err := st.Send(m); err != nil {
				return nil // the call failed: Recv reports it
			}
		}
		_ = st.CloseSend()
		return nil
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxMessage)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if len(text) == 0 {
			continue
		}
		m, err := fromJSON(text)
		if err != nil {
			return fmt.Errorf("ferry: standard input, line %d: %v", line, strings.TrimPrefix(err.Error(), "ferry: "))
		}
		if check != nil {
			if errs := checkMessage(text, check); len(errs) > 0 {
				return &checkError{line: line, errs: errs}
			}
		}
		if err := st.Send(codec.Raw(m)); err != nil {
			return nil
		}
	}
	if err := sc.Err(); err != nil {
		return fmt.Errorf("ferry: standard input: %v", err)
	}
	_ = st.CloseSend()
	return nil
}

// printMessages prints what the server sends until the call ends, and
// returns the exit status; a failure caused by bad input (inputFailed) is
// left for the caller to report.
func printMessages(e *env, cf *connFlags, st *client.Stream, jo jsonOptions, inputFailed func() bool) int {
	for {
		var m codec.Raw
		err := st.Recv(&m)
		if err == io.EOF {
			break
		}
		if err != nil {
			if inputFailed() {
				return exitFail
			}
			return callExit(e, cf, err)
		}
		if code := printValue(e, m, jo); code != exitOK {
			return code
		}
	}
	var res codec.Raw
	if err := st.Result(&res); err != nil {
		return callExit(e, cf, err)
	}
	if len(res) == 0 || (len(res) == 1 && res[0] == 0xc0) {
		return exitOK // no result (nil), as server and bidi methods have
	}
	return printValue(e, res, jo)
}

func printValue(e *env, m []byte, jo jsonOptions) int {
	out, err := toJSON(m, jo)
	if errors.Is(err, errJSONSize) {
		e.printf("ferry: a message does not print: %v", err)
		return exitFail
	} else if err != nil {
		e.printf("ferry: a message is not valid MessagePack: %v", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s\n", out)
	return exitOK
}
