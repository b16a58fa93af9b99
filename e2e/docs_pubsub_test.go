package e2e_test

import (
	"testing"

	"github.com/ferryrpc/ferry/pubsub"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestDocsPubSubWire checks PROTOCOL.md 9 on the wire, from a raw session
// to a broker: the first batch is empty and carries the subscription's ID,
// published messages arrive in batches {"m": [...], "d": dropped},
// PubSub.Publish answers the number of subscribers, and PubSub.Unsubscribe
// ends the stream successfully with the result {"d": final count}.
func TestDocsPubSubWire(t *testing.T) {
	s := server.New()
	t.Cleanup(func() { s.Close() })
	require.NoError(t, pubsub.NewBroker().Register(s))
	ws := dialSession(t, listen(t, s))

	sub := ws.openCall("PubSub.Subscribe")
	sub.write(frame(map[string]any{"topic": "news", "policy": 0, "queue": 0}), closeSend)
	first := sub.read()
	require.Len(t, first, 2, "%v", first)
	batch, ok := first[1].(map[string]any)
	require.True(t, ok, "%T", first[1])
	assert.Empty(t, batch["m"])
	id, _ := batch["id"].(string)
	assert.Regexp(t, "^[0-9a-f]{32}$", id, "128 random bits, hex")

	r := parseResponse(t, ws.call.read2(request(2, "PubSub.Publish", []any{map[string]any{"topic": "news", "data": "hello"}}, map[string]any{})))
	require.Nil(t, r.err)
	assert.EqualValues(t, 1, r.result, "queued for one subscriber")
	got := sub.read()
	require.Len(t, got, 2)
	batch, _ = got[1].(map[string]any)
	assert.Equal(t, []any{"hello"}, batch["m"])
	assert.EqualValues(t, 0, batch["d"])

	r = parseResponse(t, ws.call.read2(request(3, "PubSub.Unsubscribe", []any{id}, map[string]any{})))
	require.Nil(t, r.err)
	assert.Equal(t, true, r.result)
	msgs, r := sub.status()
	assert.Empty(t, msgs)
	assert.Nil(t, r.err)
	assert.Equal(t, map[string]any{"m": nil, "d": int8(0)}, r.result)
	sub.ended()

	r = parseResponse(t, ws.call.read2(request(4, "PubSub.Unsubscribe", []any{id}, map[string]any{})))
	assert.Equal(t, false, r.result, "no subscription left to end")
}
