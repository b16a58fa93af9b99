package ferry_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

// Outgoing metadata merges, the later value winning, and is copied.
func TestOutgoingMetadata(t *testing.T) {
	assert.Nil(t, ferry.OutgoingMetadata(t.Context()))
	md := ferry.Metadata{"a": "1", "b": "1"}
	ctx := ferry.WithOutgoingMetadata(t.Context(), md)
	ctx = ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"b": "2", "c": "2"})
	md["a"] = "changed"
	assert.Equal(t, ferry.Metadata{"a": "1", "b": "2", "c": "2"}, ferry.OutgoingMetadata(ctx))
}

// NewOutgoingContext replaces the outgoing metadata, without a copy.
func TestNewOutgoingContext(t *testing.T) {
	ctx := ferry.WithOutgoingMetadata(t.Context(), ferry.Metadata{"a": "1"})
	md := ferry.Metadata{"b": "2"}
	ctx = ferry.NewOutgoingContext(ctx, md)
	assert.Equal(t, ferry.Metadata{"b": "2"}, ferry.OutgoingMetadata(ctx))
	md["c"] = "3" // not copied: the context sees it
	assert.Equal(t, ferry.Metadata{"b": "2", "c": "3"}, ferry.OutgoingMetadata(ctx))
	assert.Nil(t, ferry.OutgoingMetadata(ferry.NewOutgoingContext(ctx, nil)))
}

// Incoming metadata is separate from outgoing: a handler does not forward
// what it received unless it copies it.
func TestIncomingMetadata(t *testing.T) {
	ctx := ferry.NewIncomingContext(t.Context(), ferry.Metadata{"tenant": "a"})
	assert.Equal(t, ferry.Metadata{"tenant": "a"}, ferry.IncomingMetadata(ctx))
	assert.Nil(t, ferry.OutgoingMetadata(ctx))
	assert.Nil(t, ferry.IncomingMetadata(t.Context()))
	v, ok := ferry.IncomingMetadataValue(ctx, "tenant")
	assert.True(t, ok)
	assert.Equal(t, "a", v)
	_, ok = ferry.IncomingMetadataValue(ctx, "other")
	assert.False(t, ok)
	_, ok = ferry.IncomingMetadataValue(t.Context(), "tenant")
	assert.False(t, ok)
}

func TestMetadataStringRedactsSecrets(t *testing.T) {
	for _, key := range []string{"Authorization", "x-api-key", "session-id", "password", "Cookie", "refresh_token"} {
		assert.Equal(t, "Metadata{"+key+"=[redacted]}", ferry.Metadata{key: "hunter2"}.String(), key)
	}
	assert.Equal(t, "Metadata{tenant=a}", ferry.Metadata{"tenant": "a"}.String())
	assert.Equal(t, "Metadata{}", ferry.Metadata{}.String())
}

func TestAuthInfoStringHidesToken(t *testing.T) {
	s := ferry.AuthInfo{Token: "hunter2"}.String()
	assert.NotContains(t, s, "hunter2")
	assert.Equal(t, "AuthInfo{remote=<nil> tls=false token=[redacted]}", s)
	assert.Equal(t, "AuthInfo{remote=<nil> tls=false token=none}", ferry.AuthInfo{}.String())
}

func TestIdentity(t *testing.T) {
	assert.Nil(t, ferry.IdentityFromContext(t.Context()))
	assert.Equal(t, "alice", ferry.IdentityFromContext(ferry.WithIdentity(t.Context(), "alice")))
}

// AppendOutgoingMetadata adds one pair on top of whatever ctx carries
// (a map, earlier pairs), the newest winning, without touching the map
// below it; WithOutgoingMetadata and NewOutgoingContext work on top of it.
func TestAppendOutgoingMetadata(t *testing.T) {
	ctx := ferry.AppendOutgoingMetadata(t.Context(), "a", "1")
	assert.Equal(t, ferry.Metadata{"a": "1"}, ferry.OutgoingMetadata(ctx))

	base := ferry.Metadata{"a": "base", "b": "base"}
	ctx = ferry.NewOutgoingContext(t.Context(), base)
	ctx = ferry.AppendOutgoingMetadata(ctx, "b", "1")
	ctx = ferry.AppendOutgoingMetadata(ctx, "c", "1")
	ctx = ferry.AppendOutgoingMetadata(ctx, "c", "2")
	assert.Equal(t, ferry.Metadata{"a": "base", "b": "1", "c": "2"}, ferry.OutgoingMetadata(ctx))
	assert.Equal(t, ferry.Metadata{"a": "base", "b": "base"}, base, "the map below is not changed")

	merged := ferry.WithOutgoingMetadata(ctx, ferry.Metadata{"c": "3", "d": "3"})
	assert.Equal(t, ferry.Metadata{"a": "base", "b": "1", "c": "3", "d": "3"}, ferry.OutgoingMetadata(merged))
	assert.Equal(t, ferry.Metadata{"only": "x"}, ferry.OutgoingMetadata(ferry.NewOutgoingContext(ctx, ferry.Metadata{"only": "x"})))
	again := ferry.AppendOutgoingMetadata(merged, "a", "4")
	assert.Equal(t, ferry.Metadata{"a": "4", "b": "1", "c": "3", "d": "3"}, ferry.OutgoingMetadata(again))

	// Everything else comes from the parent: values, deadline, cancellation.
	type key struct{}
	parent, cancel := context.WithTimeout(context.WithValue(t.Context(), key{}, "v"), time.Hour)
	ctx = ferry.AppendOutgoingMetadata(parent, "token", "s3cr3t-value-0123456789")
	assert.Equal(t, "v", ctx.Value(key{}))
	dl, ok := ctx.Deadline()
	want, _ := parent.Deadline()
	assert.True(t, ok)
	assert.Equal(t, want, dl)
	child, stop := context.WithCancel(ctx)
	defer stop()
	cancel()
	<-child.Done()
	assert.ErrorIs(t, ctx.Err(), context.Canceled)
	assert.NotContains(t, fmt.Sprint(ctx), "s3cr3t", "printing the context shows no value")

	// "It copies no map and allocates once."
	big := make(ferry.Metadata, 100)
	for i := range 100 {
		big[fmt.Sprint(i)] = "v"
	}
	ctx = ferry.AppendOutgoingMetadata(ferry.NewOutgoingContext(t.Context(), big), "x", "1")
	allocs := testing.AllocsPerRun(100, func() { _ = ferry.AppendOutgoingMetadata(ctx, "traceparent", "00-01") })
	assert.Equal(t, 1.0, allocs)
}
