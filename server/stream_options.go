package server

import "github.com/ferryrpc/ferry"

// WithStreamInterceptors appends interceptors around every streaming call
// a client opens (ferry.StreamServerInterceptor); the first is outermost.
// They run before the handler, see the method, its kind and the call's
// metadata, may refuse the stream (the caller gets the error with its
// code and ferry.NotExecuted true) and may wrap the stream to observe or
// transform each message. Default: none.
func WithStreamInterceptors(ics ...ferry.StreamServerInterceptor) Option {
	return func(o *options) error {
		o.streamICs = append(o.streamICs, ics...)
		return nil
	}
}

// WithStreamClientInterceptors appends interceptors around the streaming
// calls the server opens to its clients through a Peer
// (ferry.StreamClientInterceptor); the first is outermost. Default: none.
func WithStreamClientInterceptors(ics ...ferry.StreamClientInterceptor) Option {
	return func(o *options) error {
		o.streamClientICs = append(o.streamClientICs, ics...)
		return nil
	}
}
