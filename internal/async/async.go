// Package async holds the handle of an asynchronous call. The root package
// exports it as ferry.Call; it lives here so that the call engine and the
// cluster client can complete it while users can only wait on it.
package async

// Call is an asynchronous call started by Go (ferry.Caller). Its Done
// channel is closed when the call completes; Err and Wait then return its
// error.
type Call struct {
	Method string // the method called
	Args   any    // the arguments sent
	Reply  any    // where the result is decoded

	done chan struct{}
	err  error
}

// Init prepares c, which may be part of a larger allocation, for a call
// that Finish completes once.
func Init(c *Call, method string, args, reply any) {
	c.Method, c.Args, c.Reply = method, args, reply
	c.done = make(chan struct{})
}

// New returns a Call prepared by Init.
func New(method string, args, reply any) *Call {
	c := new(Call)
	Init(c, method, args, reply)
	return c
}

// Finish completes c with err (nil on success). It must be called once.
func Finish(c *Call, err error) {
	c.err = err
	close(c.done)
}

// Done is closed when the call completes; any number of goroutines may
// wait on it.
func (c *Call) Done() <-chan struct{} { return c.done }

// Err returns the call's error once Done is closed (nil on success), and
// nil before.
func (c *Call) Err() error {
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Wait blocks until the call completes and returns its error.
func (c *Call) Wait() error {
	<-c.done
	return c.err
}
