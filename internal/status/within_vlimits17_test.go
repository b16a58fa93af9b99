package status

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestVlimits17AppendErrorWithin: an error response that would pass the
// receiver's limit loses its details, then has its message cut on a rune
// boundary ("…") until it fits; its code and not-executed flag stay. One
// that fits is AppendError's, byte for byte.
func TestVlimits17AppendErrorWithin(t *testing.T) {
	details := map[string]string{"k": strings.Repeat("d", 4<<10)}
	for _, max := range []int{wire.MinMaxMessage, 4 << 10, 16 << 10, 64 << 10, 200 << 10} {
		for _, n := range []int{0, 100, 900, 3 << 10, 64 << 10} {
			for _, ext := range []bool{false, true} {
				err := ferry.MarkNotExecuted(&ferry.Error{Code: ferry.CodeAborted, Message: strings.Repeat("€", n/3), Details: details})
				got := AppendErrorWithin([]byte{0xaa}, 7, err, ext, max)
				require.Equal(t, byte(0xaa), got[0])
				got = got[1:]
				whole := AppendError(nil, 7, err, ext)
				if len(whole) <= max {
					assert.Equal(t, whole, got, "max %d, %d bytes", max, n)
					continue
				}
				require.LessOrEqual(t, len(got), max, "max %d, %d bytes", max, n)
				m, perr := wire.Parse(got)
				require.NoError(t, perr)
				fe := Decode(m.Error, m.Ext, msgpack.NewDecoder())
				assert.True(t, utf8.ValidString(fe.Message))
				if msg := err.Message; fe.Message != msg && msg != "" {
					assert.True(t, strings.HasSuffix(fe.Message, "…"), "max %d, %d bytes: marked", max, n)
					assert.Greater(t, len(fe.Message), max-128, "max %d, %d bytes: cut no more than it must", max, n)
				}
				if ext {
					assert.Equal(t, ferry.CodeAborted, fe.Code)
					assert.True(t, ferry.NotExecuted(fe))
					assert.Empty(t, fe.Details)
				}
			}
		}
	}
}
