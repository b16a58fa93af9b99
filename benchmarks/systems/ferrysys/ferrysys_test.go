package ferrysys

import (
	"reflect"
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// methods lists what sys's server registers, by name and kind.
func methods(t *testing.T, sys *system) map[string]server.MethodInfo {
	t.Helper()
	sv, err := sys.Listen()
	require.NoError(t, err)
	defer func() { require.NoError(t, sv.Close()) }()
	out := map[string]server.MethodInfo{}
	for _, m := range sv.(*srv).s.Methods() {
		out[m.Name] = m
	}
	return out
}

// elem is t without its pointer, if it is one: typed handlers report the
// message type, reflected methods the pointer they take.
func elem(t reflect.Type) reflect.Type {
	if t != nil && t.Kind() == reflect.Pointer {
		return t.Elem()
	}
	return t
}

// TestHandlers checks that ferry registers typed handlers for every
// method and ferry-reflect the receiver's methods for the echoes only.
func TestHandlers(t *testing.T) {
	typed := methods(t, Sync().(*system))
	reflected := methods(t, Reflect().(*system))
	require.Len(t, typed, 5)
	require.Len(t, reflected, 3)
	for _, k := range message.Kinds() {
		name := echoMethods[k]
		for _, ms := range []map[string]server.MethodInfo{typed, reflected} {
			require.Contains(t, ms, name)
			assert.Equal(t, "unary", ms[name].Kind)
			assert.Equal(t, reflect.TypeOf(k.New()).Elem(), elem(ms[name].Args), name)
			assert.Equal(t, reflect.TypeOf(k.New()).Elem(), elem(ms[name].Reply), name)
		}
	}
	assert.Equal(t, "bidi", typed[streamMethod].Kind)
	assert.Contains(t, typed, bulkMethod)
	assert.Equal(t, "ferry", Reflect().(*system).VariantOf())
	assert.Empty(t, Sync().(*system).VariantOf())
}
