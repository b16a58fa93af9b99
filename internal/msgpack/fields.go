package msgpack

import (
	"reflect"
	"strings"
	"sync"
)

// A struct's fields as msgpack v5.4.1 lists them (its getFields), which
// both the fast path and check follow:
//
//   - a field tagged `msgpack:"-"` and an unexported field that is not
//     embedded are skipped; the name is the tag's, else the Go name;
//   - a `_msgpack` field's options apply to the struct: as_array (or
//     asArray) encodes it as an array of every field, and omitempty makes
//     every field declared after it omitempty;
//   - an embedded struct (or pointer to one) that encodes as a plain struct
//     is inlined (its fields listed in its place) when tagged inline, or
//     when none of its fields is shadowed by an earlier name, unless tagged
//     noinline; a map key naming the embedded field itself still decodes
//     it whole;
//   - an alias option adds a second name for decoding.
//
// Encoding lists every field in order, duplicates included; decoding looks
// names up in byName, where a later field wins.

// field is one struct field.
type field struct {
	name      string
	index     []int // through inlined embedded structs
	typ       reflect.Type
	omitEmpty bool
	readOnly  bool // reached as an unexported embedded field: not settable
}

// structInfo is a struct's fields.
type structInfo struct {
	list    []field          // in the order they encode and an array fills them
	names   []string         // list's names
	byName  map[string]field // every name a map key may use
	asArray bool
	// plain is false when some field needs what the fast path does not
	// copy from msgpack: an intern option, a tag outside the simple
	// syntax, an inlined pointer, an inline option on a type that is not a
	// plain struct.
	plain bool
}

func (si *structInfo) add(f field) {
	si.list = append(si.list, f)
	si.names = append(si.names, f.name)
	si.byName[f.name] = f
}

var structInfos sync.Map // reflect.Type → *structInfo

func fieldsOf(t reflect.Type) *structInfo {
	if v, ok := structInfos.Load(t); ok {
		return v.(*structInfo)
	}
	si := buildFields(t, map[reflect.Type]bool{})
	structInfos.Store(t, si)
	return si
}

// buildFields lists t's fields; stack guards against a struct that embeds
// itself.
func buildFields(t reflect.Type, stack map[reflect.Type]bool) *structInfo {
	stack[t] = true
	defer delete(stack, t)
	si := &structInfo{byName: map[string]field{}, plain: true}
	omitAll := false
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := parseTag(f.Tag.Get("msgpack"))
		si.plain = si.plain && tag.simple && !tag.has("intern")
		if tag.name == "-" {
			continue
		}
		if f.Name == "_msgpack" {
			si.asArray = tag.has("as_array") || tag.has("asArray")
			omitAll = omitAll || tag.has("omitempty")
		}
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		fd := field{name: tag.name, index: []int{i}, typ: f.Type, omitEmpty: omitAll || tag.has("omitempty"),
			readOnly: !f.IsExported()}
		if fd.name == "" {
			fd.name = f.Name
		}
		if f.Anonymous && !tag.has("noinline") && si.inline(fd, tag.has("inline"), stack) {
			si.byName[fd.name] = fd
			continue
		}
		si.add(fd)
		if alias, ok := tag.opts["alias"]; ok {
			si.byName[alias] = fd
		}
	}
	return si
}

// inline adds the fields of the embedded field f when msgpack would inline
// them (force: tagged inline), and reports whether it did.
func (si *structInfo) inline(f field, force bool, stack map[reflect.Type]bool) bool {
	t := f.typ
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isCustom(t) || stack[t] {
		si.plain = si.plain && !force
		return false
	}
	inner := buildFields(t, stack)
	if !force {
		for _, g := range inner.list {
			if _, dup := si.byName[g.name]; dup {
				return false
			}
		}
	}
	si.plain = si.plain && inner.plain && f.typ.Kind() == reflect.Struct
	for _, g := range inner.list {
		if _, dup := si.byName[g.name]; dup {
			continue
		}
		g.index = append(append([]int(nil), f.index...), g.index...)
		si.add(g)
	}
	return true
}

// tag is a parsed `msgpack` struct tag.
type tag struct {
	name   string
	opts   map[string]string
	simple bool // no quotes, escapes, brackets or key:value name
}

func (t tag) has(opt string) bool {
	_, ok := t.opts[opt]
	return ok
}

// parseTag reads a tag as msgpack's tag parser does for the simple
// syntax: "name,opt,key:value"; anything else is marked not simple.
func parseTag(s string) tag {
	parts := strings.Split(s, ",")
	t := tag{opts: map[string]string{}, simple: !strings.ContainsAny(s, `'\(`)}
	if strings.Contains(parts[0], ":") {
		t.simple = false // msgpack reads "k:v" first as an option, and no name
	} else {
		t.name, parts = strings.TrimSpace(parts[0]), parts[1:]
	}
	for _, p := range parts {
		k, v, _ := strings.Cut(p, ":")
		t.opts[strings.TrimSpace(k)] = strings.TrimSpace(v)
	}
	return t
}

// FieldNames returns the names of a struct type's fields in the order an
// array fills them (a `msgpack` tag's name, else the Go name; embedded
// structs inlined as msgpack inlines them). Pointers are followed. It
// returns nil when t does not decode field by field: not a struct, or a
// type with its own decoding.
func FieldNames(t reflect.Type) []string {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct || isCustom(t) {
		return nil
	}
	names := fieldsOf(t).names
	return append(make([]string, 0, len(names)), names...)
}
