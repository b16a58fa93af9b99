package msgpack

import (
	"errors"
	"reflect"
	"slices"
	"strconv"
	"sync"
)

// Types without a fast plan go to msgpack, whose rules differ from the
// fast path's: it refuses an integral float for an int and a float64 for
// a float32, and an array shorter than the struct it fills, with messages
// that name msgpack codes. check walks such a value's bytes against its
// type first and applies the fast path's rules to every part it
// understands; what it does not understand (interfaces, custom decoders,
// extension values) it leaves to msgpack. Where the fast path takes a
// value that msgpack would not, check records an edit, and msgpack decodes
// an edited copy: the integer or float32 encoding of the number, an array
// padded with nils to its struct's length.

// checkSlow checks b against v's type before msgpack decodes it, and
// returns the bytes msgpack should decode: b, or an edited copy (then
// d.edits is not empty).
func (d *fastDecoder) checkSlow(b []byte, v any) ([]byte, error) {
	d.edits = d.edits[:0]
	t := reflect.TypeOf(v)
	if t == nil || t.Kind() != reflect.Pointer {
		return b, nil
	}
	top := t.Elem()
	for top.Kind() == reflect.Pointer {
		top = top.Elem()
	}
	if top.Kind() == reflect.Interface || isCustom(top) {
		d.needMatch = false
		return b, nil // nothing to check: msgpack takes any value
	}
	d.b, d.off = b, 0
	err := d.check(t.Elem(), 0)
	d.b, d.needMatch = nil, false
	if err == errLeave {
		d.edits = d.edits[:0]
		return b, nil
	}
	if err != nil || len(d.edits) == 0 {
		return b, err
	}
	return applyEdits(b, d.edits), nil
}

// errLeave stops check at an extension value where msgpack expects a map,
// an array or a struct: msgpack refuses it (it would read the payload as
// the container), and its refusal names the extension.
var errLeave = errors.New("left to msgpack")

// check walks the value at d.off against t. It is one switch over the Go
// kinds, each case a few lines, kept together (63 lines) so that the rules
// read side by side with the fast path's dec functions.
func (d *fastDecoder) check(t reflect.Type, depth int) error {
	c, err := d.peek()
	if err != nil {
		return err
	}
	if c == 0xc0 {
		d.off++ // nil fits everything
		return nil
	}
	if depth > 4*MaxDepth || isCustom(t) {
		return d.skip()
	}
	if isExt(c) {
		switch t.Kind() {
		case reflect.Map, reflect.Slice, reflect.Array, reflect.Struct:
			return errLeave
		}
		return d.skip()
	}
	switch k := t.Kind(); k {
	case reflect.Pointer:
		return d.check(t.Elem(), depth+1)
	case reflect.Bool:
		if c != 0xc2 && c != 0xc3 {
			return d.wrong("a boolean")
		}
		d.off++
		return nil
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		start := d.off
		i, err := d.intFor(k)
		if err == nil && (c == 0xca || c == 0xcb) { // msgpack takes no float here
			d.edits = append(d.edits, edit{pos: start, end: d.off, repl: AppendInt(nil, i)})
		}
		return err
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		start := d.off
		u, err := d.uintFor(k)
		if err == nil && (c == 0xca || c == 0xcb) {
			d.edits = append(d.edits, edit{pos: start, end: d.off, repl: AppendUint(nil, u)})
		}
		return err
	case reflect.Float32, reflect.Float64:
		start := d.off
		f, err := d.floatFor(k)
		switch {
		case err != nil:
		case k == reflect.Float32 && (c == 0xcb || c == 0xcf): // nor a float64 for a float32; a uint64: below
			d.edits = append(d.edits, edit{pos: start, end: d.off, repl: AppendFloat32(nil, float32(f))})
		case c == 0xcf: // msgpack reads a uint64 as an int64: 2^63 and up turned negative
			d.edits = append(d.edits, edit{pos: start, end: d.off, repl: AppendFloat64(nil, f)})
		}
		return err
	case reflect.String:
		if _, err := d.str(); err != nil {
			return d.wrong("a string")
		}
		return nil
	case reflect.Slice, reflect.Array:
		return d.checkArray(t, c, depth)
	case reflect.Map:
		return d.checkMap(t, depth)
	case reflect.Struct:
		return d.checkStruct(t, depth)
	}
	return d.skip() // interfaces; chan, func and complex are msgpack's to refuse
}

