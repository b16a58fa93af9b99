package health

import (
	"context"
	"sync"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/server"
)

// Method is the name of the health check method.
const Method = "Health.Check"

// Status is a service's health.
type Status string

// The statuses a check reports.
const (
	Unknown    Status = "UNKNOWN"     // the service was never set
	Serving    Status = "SERVING"     // the service takes calls
	NotServing Status = "NOT_SERVING" // the service takes no calls: send them elsewhere
)

// CheckRequest is the argument of Health.Check.
type CheckRequest struct {
	Service string `msgpack:"service"` // "" for the whole server
}

// CheckResponse is the result of Health.Check.
type CheckResponse struct {
	Status Status `msgpack:"status"`
}

// Server holds the statuses a server reports. It is safe for concurrent
// use.
type Server struct {
	mu       sync.Mutex
	statuses map[string]Status
	shutdown bool
}

// NewServer returns a Server whose whole-server status ("") is SERVING.
func NewServer() *Server {
	return &Server{statuses: map[string]Status{"": Serving}}
}

// Register publishes Health.Check on srv.
func (h *Server) Register(srv *server.Server) error {
	return server.Handle(srv, Method, h.check)
}

func (h *Server) check(_ context.Context, req *CheckRequest) (*CheckResponse, error) {
	return &CheckResponse{Status: h.Status(req.Service)}, nil
}

// Status returns the status of service ("" for the whole server).
func (h *Server) Status(service string) Status {
	h.mu.Lock()
	defer h.mu.Unlock()
	if s, ok := h.statuses[service]; ok {
		return s
	}
	return Unknown
}

// SetStatus sets the status of service ("" for the whole server). A value
// other than Serving, NotServing and Unknown is taken as Unknown, so that
// checks only ever see those three. After Shutdown it does nothing: a
// server going away stays NOT_SERVING.
func (h *Server) SetStatus(service string, s Status) {
	switch s {
	case Serving, NotServing, Unknown:
	default:
		s = Unknown
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	if !h.shutdown {
		h.statuses[service] = s
	}
}

// Shutdown sets every service, and the whole server, to NOT_SERVING for
// good (a name that was never set still reports UNKNOWN, which is not
// serving either). Call it before the server's Shutdown, so that checking clients
// move their calls away while the server still answers.
func (h *Server) Shutdown() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.shutdown = true
	h.statuses[""] = NotServing
	for name := range h.statuses {
		h.statuses[name] = NotServing
	}
}

// Check asks the server at the other end of c for the status of service
// ("" for the whole server). c is any ferry.Caller: a client.Client, or a
// cluster.Client (which asks one of its endpoints). A server without the
// health service answers with an error of code ferry.CodeUnimplemented.
func Check(ctx context.Context, c ferry.Caller, service string) (Status, error) {
	var resp CheckResponse
	if err := c.Call(ctx, Method, &CheckRequest{Service: service}, &resp); err != nil {
		return Unknown, err
	}
	switch resp.Status {
	case Serving, NotServing:
		return resp.Status, nil
	}
	return Unknown, nil
}
