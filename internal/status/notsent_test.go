package status

import (
	"errors"
	"io"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

// TestNotSent: a failure before a call was written says so, and keeps an
// *ferry.Error as is.
func TestNotSent(t *testing.T) {
	e := NotSent(io.EOF)
	assert.Equal(t, ferry.CodeUnavailable, e.Code)
	assert.Equal(t, "connection lost (EOF): the call was not sent", e.Message)
	own := ferry.NewError(ferry.CodeCanceled, "closed here")
	assert.Same(t, own, NotSent(errors.Join(own)))
}
