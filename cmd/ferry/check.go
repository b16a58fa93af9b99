package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/introspect"
)

// describe asks the server for method's description; nil when the server
// does not offer introspection or does not know the method, in which case
// the call goes out unchecked. The error is the Introspect.Describe call's.
func describe(ctx context.Context, cf *connFlags, c caller, method string) (*introspect.Description, error) {
	p, err := codec.Marshal([]any{introspect.DescribeArgs{Method: method}})
	if err != nil {
		return nil, nil
	}
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	res, err := c.call(cctx, introspect.DescribeMethod, p)
	if err != nil {
		return nil, err
	}
	var d introspect.Description
	if codec.Unmarshal(res, &d) != nil || d.Name != method {
		return nil, nil
	}
	return &d, nil
}

// checkParams checks a call's JSON params against the method's argument
// schema the way the server maps params onto its args (see
// registry.Method.DecodeArgs), and returns one message per problem. For a
// client-streaming or bidi method, each element of the params array is
// one message, checked against the message schema.
func checkParams(js string, d *introspect.Description) []string {
	if strings.TrimSpace(js) == "" || d.Args == nil {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(js))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil // fromJSON reports it
	}
	ck := &checker{defs: d.Defs}
	args := ck.resolve(d.Args)
	list, isArray := v.([]any)
	if !isArray {
		list = []any{v}
	}
	if d.Kind == "client" || d.Kind == "bidi" {
		for i, m := range list {
			for _, e := range checkOne(d, args, m) {
				ck.errs = append(ck.errs, fmt.Sprintf("message %d: %s", i+1, e))
			}
		}
		return ck.errs
	}
	switch {
	case args == nil || args.Type == "":
	case ck.isStruct(args):
		ck.structParams(list, args)
	case len(list) == 1:
		ck.value(place{pos: -1}, list[0], args)
	default:
		ck.value(place{}, list, args)
	}
	return ck.errs
}

// checkMessage checks one message of a client-streaming or bidi call,
// the JSON text of a line of standard input, against the method's message
// schema, as checkParams checks each element of a params array. It
// returns nil for text that is not one JSON value (fromJSON reports it).
func checkMessage(js []byte, d *introspect.Description) []string {
	if d.Args == nil {
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.UseNumber()
	var v any
	if dec.Decode(&v) != nil {
		return nil
	}
	return checkOne(d, (&checker{defs: d.Defs}).resolve(d.Args), v)
}

// checkOne checks v, one message, against args, the resolved message
// schema of d.
func checkOne(d *introspect.Description, args *introspect.Schema, v any) []string {
	one := &checker{defs: d.Defs}
	one.value(place{}, v, args)
	return one.errs
}

// checker collects what does not fit.
type checker struct {
	defs map[string]*introspect.Schema
	errs []string
}

// place is where a value sits: pos > 0 for the pos-th positional argument
// (path then starts with its field's name), -1 for the only argument.
type place struct {
	pos  int
	path string
}

func (p place) child(seg string) place {
	switch {
	case p.path == "":
		p.path = seg
	case seg[0] == '[':
		p.path += seg
	default:
		p.path += "." + seg
	}
	return p
}

func (p place) String() string {
	switch {
	case p.pos > 0:
		return fmt.Sprintf("argument %d (%s): ", p.pos, p.path)
	case p.pos < 0 && p.path == "":
		return "argument 1: "
	case p.path == "":
		return ""
	case p.path[0] == '[':
		return "element " + p.path + ": "
	}
	return "field " + p.path + ": "
}

func (ck *checker) fail(p place, format string, args ...any) {
	ck.errs = append(ck.errs, p.String()+fmt.Sprintf(format, args...))
}

func (ck *checker) resolve(s *introspect.Schema) *introspect.Schema {
	for i := 0; s != nil && s.Ref != "" && i < 100; i++ {
		s = ck.defs[strings.TrimPrefix(s.Ref, "#/$defs/")]
	}
	return s
}

// isStruct reports whether s describes a struct: an object with fields
// (or none), or an as_array struct.
func (ck *checker) isStruct(s *introspect.Schema) bool {
	return s.Type == "object" && s.AdditionalProperties == nil || s.Type == "array" && s.Properties != nil
}

// structParams checks the params for a struct args value: [] zero, [x]
// the whole value when x is a map, array or null, else positional fields.
func (ck *checker) structParams(list []any, s *introspect.Schema) {
	if len(list) == 1 {
		switch x := list[0].(type) {
		case nil:
			return
		case map[string]any:
			ck.object(place{}, x, s)
			return
		case []any:
			list = x
		}
	}
	if len(list) > len(s.Order) {
		if len(s.Order) == 0 {
			ck.fail(place{}, "takes no arguments, got %d", len(list))
		} else {
			ck.fail(place{}, "takes at most %d arguments (%s), got %d", len(s.Order), strings.Join(s.Order, ", "), len(list))
		}
		return
	}
	for i, x := range list {
		ck.value(place{pos: i + 1, path: s.Order[i]}, x, s.Properties[s.Order[i]])
	}
}

// object checks a JSON object against a struct's fields.
func (ck *checker) object(p place, m map[string]any, s *introspect.Schema) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fs, ok := s.Properties[k]
		if !ok {
			ck.fail(p, "unknown field %q (%s)", k, suggest(k, s.Order))
			continue
		}
		ck.value(p.child(k), m[k], fs)
	}
}

