package wire

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/ferryrpc/ferry/internal/meta"
	"github.com/ferryrpc/ferry/internal/msgpack"
)

// RequestExt is what a Ferry request carries beyond the spec.
type RequestExt struct {
	Timeout  int64             // nanoseconds; 0 for none
	Metadata map[string]string // to send; nil for none
	// Appended is metadata to send built by AppendOutgoingMetadata, in
	// place of Metadata; nil for none.
	Appended *meta.Appended
	// Incoming is the metadata ParseRequestExt found, checked and copied
	// but not decoded (nil for none): the read loop spends no map on it.
	Incoming *meta.Incoming
}

// ResponseExt is what a Ferry response carries beyond the spec.
type ResponseExt struct {
	Code        uint32
	Details     map[string]string
	NotExecuted bool
}

// AppendRequestExt appends the extension map of a request.
func AppendRequestExt(b []byte, e RequestExt) []byte {
	n := 0
	if e.Timeout != 0 {
		n++
	}
	if len(e.Metadata) > 0 || e.Appended != nil {
		n++
	}
	b = msgpack.AppendMapHeader(b, n)
	if e.Timeout != 0 {
		b = msgpack.AppendInt(msgpack.AppendString(b, extTimeout), e.Timeout)
	}
	switch {
	case e.Appended != nil:
		b = e.Appended.AppendTo(msgpack.AppendString(b, extMetadata))
	case len(e.Metadata) > 0:
		b = msgpack.AppendStringMap(msgpack.AppendString(b, extMetadata), e.Metadata)
	}
	return b
}

// AppendResponseExt appends the extension map of an error response.
func AppendResponseExt(b []byte, e ResponseExt) []byte {
	n := 1
	if len(e.Details) > 0 {
		n++
	}
	if e.NotExecuted {
		n++
	}
	b = msgpack.AppendMapHeader(b, n)
	b = msgpack.AppendUint(msgpack.AppendString(b, extCode), uint64(e.Code))
	if len(e.Details) > 0 {
		b = msgpack.AppendStringMap(msgpack.AppendString(b, extDetails), e.Details)
	}
	if e.NotExecuted {
		b = msgpack.AppendBool(msgpack.AppendString(b, extNotExecuted), true)
	}
	return b
}

// ParseRequestExt reads a request's extension map. Unknown keys are
// ignored so that later versions can add some.
func ParseRequestExt(b []byte) (RequestExt, error) { return ParseRequestExtInto(b, nil) }

// ParseRequestExtInto is ParseRequestExt with the metadata parsed into md
// (meta.ParseInto): Incoming is then md or nil.
func ParseRequestExtInto(b []byte, md *meta.Incoming) (RequestExt, error) {
	var e RequestExt
	err := walkMap(b, func(key string, val []byte) error {
		var err error
		switch {
		case len(val) == 1 && val[0] == 0xc0: // nil: as if absent
		case key == extTimeout:
			var v msgpack.Num
			v, _, err = msgpack.ReadInt(val)
			switch {
			case err != nil:
				err = fmt.Errorf("%w: \"t\" is not an integer", ErrMalformed)
			case v.Kind == msgpack.Int:
				e.Timeout = -1 // already expired
			case v.U <= math.MaxInt64:
				e.Timeout = int64(v.U)
			} // larger than any duration: no deadline
		case key == extMetadata:
			if e.Incoming, err = meta.ParseInto(md, val); err != nil && !errors.Is(err, ErrMetadataTooLarge) {
				err = fmt.Errorf("%w: %v", ErrMalformed, err)
			}
		}
		return err
	})
	return e, err
}

// ExtReason returns the text of err, an error of ParseRequestExt, without
// ErrMalformed's own, for the message that refuses the request: "malformed
// extensions: expected a map", not "malformed extensions: ferry: malformed
// msgpack: expected a map".
func ExtReason(err error) string {
	return strings.Replace(err.Error(), ErrMalformed.Error()+": ", "", 1)
}

// ParseResponseExt reads a response's extension map.
func ParseResponseExt(b []byte) (ResponseExt, error) {
	var e ResponseExt
	err := walkMap(b, func(key string, val []byte) error {
		var err error
		switch key {
		case extCode:
			var u uint64
			u, _, err = msgpack.ReadUint(val)
			e.Code = uint32(min(u, math.MaxUint32))
		case extDetails:
			if e.Details, err = readStringMap(val); errors.Is(err, errTooManyDetails) {
				e.Details, err = nil, nil // dropped; the code still counts
			}
		case extNotExecuted:
			e.NotExecuted = len(val) == 1 && val[0] == 0xc3
		}
		return err
	})
	return e, err
}

// walkMap calls fn for each pair of a map whose keys are strings; nil is an
// empty map.
func walkMap(b []byte, fn func(key string, val []byte) error) error {
	if len(b) == 1 && b[0] == 0xc0 {
		return nil
	}
	n, off, ok := msgpack.MapLen(b)
	if !ok {
		return fmt.Errorf("%w: expected a map", ErrMalformed)
	}
	for i := 0; i < n; i++ {
		kl, err := msgpack.Skip(b[off:])
		if err != nil {
			return err
		}
		key, err := msgpack.ReadStringBytes(b[off : off+kl])
		if err != nil {
			return fmt.Errorf("%w: a key that is not a str", ErrMalformed)
		}
		off += kl
		vl, err := msgpack.Skip(b[off:])
		if err != nil {
			return err
		}
		if err := fn(string(key), b[off:off+vl]); err != nil {
			return err
		}
		off += vl
	}
	return nil
}

// errTooManyDetails is readStringMap's error for a map past the bounds of
// call metadata: ParseResponseExt drops such details.
var errTooManyDetails = fmt.Errorf("%w: details: more than %d pairs or %d bytes", ErrMalformed, meta.MaxPairs, meta.MaxBytes)

// readStringMap decodes a map of strings (an error's details) within the
// bounds of call metadata: a peer cannot make it decode a map far larger
// than its bytes.
func readStringMap(b []byte) (map[string]string, error) {
	if n, _, ok := msgpack.MapLen(b); len(b) > meta.MaxBytes || ok && n > meta.MaxPairs {
		return nil, errTooManyDetails
	}
	m := map[string]string{}
	err := walkMap(b, func(key string, val []byte) error {
		v, err := msgpack.ReadStringBytes(val)
		if err != nil {
			return fmt.Errorf("%w: metadata value", ErrMalformed)
		}
		m[key] = string(v)
		return nil
	})
	return m, err
}
