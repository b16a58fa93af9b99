package bench

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageSizeAndChecks(t *testing.T) {
	enc := EncodedMessage()
	assert.InDelta(t, 580, len(enc), 40, "the message should stay about 580 bytes in msgpack")
	require.NoError(t, CheckRaw(Workload{}, enc))

	bad := append([]byte(nil), enc...)
	bad[len(bad)-1]++
	assert.Error(t, CheckRaw(Workload{}, bad))
	assert.Error(t, CheckRaw(Workload{}, enc[:len(enc)-1]))

	m := message.New()
	m.Tags[0] = "changed"
	assert.Error(t, CheckMessage(m))
	assert.Error(t, CheckMessage(nil))
	require.NoError(t, CheckMessage(message.New()))

	bulk := BulkPayload(1000)
	require.NoError(t, CheckRaw(Workload{Bulk: 1000}, bulk))
	bulk[500]++
	assert.Error(t, CheckRaw(Workload{Bulk: 1000}, bulk))
}
