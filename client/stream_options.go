package client

import "github.com/ferryrpc/ferry"

// WithStreamInterceptors appends interceptors around every streaming call
// the client opens (ferry.StreamClientInterceptor); the first is
// outermost. They see the method, the kind the caller opened and the
// outgoing metadata, may refuse the stream before it is sent (the caller
// gets the error with ferry.NotExecuted true) and may wrap the stream to
// observe or transform each message. Default: none.
func WithStreamInterceptors(ics ...ferry.StreamClientInterceptor) Option {
	return func(o *options) error {
		o.streamICs = append(o.streamICs, ics...)
		return nil
	}
}
