package introspect

import (
	"encoding"
	"reflect"
	"strings"
	"time"

	"github.com/vmihailenco/msgpack/v5"
)

// Schema describes the MessagePack shape of a Go type, in JSON Schema's
// vocabulary. Type is one of "null", "boolean", "integer", "number",
// "string", "binary", "timestamp", "array", "object", or empty for any
// value (an interface, codec.Raw, or a type with its own msgpack encoder).
type Schema struct {
	Type                 string             `msgpack:"type,omitempty" json:"type,omitempty"`
	Format               string             `msgpack:"format,omitempty" json:"format,omitempty"`                             // "int64", "uint8", "float32", ...: the Go type's width
	GoType               string             `msgpack:"goType,omitempty" json:"goType,omitempty"`                             // the Go type's name, for named types
	Nullable             bool               `msgpack:"nullable,omitempty" json:"nullable,omitempty"`                         // a pointer, slice or map: nil encodes as null
	Properties           map[string]*Schema `msgpack:"properties,omitempty" json:"properties,omitempty"`                     // a struct's fields by msgpack name
	Order                []string           `msgpack:"order,omitempty" json:"order,omitempty"`                               // a struct's fields in declaration (positional) order
	Required             []string           `msgpack:"required,omitempty" json:"required,omitempty"`                         // fields always encoded (no omitempty)
	AdditionalProperties *Schema            `msgpack:"additionalProperties,omitempty" json:"additionalProperties,omitempty"` // a map's values
	PropertyNames        *Schema            `msgpack:"propertyNames,omitempty" json:"propertyNames,omitempty"`               // a map's keys when not strings
	Items                *Schema            `msgpack:"items,omitempty" json:"items,omitempty"`                               // an array's elements
	MinItems             *int               `msgpack:"minItems,omitempty" json:"minItems,omitempty"`                         // a Go array's length
	MaxItems             *int               `msgpack:"maxItems,omitempty" json:"maxItems,omitempty"`                         // a Go array's length
	Ref                  string             `msgpack:"$ref,omitempty" json:"$ref,omitempty"`                                 // "#/$defs/NAME" for a recursive type
}

// Generator derives schemas, sharing one set of definitions for the
// recursive types it meets. The zero value is not usable; use NewGenerator.
type Generator struct {
	defs     map[string]*Schema
	visiting map[reflect.Type]bool
	names    map[reflect.Type]string
	refs     map[reflect.Type]bool
}

// NewGenerator returns a Generator with no definitions.
func NewGenerator() *Generator {
	return &Generator{
		defs:     map[string]*Schema{},
		visiting: map[reflect.Type]bool{},
		names:    map[reflect.Type]string{},
		refs:     map[reflect.Type]bool{},
	}
}

// Defs returns the definitions of the recursive types met so far, keyed by
// the name used in "$ref"; nil when there are none.
func (g *Generator) Defs() map[string]*Schema {
	if len(g.defs) == 0 {
		return nil
	}
	return g.defs
}

// SchemaOf returns t's schema; nil for a nil t.
func (g *Generator) SchemaOf(t reflect.Type) *Schema {
	if t == nil {
		return nil
	}
	return g.schema(t)
}

var (
	timeType          = reflect.TypeFor[time.Time]()
	customEncoderType = reflect.TypeFor[msgpack.CustomEncoder]()
	marshalerType     = reflect.TypeFor[msgpack.Marshaler]()
	binaryType        = reflect.TypeFor[encoding.BinaryMarshaler]()
	textType          = reflect.TypeFor[encoding.TextMarshaler]()
)

// schema describes t; a named pointer, slice, array or map type goes
// through ref, as a struct does, since it may contain itself (type T []T).
func (g *Generator) schema(t reflect.Type) *Schema {
	switch t.Kind() {
	case reflect.Pointer, reflect.Slice, reflect.Array, reflect.Map:
		if t.Name() != "" {
			return g.ref(t, func() *Schema { return g.plain(t) })
		}
	}
	return g.plain(t)
}

