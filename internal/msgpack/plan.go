package msgpack

import (
	"encoding"
	"encoding/binary"
	"reflect"
	"slices"
	"sync"
	"unsafe"

	vmsgpack "github.com/vmihailenco/msgpack/v5"
)

// The fast path encodes and decodes plain Go values — structs, basic
// kinds, strings, byte slices, slices, string-keyed maps, pointers — with
// a plan compiled once per type, instead of msgpack's per-field reflection
// and type-cache lookups. Its output is what msgpack produces (structs as
// maps keyed by field name or `msgpack` tag, or as arrays with as_array;
// compact integers; omitempty and embedded structs as fields.go lists
// them), and it decodes what msgpack accepts for those types, except
// conversions that would lose information and arrays longer than the
// struct they fill (see strict.go); an array shorter than its struct
// leaves the remaining fields zero. Any other type (custom encoders,
// interfaces, time.Time, the field options fields.go marks not plain) goes
// to msgpack, after check applies the same rules to the bytes. Fields are
// reached by address (ptr.go); the strings of one value are cut from
// shared copies of at most stringWindow bytes of it (decode.go).

type plan struct {
	enc func(b []byte, v reflect.Value) []byte
	dec func(d *fastDecoder, v reflect.Value) error
	// empty reports whether omitempty omits v; nil means isEmpty.
	empty func(v reflect.Value) bool
	// The same on the value's address (see ptr.go).
	encP   func(b []byte, p unsafe.Pointer) []byte
	decP   func(d *fastDecoder, p unsafe.Pointer) error
	emptyP func(p unsafe.Pointer) bool
	elem   *plan // a pointer's element
}

// typedPlan is a type and its plan (nil: not fast), what the plan cache
// holds and the one-entry caches in front of it keep.
type typedPlan struct {
	t reflect.Type
	p *plan
}

var plans sync.Map // reflect.Type → *typedPlan

var (
	customEncoderType = reflect.TypeFor[vmsgpack.CustomEncoder]()
	customDecoderType = reflect.TypeFor[vmsgpack.CustomDecoder]()
	marshalerType     = reflect.TypeFor[vmsgpack.Marshaler]()
	unmarshalerType   = reflect.TypeFor[vmsgpack.Unmarshaler]()
	binMarshalerType  = reflect.TypeFor[encoding.BinaryMarshaler]()
	binUnmarshalType  = reflect.TypeFor[encoding.BinaryUnmarshaler]()
	textMarshalerType = reflect.TypeFor[encoding.TextMarshaler]()
	textUnmarshalType = reflect.TypeFor[encoding.TextUnmarshaler]()
	isZeroerType      = reflect.TypeFor[interface{ IsZero() bool }]()
)

// planFor returns t with its fast plan (nil when t must go through
// msgpack).
func planFor(t reflect.Type) *typedPlan {
	if tp, ok := plans.Load(t); ok {
		return tp.(*typedPlan)
	}
	tp, _ := plans.LoadOrStore(t, &typedPlan{t: t, p: compile(t, map[reflect.Type]bool{})})
	return tp.(*typedPlan)
}

func custom(t reflect.Type) bool {
	for _, it := range []reflect.Type{customEncoderType, customDecoderType, marshalerType, unmarshalerType,
		binMarshalerType, binUnmarshalType, textMarshalerType, textUnmarshalType} {
		if t.Implements(it) || reflect.PointerTo(t).Implements(it) {
			return true
		}
	}
	return false
}

// compile builds t's plan; seen guards against recursive types, which go
// to msgpack.
func compile(t reflect.Type, seen map[reflect.Type]bool) *plan {
	if seen[t] || custom(t) {
		return nil
	}
	seen[t] = true
	defer delete(seen, t)
	if p := scalarPlan(t.Kind()); p != nil {
		return p
	}
	switch t.Kind() {
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			if custom(t.Elem()) {
				return nil
			}
			return &plan{enc: encBytes, dec: decBytes, encP: encBytesP, decP: decBytesP, emptyP: emptySliceP}
		}
		return withElem(t.Elem(), seen, func(ep *plan) *plan {
			return &plan{enc: encSlice(ep), dec: decSlice(t, ep), encP: encSliceP(t, ep), decP: decSliceP(t, ep),
				emptyP: emptySliceP}
		})
	case reflect.Map:
		if t.Key().Kind() != reflect.String || custom(t.Key()) {
			return nil
		}
		return withElem(t.Elem(), seen, func(vp *plan) *plan { return reflectP(t, &plan{enc: encMap(vp), dec: decMap(t, vp)}) })
	case reflect.Pointer:
		return withElem(t.Elem(), seen, func(ep *plan) *plan {
			return &plan{enc: encPtr(ep), dec: decPtr(t, ep), encP: encPtrP(ep), decP: decPtrP(t, ep), emptyP: nilPtrP,
				elem: ep}
		})
	case reflect.Struct:
		return compileStruct(t, seen)
	}
	return nil
}

