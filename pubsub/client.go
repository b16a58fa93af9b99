package pubsub

import (
	"context"
	"errors"
	"io"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
)

// Subscription receives a topic's messages in the order they were
// published. It is not safe for concurrent use.
type Subscription struct {
	rd      *client.ServerStreamReader[Batch]
	cancel  context.CancelFunc
	batches chan result
	done    chan struct{}
	pending []codec.Raw
	dropped uint64
	err     error
}

type result struct {
	b   *Batch
	err error
}

// Subscribe subscribes c to topic. It returns once the server has
// registered the subscription, so anything published afterwards is
// delivered. The subscription ends when ctx ends, on Close, or when the
// connection ends.
func Subscribe(ctx context.Context, c *client.Client, topic string, opts ...SubOption) (*Subscription, error) {
	args := &SubscribeArgs{Topic: topic}
	for _, o := range opts {
		o(args)
	}
	ctx, cancel := context.WithCancel(ctx)
	rd, err := client.OpenServerStream[SubscribeArgs, Batch](ctx, c, SubscribeMethod, args)
	if err != nil {
		cancel()
		return nil, err
	}
	if _, err := rd.Recv(); err != nil { // the registration batch
		cancel()
		rd.Close()
		return nil, err
	}
	s := &Subscription{rd: rd, cancel: cancel, batches: make(chan result, 1), done: make(chan struct{})}
	go s.read(ctx)
	return s, nil
}

// SubOption configures a subscription.
type SubOption func(*SubscribeArgs)

// WithPolicy asks the server for an overflow policy for this subscription.
// Default: the broker's.
func WithPolicy(p Overflow) SubOption { return func(a *SubscribeArgs) { a.Policy = p } }

// WithQueueLen asks for a queue of n messages; the broker caps it at its
// own length. Default: the broker's.
func WithQueueLen(n int) SubOption { return func(a *SubscribeArgs) { a.Queue = n } }

// read receives batches ahead of Next, one at a time, until the stream ends.
func (s *Subscription) read(ctx context.Context) {
	defer close(s.done)
	for {
		b, err := s.rd.Recv()
		if errors.Is(err, io.EOF) {
			err = ferry.NewError(ferry.CodeUnavailable, "the subscription ended")
		}
		select {
		case s.batches <- result{b, err}:
		case <-ctx.Done():
			return
		}
		if err != nil {
			return
		}
	}
}

// Next decodes the next message into v, waiting for one until ctx ends.
// Once the subscription has ended it returns why: CodeResourceExhausted
// when the server disconnected a slow subscriber, a context error after
// Close or the subscription's ctx ended, CodeUnavailable when the
// connection ended.
func (s *Subscription) Next(ctx context.Context, v any) error {
	for len(s.pending) == 0 {
		if s.err != nil {
			return s.err
		}
		select {
		case r := <-s.batches:
			if r.err != nil {
				s.err = r.err
				continue
			}
			s.pending, s.dropped = r.b.Messages, r.b.Dropped
		case <-s.done:
			select {
			case r := <-s.batches:
				s.batches <- r // handled on the next turn
			default:
				s.err = ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the subscription was closed")
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	raw := s.pending[0]
	s.pending = s.pending[1:]
	if v == nil {
		return nil
	}
	return codec.Unmarshal(raw, v)
}

// Dropped returns how many messages the server dropped for this
// subscription, as of the last batch received.
func (s *Subscription) Dropped() uint64 { return s.dropped }

// Close ends the subscription and waits for its reader to stop.
func (s *Subscription) Close() error {
	s.cancel()
	err := s.rd.Close()
	<-s.done
	return err
}

// Publish publishes v to topic through the server c is connected to, and
// returns how many subscribers it was queued for.
func Publish(ctx context.Context, c *client.Client, topic string, v any) (int, error) {
	raw, err := codec.Marshal(v)
	if err != nil {
		return 0, ferry.Errorf(ferry.CodeInvalidArgument, "cannot encode the message: %v", err)
	}
	var n int
	err = c.Call(ctx, PublishMethod, &PublishArgs{Topic: topic, Data: raw}, &n)
	return n, err
}
