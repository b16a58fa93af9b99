package grpcsys

import (
	"testing"

	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/proto/benchpb"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"google.golang.org/protobuf/proto"
)

func TestConvertRoundTrip(t *testing.T) {
	assert.Equal(t, message.New(), fromProto(toProto(message.New())))
	assert.Equal(t, message.NewNumbers(), numbersFromProto(numbersToProto(message.NewNumbers())))
	for _, k := range message.Kinds() {
		assert.InDelta(t, 580, ProtoSize(k), 70, "%s: every message should stay about 580 bytes in protobuf", k)
	}
	assert.Equal(t, ProtoSize(message.Default), ProtoSize(message.AsArray), "protobuf has no as_array form")
}

// TestNumbersSurviveTheWire checks the conversion through protobuf's
// encoding, where a nil nested message and empty lists come back empty.
func TestNumbersSurviveTheWire(t *testing.T) {
	b, err := proto.Marshal(numbersToProto(message.NewNumbers()))
	require.NoError(t, err)
	var p benchpb.Numbers
	require.NoError(t, proto.Unmarshal(b, &p))
	assert.Equal(t, message.NewNumbers(), numbersFromProto(&p))
	assert.Equal(t, &message.Numbers{}, numbersFromProto(&benchpb.Numbers{}))
}
