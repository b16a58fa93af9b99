package grpcsys

import (
	"context"
	"fmt"
	"io"

	"google.golang.org/grpc"
	"google.golang.org/grpc/encoding"
)

// rawCodecName is the content-subtype of the raw codec
// (application/grpc+ferrybenchraw).
const rawCodecName = "ferrybenchraw"

// rawCodec passes []byte through untouched: gRPC's own ceiling, with no
// codec work at all.
type rawCodec struct{}

func init() { encoding.RegisterCodec(rawCodec{}) }

func (rawCodec) Name() string { return rawCodecName }

func (rawCodec) Marshal(v any) ([]byte, error) {
	switch b := v.(type) {
	case []byte:
		return b, nil
	case *[]byte:
		return *b, nil
	}
	return nil, fmt.Errorf("grpcsys: raw codec cannot marshal %T", v)
}

// Unmarshal keeps data: gRPC hands a v1 codec a fresh copy.
func (rawCodec) Unmarshal(data []byte, v any) error {
	b, ok := v.(*[]byte)
	if !ok {
		return fmt.Errorf("grpcsys: raw codec cannot unmarshal into %T", v)
	}
	*b = data
	return nil
}

// Full method names of the hand-written raw service.
const (
	rawEcho       = "/ferrybench.Raw/Echo"
	rawBulk       = "/ferrybench.Raw/Bulk"
	rawEchoStream = "/ferrybench.Raw/EchoStream"
)

// rawStreamDesc describes EchoStream, a bidirectional stream.
var rawStreamDesc = grpc.StreamDesc{StreamName: "EchoStream", Handler: rawStreamHandler, ServerStreams: true, ClientStreams: true}

// rawServiceDesc serves Echo and Bulk with the same handler: the request
// bytes are the response; and EchoStream, which sends back every message
// of the stream.
var rawServiceDesc = grpc.ServiceDesc{
	ServiceName: "ferrybench.Raw",
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		{MethodName: "Echo", Handler: rawHandler},
		{MethodName: "Bulk", Handler: rawHandler},
	},
	Streams: []grpc.StreamDesc{rawStreamDesc},
}

func rawHandler(_ any, _ context.Context, dec func(any) error, _ grpc.UnaryServerInterceptor) (any, error) {
	var in []byte
	if err := dec(&in); err != nil {
		return nil, err
	}
	return in, nil
}

func rawStreamHandler(_ any, st grpc.ServerStream) error {
	for {
		var in []byte
		err := st.RecvMsg(&in)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if err := st.SendMsg(in); err != nil {
			return err
		}
	}
}
