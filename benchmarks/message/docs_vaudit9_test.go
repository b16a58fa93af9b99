package message

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// fieldKinds counts t's fields by kind.
func fieldKinds(t reflect.Type) map[reflect.Kind]int {
	out := map[reflect.Kind]int{}
	for f := range t.Fields() {
		out[f.Type.Kind()]++
	}
	return out
}

// TestDocsRecords checks what README.md, the report and Kind's comments
// say the records hold. Message: 33 string, integer, boolean and repeated
// fields, 14 of them strings and a list of strings. Numbers: 20 integer,
// float and boolean fields, a 300-byte blob, two number lists and a nested
// struct of 8 numbers and booleans; no strings anywhere.
func TestDocsRecords(t *testing.T) {
	mt := reflect.TypeFor[Message]()
	assert.Equal(t, 33, mt.NumField())
	k := fieldKinds(mt)
	assert.Equal(t, 14, k[reflect.String])
	assert.Equal(t, 2, k[reflect.Slice], "Tags and Samples")
	assert.Equal(t, 33, k[reflect.String]+k[reflect.Slice]+k[reflect.Bool]+k[reflect.Int32]+k[reflect.Int64])
	assert.Equal(t, reflect.String, reflect.TypeFor[[]string]().Elem().Kind())
	f, ok := mt.FieldByName("Tags")
	require.True(t, ok)
	assert.Equal(t, reflect.TypeFor[[]string](), f.Type)

	n := NewNumbers()
	nt := reflect.TypeOf(*n)
	scalar := 0
	var lists, blobs, nested int
	for f := range nt.Fields() {
		switch f.Type.Kind() {
		case reflect.Int32, reflect.Int64, reflect.Float64, reflect.Bool:
			scalar++
		case reflect.Slice:
			if f.Type.Elem().Kind() == reflect.Uint8 {
				blobs++
			} else {
				lists++
			}
		case reflect.Struct:
			nested++
			assert.Equal(t, 8, f.Type.NumField())
			for g := range f.Type.Fields() {
				assert.Contains(t, []reflect.Kind{reflect.Int32, reflect.Int64, reflect.Float64, reflect.Bool}, g.Type.Kind(), g.Name)
			}
		default:
			t.Errorf("Numbers.%s is a %s", f.Name, f.Type)
		}
	}
	assert.Equal(t, 20, scalar)
	assert.Equal(t, []int{1, 2, 1}, []int{blobs, lists, nested})
	assert.Len(t, n.Blob, 300)
}
