package bench

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestMessageSizeAndChecks(t *testing.T) {
	for _, k := range message.Kinds() {
		t.Run(k.String(), func(t *testing.T) {
			w := Workload{Message: k}
			enc := EncodedMessage(k)
			assert.InDelta(t, 580, len(enc), 70, "every message should stay about 580 bytes in msgpack")
			assert.Equal(t, enc, RawPayload(w))
			require.NoError(t, CheckRaw(w, enc))

			bad := append([]byte(nil), enc...)
			bad[len(bad)-1]++
			assert.Error(t, CheckRaw(w, bad))
			assert.Error(t, CheckRaw(w, enc[:len(enc)-1]))

			require.NoError(t, CheckMessage(k, k.New()))
			assert.Error(t, CheckMessage(k, k.Zero()))
			assert.Error(t, CheckMessage(k, nil))
		})
	}
	assert.NotEqual(t, EncodedMessage(message.Default), EncodedMessage(message.AsArray))
	assert.Error(t, CheckRaw(Workload{Message: message.NoStrings}, EncodedMessage(message.Default)))

	m := message.New()
	m.Tags[0] = "changed"
	assert.Error(t, CheckMessage(message.Default, m))

	bulk := BulkPayload(1000)
	require.NoError(t, CheckRaw(Workload{Bulk: 1000}, bulk))
	bulk[500]++
	assert.Error(t, CheckRaw(Workload{Bulk: 1000}, bulk))
}
