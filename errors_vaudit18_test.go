package ferry_test

import (
	"sync"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

// TestVaudit18MarkNotExecutedCopyOwnsDetails checks MarkNotExecuted's
// "returns a copy of e": a copy's details are its own. The doc's use is a
// server interceptor refusing calls (a rate limit), which marks one
// shared *Error per call and may add a detail to each copy; with the
// Details map shared, concurrent refusals wrote one map at once (a fatal
// concurrent map write) and every refusal's detail leaked into the
// original.
func TestVaudit18MarkNotExecutedCopyOwnsDetails(t *testing.T) {
	limited := ferry.NewError(ferry.CodeResourceExhausted, "rate limited").WithDetail("limit", "100/s")

	marked := ferry.MarkNotExecuted(limited).WithDetail("retry_after", "1s")
	assert.Equal(t, map[string]string{"limit": "100/s", "retry_after": "1s"}, marked.Details)
	assert.Equal(t, map[string]string{"limit": "100/s"}, limited.Details, "the original is not modified")
	assert.True(t, ferry.NotExecuted(marked))

	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 200 {
				e := ferry.MarkNotExecuted(limited).WithDetail("attempt", string(rune('a'+i)))
				assert.Equal(t, string(rune('a'+i)), e.Details["attempt"])
			}
		})
	}
	wg.Wait()
	assert.Equal(t, map[string]string{"limit": "100/s"}, limited.Details)

	// Without details the copy has none either.
	assert.Nil(t, ferry.MarkNotExecuted(ferry.NewError(ferry.CodeUnavailable, "x")).Details)
}

// TestVaudit18ErrorStringForms checks Error's format, "ferry: <code>:
// <message>", with and without a message.
func TestVaudit18ErrorStringForms(t *testing.T) {
	assert.Equal(t, "ferry: unavailable: going away", ferry.NewError(ferry.CodeUnavailable, "going away").Error())
	assert.Equal(t, "ferry: unavailable", ferry.NewError(ferry.CodeUnavailable, "").Error())
	assert.Equal(t, "ferry: code_42: x", ferry.NewError(42, "x").Error())
}

// TestVaudit18StreamKindString checks "String returns "bidi", "server" or
// "client"".
func TestVaudit18StreamKindString(t *testing.T) {
	assert.Equal(t, "bidi", ferry.BidiStreaming.String())
	assert.Equal(t, "server", ferry.ServerStreaming.String())
	assert.Equal(t, "client", ferry.ClientStreaming.String())
}

// TestVaudit18ChainsOfNothing checks that each Chain function "returns nil
// for an empty list", and that one interceptor comes back working.
func TestVaudit18ChainsOfNothing(t *testing.T) {
	assert.Nil(t, ferry.ChainServer())
	assert.Nil(t, ferry.ChainClient())
	assert.Nil(t, ferry.ChainStreamServer())
	assert.Nil(t, ferry.ChainStreamClient())
}