func isExt(c byte) bool { return c >= 0xc7 && c <= 0xc9 || c >= 0xd4 && c <= 0xd8 }

func (d *fastDecoder) checkArray(t reflect.Type, c byte, depth int) error {
	if t.Elem().Kind() == reflect.Uint8 && (c&0xe0 == 0xa0 || c >= 0xc4 && c <= 0xc6 || c >= 0xd9 && c <= 0xdb) {
		return d.skip() // bytes from str or bin
	}
	n, ok := d.arrayLen()
	if !ok {
		return d.wrong("an array")
	}
	for i := 0; i < n; i++ {
		if err := d.check(t.Elem(), depth+1); err != nil {
			return under(err, "["+strconv.Itoa(i)+"]", 0)
		}
	}
	return nil
}

func (d *fastDecoder) checkMap(t reflect.Type, depth int) error {
	n, ok := d.mapLen()
	if !ok {
		return d.wrong("a map")
	}
	for i := 0; i < n; i++ {
		seg := "[" + d.got() + "]"
		if err := d.check(t.Key(), depth+1); err != nil {
			return under(err, seg, 0)
		}
		if err := d.check(t.Elem(), depth+1); err != nil {
			return under(err, seg, 0)
		}
	}
	return nil
}

func (d *fastDecoder) checkStruct(t reflect.Type, depth int) error {
	needMatch := d.needMatch
	d.needMatch = false
	si := fieldsOf(t)
	start := d.off
	if n, ok := d.arrayLen(); ok {
		body := d.off
		if n > len(si.list) {
			return tooMany(n, si.names)
		}
		for i := 0; i < n; i++ {
			if err := d.check(si.list[i].typ, depth+1); err != nil {
				return under(err, si.list[i].name, i+1)
			}
		}
		if n > 0 && n < len(si.list) { // a new header, and nils for the rest
			d.edits = append(d.edits,
				edit{pos: start, end: body, repl: AppendArrayHeader(nil, len(si.list))},
				edit{pos: d.off, end: d.off, repl: make([]byte, len(si.list)-n)})
			nils := d.edits[len(d.edits)-1].repl
			for i := range nils {
				nils[i] = 0xc0
			}
		}
		return nil
	}
	n, ok := d.mapLen()
	if !ok {
		return d.wrong("a map or an array")
	}
	matched := 0
	for i := 0; i < n; i++ {
		key, err := d.str()
		if err != nil {
			return d.wrong("a string key")
		}
		fd, found := si.byName[string(key)]
		if !found {
			if d.strictFields {
				return unknownField(key, si.names)
			}
			if err := d.skip(); err != nil {
				return err
			}
			continue
		}
		matched++
		if err := d.check(fd.typ, depth+1); err != nil {
			return under(err, string(key), 0)
		}
	}
	if needMatch && matched == 0 && n > 0 {
		return d.noMatch(start, si.names)
	}
	return nil
}

// edit replaces b[pos:end] with repl; pos == end inserts.
type edit struct {
	pos, end int
	repl     []byte
}

// applyEdits returns an edited copy of b. Replacements never overlap;
// insertions (nils at the end of an array) go before a replacement at the
// same position, and among themselves keep their order, which is the
// order their arrays ended: inner arrays first.
func applyEdits(b []byte, edits []edit) []byte {
	slices.SortStableFunc(edits, func(x, y edit) int {
		if x.pos != y.pos {
			return x.pos - y.pos
		}
		return boolInt(x.pos != x.end) - boolInt(y.pos != y.end)
	})
	size := len(b)
	for _, e := range edits {
		size += len(e.repl) - (e.end - e.pos)
	}
	out := make([]byte, 0, size)
	cur := 0
	for _, e := range edits {
		out = append(append(out, b[cur:e.pos]...), e.repl...)
		cur = e.end
	}
	return append(out, b[cur:]...)
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

var customTypes sync.Map // reflect.Type → bool

// isCustom reports whether t decodes itself (see custom); cached.
func isCustom(t reflect.Type) bool {
	if v, ok := customTypes.Load(t); ok {
		return v.(bool)
	}
	c := custom(t)
	customTypes.Store(t, c)
	return c
}
