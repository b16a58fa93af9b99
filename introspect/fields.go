package introspect

import (
	"reflect"
	"strings"
)

// field is one struct field as the msgpack encoder writes it.
type field struct {
	name      string
	typ       reflect.Type
	omitEmpty bool
}

// structSchema describes a struct as an object keyed by msgpack field
// names, or, for an `msgpack:",as_array"` struct, as a positional array.
func (g *Generator) structSchema(t reflect.Type) *Schema {
	fs, asArray := fieldsOf(t, map[reflect.Type]bool{})
	if asArray {
		s := &Schema{Type: "array", MinItems: ptr(len(fs)), MaxItems: ptr(len(fs))}
		for _, f := range fs {
			s.Order = append(s.Order, f.name)
		}
		s.Items = &Schema{} // positional: see "order"; each element's shape is its field's
		s.Properties = map[string]*Schema{}
		for _, f := range fs {
			s.Properties[f.name] = g.schema(f.typ)
		}
		return s
	}
	s := &Schema{Type: "object", Properties: make(map[string]*Schema, len(fs))}
	for _, f := range fs {
		s.Properties[f.name] = g.schema(f.typ)
		s.Order = append(s.Order, f.name)
		if !f.omitEmpty {
			s.Required = append(s.Required, f.name)
		}
	}
	return s
}

// tag is a parsed `msgpack:"name,opt,key:value"` struct tag.
type tag struct {
	name string
	opts map[string]bool
}

func parseTag(s string) tag {
	parts := strings.Split(s, ",")
	tg := tag{name: strings.TrimSpace(parts[0]), opts: map[string]bool{}}
	for _, p := range parts[1:] {
		key, _, _ := strings.Cut(strings.TrimSpace(p), ":")
		tg.opts[key] = true
	}
	return tg
}

// fieldsOf lists t's encoded fields with the msgpack library's rules:
// `msgpack:"-"` and unexported fields are skipped, a `_msgpack` field's
// omitempty applies to the fields after it and its as_array makes the
// struct an array, and embedded structs are inlined unless tagged
// noinline, unless (without an inline tag) one of their fields would be
// shadowed, in which case the embedded struct is one field. The fields of
// a struct embedded through a pointer are never required: a nil pointer
// writes none of them.
// stack holds the structs being flattened, so that a struct embedding
// itself through a pointer ends as an ordinary field.
func fieldsOf(t reflect.Type, stack map[reflect.Type]bool) (fs []field, asArray bool) {
	stack[t] = true
	defer delete(stack, t)
	seen := map[string]bool{}
	omitAll := false
	for i := range t.NumField() {
		f := t.Field(i)
		tg := parseTag(f.Tag.Get("msgpack"))
		if tg.name == "-" {
			continue
		}
		if f.Name == "_msgpack" {
			asArray = tg.opts["as_array"] || tg.opts["asArray"]
			omitAll = omitAll || tg.opts["omitempty"]
		}
		if !f.IsExported() && !f.Anonymous {
			continue
		}
		fd := field{name: tg.name, typ: f.Type, omitEmpty: omitAll || tg.opts["omitempty"]}
		if fd.name == "" {
			fd.name = f.Name
		}
		if f.Anonymous && !tg.opts["noinline"] && inlinable(f.Type) && !stack[derefStruct(f.Type)] {
			inner, _ := fieldsOf(derefStruct(f.Type), stack)
			if tg.opts["inline"] || !shadows(inner, seen) {
				for _, in := range inner {
					// Through a nil pointer the encoder writes none of
					// them: they are not always there.
					in.omitEmpty = in.omitEmpty || f.Type.Kind() == reflect.Pointer
					if !seen[in.name] {
						seen[in.name] = true
						fs = append(fs, in)
					}
				}
				continue
			}
		}
		if !seen[fd.name] {
			seen[fd.name] = true
			fs = append(fs, fd)
		}
	}
	return fs, asArray
}

// inlinable reports whether an embedded field of type t encodes as a
// plain struct, which the msgpack library inlines.
func inlinable(t reflect.Type) bool {
	st := derefStruct(t)
	return st != nil && special(st) == nil
}

func derefStruct(t reflect.Type) reflect.Type {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() != reflect.Struct {
		return nil
	}
	return t
}

func shadows(inner []field, seen map[string]bool) bool {
	for _, f := range inner {
		if seen[f.name] {
			return true
		}
	}
	return false
}