// suggest names the field closest to key, or lists the fields.
func suggest(key string, fields []string) string {
	best, bestDist := "", math.MaxInt
	for _, f := range fields {
		d := distance(strings.ToLower(key), strings.ToLower(f))
		if strings.EqualFold(key, f) {
			d = 0
		}
		if d < bestDist {
			best, bestDist = f, d
		}
	}
	if best != "" && bestDist <= max(1, len(key)/3) {
		return fmt.Sprintf("did you mean %q?", best)
	}
	if len(fields) == 0 {
		return "the arguments have no fields"
	}
	return "fields: " + strings.Join(fields, ", ")
}

// distance is the Levenshtein distance between a and b, in bytes.
func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// value checks one JSON value against s. null fits everything.
func (ck *checker) value(p place, v any, s *introspect.Schema) {
	s = ck.resolve(s)
	if s == nil || v == nil {
		return
	}
	switch s.Type {
	case "boolean":
		if _, ok := v.(bool); !ok {
			ck.fail(p, "want a boolean, got %s", gotJSON(v))
		}
	case "integer":
		ck.integer(p, v, s.Format)
	case "number":
		ck.number(p, v, s.Format)
	case "string", "binary":
		str, ok := v.(string)
		switch {
		case !ok:
			ck.fail(p, "want a string, got %s", gotJSON(v))
		case s.MaxItems != nil && len(str) > *s.MaxItems: // a Go array of bytes
			ck.fail(p, "want at most %d bytes, got %d", *s.MaxItems, len(str))
		}
	case "array":
		ck.array(p, v, s)
	case "object":
		ck.objectValue(p, v, s)
	}
}

func (ck *checker) array(p place, v any, s *introspect.Schema) {
	list, ok := v.([]any)
	if !ok {
		ck.fail(p, "want an array, got %s", gotJSON(v))
		return
	}
	if s.Properties != nil { // an as_array struct
		ck.nestedPositional(p, list, s)
		return
	}
	if s.MaxItems != nil && len(list) > *s.MaxItems { // a Go array
		ck.fail(p, "too many values: want at most %d, got %d", *s.MaxItems, len(list))
		return
	}
	for i, x := range list {
		ck.value(p.child("["+strconv.Itoa(i)+"]"), x, s.Items)
	}
}

func (ck *checker) objectValue(p place, v any, s *introspect.Schema) {
	if s.AdditionalProperties != nil { // a map
		m, ok := v.(map[string]any)
		if !ok {
			ck.fail(p, "want a map, got %s", gotJSON(v))
			return
		}
		for k, x := range m {
			at := p.child("[" + strconv.Quote(k) + "]")
			if s.PropertyNames != nil {
				// Keys that are not strings: JSON's always are, and the
				// server takes a string key only for a string.
				ck.value(at, k, s.PropertyNames)
			}
			ck.value(at, x, s.AdditionalProperties)
		}
		return
	}
	switch x := v.(type) {
	case map[string]any:
		ck.object(p, x, s)
	case []any:
		ck.nestedPositional(p, x, s)
	default:
		ck.fail(p, "want a map or an array, got %s", gotJSON(v))
	}
}

