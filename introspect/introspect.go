package introspect

import (
	"context"
	"sort"
	"strings"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
)

// The methods Register publishes.
const (
	ListMethod     = "Introspect.List"
	DescribeMethod = "Introspect.Describe"
)

// ListReply is the reply of Introspect.List.
type ListReply struct {
	Services []Service `msgpack:"services" json:"services"`
}

// Service is one service: the methods sharing the name before the last
// dot ("Arith" for "Arith.Add"; "" for names without a dot).
type Service struct {
	Name    string   `msgpack:"name" json:"name"`
	Methods []Method `msgpack:"methods" json:"methods"`
}

// Method names one method and its kind.
type Method struct {
	Name string `msgpack:"name" json:"name"` // the full name, "Service.Method"
	Kind string `msgpack:"kind" json:"kind"` // "unary", "bidi", "server" or "client"
}

// DescribeArgs are the arguments of Introspect.Describe. A bare string is
// taken as Method, the struct's first field (PROTOCOL.md 2.1), so
// ["Arith.Add"] works as params; they are taken or refused by the rules of
// every method's arguments.
type DescribeArgs struct {
	Method string `msgpack:"method" json:"method"` // the full name, "Service.Method"
}

// Description is the reply of Introspect.Describe.
type Description struct {
	Name  string             `msgpack:"name" json:"name"`
	Kind  string             `msgpack:"kind" json:"kind"`
	Args  *Schema            `msgpack:"args,omitempty" json:"args,omitempty"`   // absent when untyped; for a stream, each request message
	Reply *Schema            `msgpack:"reply,omitempty" json:"reply,omitempty"` // absent when untyped; for a stream, each response message
	Defs  map[string]*Schema `msgpack:"$defs,omitempty" json:"$defs,omitempty"` // recursive types that Args and Reply refer to
}

// Register publishes Introspect.List and Introspect.Describe on s. They
// read s's method table at each call.
func Register(s *server.Server) error {
	err := server.Handle(s, ListMethod, func(ctx context.Context, _ *struct{}) (*ListReply, error) {
		r := List(s)
		return &r, nil
	})
	if err != nil {
		return err
	}
	return server.Handle(s, DescribeMethod, func(ctx context.Context, a *DescribeArgs) (*Description, error) {
		return Describe(s, a.Method)
	})
}

// List returns s's services and methods, sorted by name.
func List(s *server.Server) ListReply {
	idx := map[string]int{}
	var r ListReply
	for _, m := range s.Methods() { // sorted by name
		svc := serviceOf(m.Name)
		i, ok := idx[svc]
		if !ok {
			i = len(r.Services)
			idx[svc] = i
			r.Services = append(r.Services, Service{Name: svc})
		}
		r.Services[i].Methods = append(r.Services[i].Methods, Method{Name: m.Name, Kind: m.Kind})
	}
	sort.Slice(r.Services, func(i, j int) bool { return r.Services[i].Name < r.Services[j].Name })
	return r
}

// Describe returns the description of s's method called name, or a
// ferry.CodeNotFound error.
func Describe(s *server.Server, name string) (*Description, error) {
	for _, m := range s.Methods() {
		if m.Name != name {
			continue
		}
		g := NewGenerator()
		return &Description{
			Name:  m.Name,
			Kind:  m.Kind,
			Args:  g.SchemaOf(m.Args),
			Reply: g.SchemaOf(m.Reply),
			Defs:  g.Defs(),
		}, nil
	}
	// The name comes from the caller: quoted whole, 4 MiB of bytes that
	// are not printable would make a 16 MiB error.
	return nil, ferry.Errorf(ferry.CodeNotFound, "no method %q", wire.EchoName(name))
}

func serviceOf(method string) string {
	if i := strings.LastIndexByte(method, '.'); i >= 0 {
		return method[:i]
	}
	return ""
}