// withElem compiles the element type and builds the container's plan
// from it, or returns nil when the element has none.
func withElem(elem reflect.Type, seen map[reflect.Type]bool, build func(*plan) *plan) *plan {
	ep := compile(elem, seen)
	if ep == nil {
		return nil
	}
	return build(ep)
}

// structPlan is a struct's compiled fields.
type structPlan struct {
	t       reflect.Type
	fields  []fieldPlan           // as fieldsOf lists them
	byName  map[string]*fieldPlan // every name a map key may use
	names   []string
	asArray bool
	omits   bool // some field is omitempty
}

// fieldPlan is one field of a structPlan.
type fieldPlan struct {
	name      string
	key       []byte  // the encoded name
	keyWord   uint64  // key's bytes in a little-endian word, when it fits one
	keyMask   uint64  // the bytes of keyWord that are key's; 0: key is longer
	offset    uintptr // from the struct's address, through path
	index     int     // the field, when path is nil
	path      []int   // through inlined embedded structs
	omitEmpty bool
	readOnly  bool // an unexported embedded field: reflect decodes it
	first     bool // byName[name] is this field (a later duplicate wins)
	p         *plan
}

func compileStruct(t reflect.Type, seen map[reflect.Type]bool) *plan {
	si := fieldsOf(t)
	if !si.plain {
		return nil
	}
	sp := &structPlan{t: t, fields: make([]fieldPlan, len(si.list)), names: si.names, asArray: si.asArray}
	for i, f := range si.list {
		if !compileField(&sp.fields[i], t, f, seen) {
			return nil
		}
		sp.omits = sp.omits || f.omitEmpty
	}
	sp.byName = make(map[string]*fieldPlan, len(si.byName))
	for name, f := range si.byName {
		i := slices.IndexFunc(sp.fields, func(fp fieldPlan) bool {
			return slices.Equal(fp.path, f.index) ||
				fp.path == nil && len(f.index) == 1 && fp.index == f.index[0]
		})
		if i >= 0 {
			sp.byName[name] = &sp.fields[i]
			continue
		}
		fp := &fieldPlan{} // an embedded struct, decoded whole
		if !compileField(fp, t, f, seen) {
			return nil
		}
		sp.byName[name] = fp
	}
	for i := range sp.fields {
		sp.fields[i].first = sp.byName[sp.fields[i].name] == &sp.fields[i]
	}
	return &plan{enc: sp.encode, dec: sp.decode, empty: sp.isEmpty, encP: sp.encodeP, decP: sp.decodeP, emptyP: sp.isEmptyP}
}

// compileField fills fp for f, a field of t, and reports false when f
// takes msgpack's path: its type has no plan, or omitempty would ask
// msgpack's IsZero or read an unexported embedded value (msgpack panics on
// that).
func compileField(fp *fieldPlan, t reflect.Type, f field, seen map[reflect.Type]bool) bool {
	if f.omitEmpty && (f.readOnly || f.typ.Implements(isZeroerType)) {
		return false
	}
	p := compile(f.typ, seen)
	if p == nil {
		return false
	}
	*fp = fieldPlan{name: f.name, key: AppendString(nil, f.name), index: f.index[0], omitEmpty: f.omitEmpty,
		readOnly: f.readOnly, p: p}
	if len(fp.key) <= 8 {
		var w [8]byte
		copy(w[:], fp.key)
		fp.keyWord, fp.keyMask = binary.LittleEndian.Uint64(w[:]), ^uint64(0)>>(64-8*len(fp.key))
	}
	for _, i := range f.index { // inlined structs are fields, never pointers
		sf := t.Field(i)
		fp.offset += sf.Offset
		t = sf.Type
	}
	if len(f.index) > 1 {
		fp.path = f.index
	}
	return true
}

// value returns the field of the struct v.
func (f *fieldPlan) value(v reflect.Value) reflect.Value {
	if f.path == nil {
		return v.Field(f.index)
	}
	return v.FieldByIndex(f.path)
}

// omitted reports whether omitempty leaves the field value fv out.
func (f *fieldPlan) omitted(fv reflect.Value) bool {
	if !f.omitEmpty {
		return false
	}
	if f.p.empty != nil {
		return f.p.empty(fv)
	}
	return isEmpty(fv)
}
