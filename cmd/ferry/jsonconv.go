package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/ferryrpc/ferry/internal/msgpack"
)

// fromJSON encodes one JSON value as MessagePack: objects keep their key
// order, integers stay exact (int64, or uint64 above MaxInt64; an integer
// beyond uint64 is an error rather than a rounded float), other numbers
// become float64 and strings become str. A value that nests deeper than
// a message may carry it (maxValueDepth) is an error: a server reads a
// deeper message as a protocol error and closes the connection, failing
// every call on it as if it might have run.
func fromJSON(data []byte) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	out, err := encodeJSONValue(dec, nil, 0)
	if errors.Is(err, errTooDeep) {
		return nil, err
	} else if err != nil {
		return nil, fmt.Errorf("ferry: invalid JSON: %w", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("ferry: invalid JSON: more than one value")
	}
	if sc := msgpack.NewScanner(len(out), maxValueDepth); !scans(sc, out) {
		return nil, errTooDeep
	}
	return out, nil
}

// maxValueDepth is how deep a message's params, or a streaming message,
// may nest: the message's own array (or a stream frame's) is its first
// level of the server's MaxDepth, 64 by default (PROTOCOL.md, section 5;
// an empty array or map adds no level).
const maxValueDepth = msgpack.MaxDepth - 1

var errTooDeep = fmt.Errorf("ferry: the JSON nests deeper than a message may carry it: %d arrays and objects (PROTOCOL.md, section 5)", maxValueDepth)

// scans reports whether sc accepts b as one whole value.
func scans(sc *msgpack.Scanner, b []byte) bool {
	n, err := sc.Scan(b)
	return err == nil && n == len(b)
}

// paramsFromJSON builds the params array of a call from the command
// line's JSON: an array is the params array as is, any other value is the
// single param. An empty string means no params.
func paramsFromJSON(s string) ([]byte, error) {
	if strings.TrimSpace(s) == "" {
		return msgpack.AppendArrayHeader(nil, 0), nil
	}
	v, err := fromJSON([]byte(s))
	if err != nil {
		return nil, err
	}
	if msgpack.IsArrayHeader(v[0]) {
		return v, nil
	}
	p := append(msgpack.AppendArrayHeader(nil, 1), v...)
	if sc := msgpack.NewScanner(len(p), maxValueDepth); !scans(sc, p) {
		return nil, errTooDeep // the params array adds a level
	}
	return p, nil
}

// encodeJSONValue encodes the next JSON value, depth containers deep.
// Past maxValueDepth+1 it stops with errTooDeep: deeper JSON would only be
// refused, and would recurse without bound.
func encodeJSONValue(dec *json.Decoder, b []byte, depth int) ([]byte, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		if depth > maxValueDepth {
			return nil, errTooDeep
		}
		return encodeJSONContainer(dec, b, t, depth+1)
	case nil:
		return msgpack.AppendNil(b), nil
	case bool:
		return msgpack.AppendBool(b, t), nil
	case string:
		return msgpack.AppendString(b, t), nil
	case json.Number:
		return appendJSONNumber(b, t)
	}
	return nil, fmt.Errorf("unexpected token %v", tok)
}

// encodeJSONContainer encodes an array or object whose opening delimiter
// was just read. Elements are encoded into a scratch buffer first, since
// MessagePack puts the count before them.
func encodeJSONContainer(dec *json.Decoder, b []byte, open json.Delim, depth int) ([]byte, error) {
	var body []byte
	n := 0
	for dec.More() {
		var err error
		if open == '{' {
			tok, err := dec.Token()
			if err != nil {
				return nil, err
			}
			body = msgpack.AppendString(body, tok.(string))
		}
		if body, err = encodeJSONValue(dec, body, depth); err != nil {
			return nil, err
		}
		n++
	}
	if _, err := dec.Token(); err != nil { // the closing delimiter
		return nil, err
	}
	if open == '{' {
		b = msgpack.AppendMapHeader(b, n)
	} else {
		b = msgpack.AppendArrayHeader(b, n)
	}
	return append(b, body...), nil
}

func appendJSONNumber(b []byte, n json.Number) ([]byte, error) {
	s := string(n)
	if !strings.ContainsAny(s, ".eE") {
		if v, err := strconv.ParseInt(s, 10, 64); err == nil {
			return msgpack.AppendInt(b, v), nil
		}
		if v, err := strconv.ParseUint(s, 10, 64); err == nil {
			return msgpack.AppendUint(b, v), nil
		}
		return nil, fmt.Errorf("integer %s does not fit in 64 bits", s)
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return nil, fmt.Errorf("number %s: %w", s, err)
	}
	b = append(b, 0xcb)
	return binary.BigEndian.AppendUint64(b, math.Float64bits(f)), nil
}
