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

// WithStreamServerInterceptors appends interceptors around the streaming
// calls the server opens to this client's streaming handlers
// (ferry.StreamServerInterceptor); the first is outermost. A refusal
// reaches the server with its code and ferry.NotExecuted true. Default:
// none.
func WithStreamServerInterceptors(ics ...ferry.StreamServerInterceptor) Option {
	return func(o *options) error {
		o.streamServerICs = append(o.streamServerICs, ics...)
		return nil
	}
}
