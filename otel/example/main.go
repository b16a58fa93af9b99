// Command example wires Ferry's OpenTelemetry interceptors to the stdout
// exporters: a server and a client in one process, connected by an
// in-memory pipe, make two calls (one of which calls the client back), and
// every span and the call-duration histograms are printed as JSON.
//
//	go run ./example          (from the otel module's directory)
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"os"

	"github.com/ferryrpc/ferry/client"
	ferryotel "github.com/ferryrpc/ferry/otel"
	"github.com/ferryrpc/ferry/server"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/stdout/stdoutmetric"
	"go.opentelemetry.io/otel/exporters/stdout/stdouttrace"
	"go.opentelemetry.io/otel/propagation"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

func main() {
	if err := run(context.Background(), os.Stdout); err != nil {
		log.Fatal(err)
	}
}

// Args are Svc.Add's operands.
type Args struct{ A, B int64 }

// run sets the global providers up with stdout exporters writing to w,
// makes the calls, and flushes everything to w on return.
func run(ctx context.Context, w io.Writer) (err error) {
	texp, err := stdouttrace.New(stdouttrace.WithWriter(w), stdouttrace.WithPrettyPrint())
	if err != nil {
		return err
	}
	mexp, err := stdoutmetric.New(stdoutmetric.WithWriter(w), stdoutmetric.WithPrettyPrint())
	if err != nil {
		return err
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(texp))
	mp := sdkmetric.NewMeterProvider(sdkmetric.WithReader(sdkmetric.NewPeriodicReader(mexp)))
	defer func() {
		// Shutdown flushes: the metrics are printed here.
		err = errors.Join(err, tp.Shutdown(ctx), mp.Shutdown(ctx))
	}()
	otel.SetTracerProvider(tp)
	otel.SetMeterProvider(mp)
	otel.SetTextMapPropagator(propagation.TraceContext{})

	s := server.New(
		server.WithInterceptors(ferryotel.ServerInterceptor()),
		server.WithClientInterceptors(ferryotel.ClientInterceptor()),
	)
	if err := server.Handle(s, "Svc.Add", func(ctx context.Context, a *Args) (*int64, error) {
		r := a.A + a.B
		return &r, nil
	}); err != nil {
		return err
	}
	// Svc.Greet calls the client back: the trace continues there.
	if err := server.Handle(s, "Svc.Greet", func(ctx context.Context, name *string) (*string, error) {
		var title string
		if err := server.PeerFromContext(ctx).Call(ctx, "Client.Title", *name, &title); err != nil {
			return nil, err
		}
		r := "hello, " + title + " " + *name
		return &r, nil
	}); err != nil {
		return err
	}
	cc, sc := net.Pipe()
	done := make(chan struct{})
	go func() { defer close(done); _ = s.ServeConn(sc) }()
	defer func() { s.Close(); <-done }()
	c, err := client.New(cc,
		client.WithInterceptors(ferryotel.ClientInterceptor()),
		client.WithServerInterceptors(ferryotel.ServerInterceptor()),
	)
	if err != nil {
		return err
	}
	defer c.Close()
	if err := client.Handle(c, "Client.Title", func(ctx context.Context, name *string) (*string, error) {
		t := "dear"
		return &t, nil
	}); err != nil {
		return err
	}

	var sum int64
	if err := c.Call(ctx, "Svc.Add", Args{A: 3, B: 4}, &sum); err != nil {
		return err
	}
	var greeting string
	if err := c.Call(ctx, "Svc.Greet", "Ada", &greeting); err != nil {
		return err
	}
	fmt.Fprintf(w, "Svc.Add(3, 4) = %d; Svc.Greet(Ada) = %q\n", sum, greeting)
	return nil
}