func (ck *checker) nestedPositional(p place, list []any, s *introspect.Schema) {
	if len(list) > len(s.Order) {
		ck.fail(p, "too many values: want at most %d (%s), got %d", len(s.Order), strings.Join(s.Order, ", "), len(list))
		return
	}
	for i, x := range list {
		ck.value(p.child(s.Order[i]), x, s.Properties[s.Order[i]])
	}
}

// integer checks a JSON number for an integer of the given format
// ("int8" … "uint64"): integral and in range, as the server requires.
func (ck *checker) integer(p place, v any, format string) {
	n, ok := v.(json.Number)
	if !ok {
		ck.fail(p, "want an integer, got %s", gotJSON(v))
		return
	}
	f, _, err := big.ParseFloat(string(n), 10, 0, big.ToNearestEven)
	if err != nil || !f.IsInt() {
		ck.fail(p, "want an integer, got %s", n)
		return
	}
	i, _ := f.Int(nil)
	lo, hi := intBounds(format)
	if i.Cmp(lo) < 0 || i.Cmp(hi) > 0 {
		if format == "" {
			format = "int64"
		}
		ck.fail(p, "want an integer from %s to %s (%s), got %s", lo, hi, format, n)
		return
	}
	// A fraction or an exponent makes it a float64 on the wire, which the
	// server takes only as the integer that float64 is: refuse one that
	// is not the integer written, rather than let a rounded one through.
	if strings.ContainsAny(string(n), ".eE") {
		x, _ := strconv.ParseFloat(string(n), 64)
		if sent := new(big.Float).SetFloat64(x); sent.Cmp(f) != 0 {
			ck.fail(p, "want an integer, got %s, which goes out as the float64 %s: write it without a fraction or an exponent",
				n, sent.Text('f', 0))
		}
	}
}

// intBounds returns the range of the integer type format names. The
// format is the server's word: a width other than 8, 16, 32 or 64 (which
// would make a bound of any size, or a negative shift) is taken as 64, as
// an unknown format is.
func intBounds(format string) (lo, hi *big.Int) {
	bits, signed := 64, true
	if rest, ok := strings.CutPrefix(format, "uint"); ok {
		signed = false
		bits, _ = strconv.Atoi(rest)
	} else if rest, ok := strings.CutPrefix(format, "int"); ok {
		bits, _ = strconv.Atoi(rest)
	}
	if bits != 8 && bits != 16 && bits != 32 {
		bits = 64
	}
	one := big.NewInt(1)
	if !signed {
		return big.NewInt(0), new(big.Int).Sub(new(big.Int).Lsh(one, uint(bits)), one)
	}
	hi = new(big.Int).Sub(new(big.Int).Lsh(one, uint(bits-1)), one)
	return new(big.Int).Neg(new(big.Int).Add(hi, one)), hi
}

// number checks a JSON number for a float32 or float64: an integer the
// float holds exactly, or a fraction within the float's range.
func (ck *checker) number(p place, v any, format string) {
	n, ok := v.(json.Number)
	if !ok {
		ck.fail(p, "want a number, got %s", gotJSON(v))
		return
	}
	prec := uint(53)
	if format == "float32" {
		prec = 24
	}
	f, _, err := big.ParseFloat(string(n), 10, 0, big.ToNearestEven)
	if err != nil {
		ck.fail(p, "want a number, got %s", n)
		return
	}
	isInt := !strings.ContainsAny(string(n), ".eE")
	if isInt {
		if new(big.Float).SetPrec(prec).SetMode(big.ToNearestEven).Set(f).Cmp(f) != 0 {
			ck.fail(p, "want a number that %s holds exactly, got %s", orFloat64(format), n)
		}
		return
	}
	if format == "float32" {
		// The server takes the float64 the CLI sends at the nearest
		// float32, and refuses it only when that is infinite.
		if x, _ := strconv.ParseFloat(string(n), 64); math.IsInf(float64(float32(x)), 0) {
			ck.fail(p, "want a number within float32's range, got %s", n)
		}
	}
}

func orFloat64(format string) string {
	if format == "" {
		return "float64"
	}
	return format
}

// gotJSON describes a JSON value for a message.
func gotJSON(v any) string {
	switch x := v.(type) {
	case []any:
		return "an array"
	case map[string]any:
		return "a map"
	case string:
		if len(x) > 40 {
			return strconv.Quote(x[:40]) + "…"
		}
		return strconv.Quote(x)
	case nil:
		return "null"
	}
	var b bytes.Buffer
	fmt.Fprint(&b, v)
	return b.String()
}
