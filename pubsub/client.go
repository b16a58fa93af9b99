package pubsub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/msgpack"
	"github.com/ferryrpc/ferry/internal/status"
)

// Subscription receives a topic's messages in the order they were
// published. Next is not safe for concurrent use; Close may be called
// from any goroutine, also while Next waits.
type Subscription struct {
	c       *client.Client
	st      *client.Stream
	id      string             // for PubSub.Unsubscribe; "" from a broker without it
	parent  context.Context    // Subscribe's ctx
	cancel  context.CancelFunc // of the stream, which parent's cancel does not reach
	stopCtx func() bool        // unregisters the watch on parent
	batches chan result
	quit    chan struct{} // closed when the subscription ends by Close or its ctx
	done    chan struct{} // closed when the reader returns
	pending []codec.Raw
	dropped atomic.Uint64
	err     error // from the stream, after the messages before it

	endOnce sync.Once
	mu      sync.Mutex
	ended   error // why it ended: Close, the ctx, or the stream's end once Next returned it
}

type result struct {
	b   *Batch
	err error
}

// unsubscribeWait bounds how long ending a subscription waits for the
// server's final count.
const unsubscribeWait = time.Second

// Subscribe subscribes c to topic. It returns once the server has
// registered the subscription, so anything published afterwards is
// delivered. The subscription ends when ctx ends, on Close, when the
// server ends it, or when the connection ends. An empty topic is an error
// of code ferry.CodeInvalidArgument, and so is a nil ctx (refused before
// anything is sent, ferry.NotExecuted).
func Subscribe(ctx context.Context, c *client.Client, topic string, opts ...SubOption) (*Subscription, error) {
	if err := status.CheckContext(ctx, SubscribeMethod); err != nil {
		return nil, err
	}
	args := &SubscribeArgs{Topic: topic, Max: c.MaxMessageSize()}
	for _, o := range opts {
		o(args)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	// The stream outlives ctx by the moment it takes to unsubscribe, so
	// that the server can send its final count.
	sctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	stop := context.AfterFunc(ctx, cancel) // until registered
	s, err := open(sctx, c, args)
	if !stop() || err != nil {
		cancel()
		if s != nil {
			s.st.Close()
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
	s.c, s.parent, s.cancel = c, ctx, cancel
	go s.read()
	s.stopCtx = context.AfterFunc(ctx, func() { s.end(ctx.Err()) })
	return s, nil
}

// open opens the subscription's stream and reads the registration batch.
func open(ctx context.Context, c *client.Client, args *SubscribeArgs) (*Subscription, error) {
	st, err := c.NewStream(ctx, SubscribeMethod)
	if err != nil {
		return nil, err
	}
	s := &Subscription{st: st, batches: make(chan result, 1), quit: make(chan struct{}), done: make(chan struct{})}
	if err := st.Send(args); err != nil {
		return s, err
	}
	if err := st.CloseSend(); err != nil {
		return s, err
	}
	var first Batch
	if err := st.Recv(&first); err != nil {
		if err == io.EOF {
			err = ferry.NewError(ferry.CodeUnavailable, "the subscription ended")
		}
		return s, err
	}
	s.id = first.ID
	s.noteDropped(first.Dropped)
	return s, nil
}

// SubOption configures a subscription.
type SubOption func(*SubscribeArgs)

// WithPolicy asks the server for an overflow policy for this subscription.
// Default: the broker's, which a policy other than Block, DropOldest and
// Disconnect also gets.
func WithPolicy(p Overflow) SubOption { return func(a *SubscribeArgs) { a.Policy = p } }

// WithQueueLen asks for a queue of n messages; the broker caps it at its
// own length. Default: the broker's.
func WithQueueLen(n int) SubOption { return func(a *SubscribeArgs) { a.Queue = n } }

// read receives batches ahead of Next, one at a time, until the stream
// ends; once the subscription ended by Close or its ctx, it discards them
// until the server's final status.
func (s *Subscription) read() {
	defer close(s.done)
	for {
		b := new(Batch)
		err := s.st.Recv(b)
		if err == nil {
			s.noteDropped(b.Dropped)
			select {
			case s.batches <- result{b: b}:
			case <-s.quit:
			}
			continue
		}
		if errors.Is(err, io.EOF) {
			var final Batch
			if s.st.Result(&final) == nil {
				s.noteDropped(final.Dropped)
			}
			err = ferry.NewError(ferry.CodeUnavailable, "the subscription ended")
		} else if n, perr := strconv.ParseUint(ferry.FromError(err).Details[DroppedDetail], 10, 64); perr == nil {
			s.noteDropped(n)
		}
		select {
		case s.batches <- result{err: err}:
		case <-s.quit:
		}
		return
	}
}

// noteDropped records the server's count, which only grows.
func (s *Subscription) noteDropped(n uint64) {
	for {
		old := s.dropped.Load()
		if n <= old || s.dropped.CompareAndSwap(old, n) {
			return
		}
	}
}

// Next decodes the next message into v, waiting for one until ctx ends
// (then it returns ctx.Err()). A message that does not decode into v is
// dropped with CodeInternal (wrapping codec.ErrDecode), as by
// client.Stream's Recv, and the subscription goes on. Once the subscription has ended it returns
// why, every time, whatever was still queued: after Close, an error
// wrapping ferry.ErrClosed (CodeCanceled); after the subscription's ctx
// ended, that ctx's Err (context.Canceled or context.DeadlineExceeded);
// after the messages that arrived before it, CodeResourceExhausted when
// the server disconnected a slow subscriber, an error wrapping
// ferry.ErrClosed (CodeCanceled) when its client was closed, and
// CodeUnavailable when the server shut down, or the connection was lost or
// the subscription's stream ended (a subscriber that reads nothing for the
// server's write timeout: see the package doc). A nil ctx is refused at
// once with CodeInvalidArgument, and nothing is taken.
func (s *Subscription) Next(ctx context.Context, v any) error {
	if err := status.CheckContext(ctx, "Next"); err != nil {
		return err
	}
	for {
		if err := s.endedBy(); err != nil {
			select {
			case <-s.done: // Dropped is final
			case <-ctx.Done():
				return ctx.Err()
			}
			return err
		}
		if len(s.pending) > 0 {
			break
		}
		if s.err != nil {
			return s.err
		}
		select {
		case r := <-s.batches:
			if r.err != nil {
				s.err = r.err
				s.mu.Lock()
				if s.ended == nil {
					s.ended = r.err // the one reason: a later Close or ctx keeps it
				}
				s.mu.Unlock()
			} else {
				s.pending = r.b.Messages
			}
		case <-s.quit:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	raw := s.pending[0]
	s.pending = s.pending[1:]
	if v == nil {
		return nil
	}
	if len(raw) == 0 { // a nil message: msgpack nil decodes into a Raw as the empty Raw
		raw = codec.Raw{0xc0}
	}
	if err := codec.Unmarshal(raw, v); err != nil {
		return ferry.WrapError(ferry.CodeInternal, err, fmt.Sprintf("cannot decode the message into %T: %s", v, msgpack.Reason(err)))
	}
	return nil
}

// endedBy returns why the subscription ended, once Close or its ctx ended
// it (an end that Next had already returned stays the reason).
func (s *Subscription) endedBy() error {
	select {
	case <-s.quit:
	case <-s.parent.Done():
	default:
		return nil // the fast path of every message
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ended == nil {
		s.ended = s.parent.Err() // before the watch on it has run
	}
	return s.ended
}

// Dropped returns how many messages the server dropped for this
// subscription (its queue overflowed, a message was too large for the
// subscription's stream, or, with the Disconnect policy, the messages
// lost when it was disconnected). While the subscription
// runs it is the count as of the last batch received; once it ended by
// Close, by its ctx or by the server (Next returned the end), it is the
// server's final count, drops after the last batch included. Only a lost
// connection or stream leaves it as of the last batch.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// Close ends the subscription: it asks the server for its final count
// (waiting at most a second), then releases the stream and waits for its
// reader to stop. Next then returns an error wrapping ferry.ErrClosed,
// unless the subscription had ended first (its ctx, or an end that Next
// already returned): that reason stays.
func (s *Subscription) Close() error {
	reason := error(ferry.WrapError(ferry.CodeCanceled, ferry.ErrClosed, "the subscription was closed"))
	if err := s.parent.Err(); err != nil {
		reason = err
	}
	s.end(reason)
	s.stopCtx()
	s.cancel()
	err := s.st.Close()
	<-s.done
	return err
}

// end ends the subscription for reason, once: it unsubscribes, so that
// the server finishes the stream with its final count, and waits for that
// (at most unsubscribeWait) before cutting the stream.
func (s *Subscription) end(reason error) {
	s.endOnce.Do(func() {
		s.mu.Lock()
		if s.ended == nil {
			s.ended = reason
		}
		s.mu.Unlock()
		close(s.quit)
		timer := time.NewTimer(unsubscribeWait)
		defer timer.Stop()
		asked := false
		if s.id != "" {
			// The answer is false when the server had ended the
			// subscription already: its final status is on its way too.
			var ended bool
			ctx, cancel := context.WithTimeout(context.Background(), unsubscribeWait)
			asked = s.c.Call(ctx, UnsubscribeMethod, s.id, &ended) == nil
			cancel()
		}
		if asked {
			select {
			case <-s.done:
			case <-timer.C:
			}
		}
		s.cancel()
	})
}

// Publish publishes v to topic through the server c is connected to, and
// returns how many subscribers it was queued for. c is any ferry.Caller: a
// client.Client, or a cluster.Client (the message then reaches the
// subscribers of the one server that takes the call). An empty topic, or
// a v that does not encode, is an error of code ferry.CodeInvalidArgument.
func Publish(ctx context.Context, c ferry.Caller, topic string, v any) (int, error) {
	raw, err := codec.Marshal(v)
	if err != nil {
		return 0, ferry.Errorf(ferry.CodeInvalidArgument, "cannot encode the message: %v", err)
	}
	var n int
	err = c.Call(ctx, PublishMethod, &PublishArgs{Topic: topic, Data: raw}, &n)
	return n, err
}