// plain follows the msgpack encoder's own order of checks: registered
// time, custom encoders, marshalers, then the kind.
func (g *Generator) plain(t reflect.Type) *Schema {
	if t.Kind() == reflect.Pointer {
		s := g.schema(t.Elem())
		if s.Ref != "" {
			return &Schema{Ref: s.Ref, Nullable: true}
		}
		c := *s
		c.Nullable = true
		return &c
	}
	if s := special(t); s != nil {
		return s
	}
	s := g.kind(t)
	if t.Name() != "" && t.PkgPath() != "" && s.GoType == "" && s.Ref == "" {
		s.GoType = t.String()
	}
	return s
}

// special handles the types the encoder treats by interface or
// registration rather than by kind; nil for the others.
func special(t reflect.Type) *Schema {
	pt := reflect.PointerTo(t)
	switch {
	case t == timeType:
		return &Schema{Type: "timestamp", GoType: t.String()}
	case t.Implements(customEncoderType) || pt.Implements(customEncoderType),
		t.Implements(marshalerType) || pt.Implements(marshalerType):
		return &Schema{GoType: t.String()} // any: the type encodes itself
	case t.Implements(binaryType) || pt.Implements(binaryType):
		return &Schema{Type: "binary", GoType: t.String()}
	case t.Implements(textType) || pt.Implements(textType):
		// The encoder writes the text as bin (EncodeBytes), not str.
		return &Schema{Type: "binary", GoType: t.String()}
	}
	return nil
}

func (g *Generator) kind(t reflect.Type) *Schema {
	switch k := t.Kind(); k {
	case reflect.Bool:
		return &Schema{Type: "boolean"}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		return &Schema{Type: "integer", Format: intFormat(k)}
	case reflect.Float32, reflect.Float64:
		return &Schema{Type: "number", Format: k.String()}
	case reflect.String:
		return &Schema{Type: "string"}
	case reflect.Slice:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Schema{Type: "binary", Nullable: true}
		}
		return &Schema{Type: "array", Items: g.schema(t.Elem()), Nullable: true}
	case reflect.Array:
		if t.Elem().Kind() == reflect.Uint8 {
			return &Schema{Type: "binary", MinItems: ptr(t.Len()), MaxItems: ptr(t.Len())}
		}
		return &Schema{Type: "array", Items: g.schema(t.Elem()), MinItems: ptr(t.Len()), MaxItems: ptr(t.Len())}
	case reflect.Map:
		s := &Schema{Type: "object", AdditionalProperties: g.schema(t.Elem()), Nullable: true}
		if t.Key().Kind() != reflect.String {
			s.PropertyNames = g.schema(t.Key())
		}
		return s
	case reflect.Struct:
		return g.ref(t, func() *Schema { return g.structSchema(t) })
	}
	return &Schema{} // interfaces (any value); chan and func do not encode
}

func intFormat(k reflect.Kind) string {
	switch k {
	case reflect.Int:
		return "int64"
	case reflect.Uint, reflect.Uintptr:
		return "uint64"
	}
	return k.String()
}

func ptr(n int) *int { return &n }

// ref describes t inline with build, or, when t turns out to be
// recursive, once under $defs with a $ref in its place.
func (g *Generator) ref(t reflect.Type, build func() *Schema) *Schema {
	if g.visiting[t] {
		g.refs[t] = true
		return &Schema{Ref: "#/$defs/" + g.defName(t)}
	}
	if g.refs[t] {
		return &Schema{Ref: "#/$defs/" + g.defName(t)}
	}
	g.visiting[t] = true
	s := build()
	delete(g.visiting, t)
	if g.refs[t] {
		s.GoType = t.String()
		g.defs[g.defName(t)] = s
		return &Schema{Ref: "#/$defs/" + g.defName(t)}
	}
	return s
}

// defName names t in $defs: its Go name, made unique.
func (g *Generator) defName(t reflect.Type) string {
	if n, ok := g.names[t]; ok {
		return n
	}
	base := t.String()
	if t.Name() == "" {
		base = "struct"
	}
	base = strings.NewReplacer("/", ".", "~", "_").Replace(base)
	n := base
	for i := 2; g.taken(n); i++ {
		n = base + "_" + itoa(i)
	}
	g.names[t] = n
	return n
}

func (g *Generator) taken(n string) bool {
	for _, v := range g.names {
		if v == n {
			return true
		}
	}
	return false
}

func itoa(i int) string {
	if i < 10 {
		return string(rune('0' + i))
	}
	return itoa(i/10) + string(rune('0'+i%10))
}
