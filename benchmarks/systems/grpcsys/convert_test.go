package grpcsys

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/stretchr/testify/assert"
)

func TestConvertRoundTrip(t *testing.T) {
	assert.Equal(t, message.New(), fromProto(toProto(message.New())))
	assert.InDelta(t, 580, ProtoSize(), 40, "the message should stay about 580 bytes in protobuf")
}
