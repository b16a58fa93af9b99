package pubsub

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/server"
)

// Overflow is what happens when a subscriber's queue is full.
type Overflow int

// The overflow policies.
const (
	// Block makes the publisher wait for room, up to the block timeout;
	// a message that still does not fit is dropped and counted.
	Block Overflow = iota + 1
	// DropOldest discards the oldest queued message to make room.
	DropOldest
	// Disconnect ends the slow subscriber's subscription with
	// CodeResourceExhausted.
	Disconnect
)

// Method names the broker serves.
const (
	SubscribeMethod = "PubSub.Subscribe"
	PublishMethod   = "PubSub.Publish"
)

// maxBatch bounds the messages sent in one stream frame.
const maxBatch = 256

// Broker routes published messages to subscribers.
type Broker struct {
	queue        int
	policy       Overflow
	blockTimeout time.Duration

	mu     sync.RWMutex
	topics map[string]map[*sub]struct{}
}

// Option configures a Broker.
type Option func(*Broker)

// WithQueue sets the default (and largest) queue length of a subscriber
// and the default overflow policy; a subscriber may ask for a shorter
// queue and another policy. Default 1024 messages, DropOldest.
func WithQueue(n int, policy Overflow) Option {
	return func(b *Broker) { b.queue, b.policy = max(n, 1), policy }
}

// WithBlockTimeout bounds how long the Block policy makes a publisher wait
// for one subscriber's room. Default 1 s.
func WithBlockTimeout(d time.Duration) Option {
	return func(b *Broker) { b.blockTimeout = d }
}

// NewBroker returns a broker with no topics.
func NewBroker(opts ...Option) *Broker {
	b := &Broker{queue: 1024, policy: DropOldest, blockTimeout: time.Second, topics: map[string]map[*sub]struct{}{}}
	for _, o := range opts {
		o(b)
	}
	return b
}

// PublishArgs is the request of PubSub.Publish.
type PublishArgs struct {
	Topic string    `msgpack:"topic"`
	Data  codec.Raw `msgpack:"data"`
}

// SubscribeArgs is the request of PubSub.Subscribe.
type SubscribeArgs struct {
	Topic  string   `msgpack:"topic"`
	Policy Overflow `msgpack:"policy"` // 0: the broker's default
	Queue  int      `msgpack:"queue"`  // 0: the broker's default; capped by it
}

// Batch is one frame of a subscription's stream.
type Batch struct {
	Messages []codec.Raw `msgpack:"m"`
	Dropped  uint64      `msgpack:"d"` // messages this subscription has lost so far
}

// Register serves the broker's methods on s.
func (b *Broker) Register(s *server.Server) error {
	if err := server.Handle(s, PublishMethod, func(ctx context.Context, a *PublishArgs) (*int, error) {
		n, err := b.publishRaw(ctx, a.Topic, a.Data)
		return &n, err
	}); err != nil {
		return err
	}
	return server.HandleServerStream(s, SubscribeMethod, b.serveSubscription)
}

// Publish sends v to every subscriber of topic and returns how many
// subscribers it was queued for.
func (b *Broker) Publish(ctx context.Context, topic string, v any) (int, error) {
	raw, err := codec.Marshal(v)
	if err != nil {
		return 0, ferry.Errorf(ferry.CodeInvalidArgument, "cannot encode the message: %v", err)
	}
	return b.publishRaw(ctx, topic, raw)
}

// Subscribers returns how many subscriptions topic has now.
func (b *Broker) Subscribers(topic string) int {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.topics[topic])
}

func (b *Broker) publishRaw(ctx context.Context, topic string, msg codec.Raw) (int, error) {
	if topic == "" {
		return 0, ferry.NewError(ferry.CodeInvalidArgument, "empty topic")
	}
	if len(msg) == 0 {
		msg = codec.Raw{0xc0}
	}
	b.mu.RLock()
	subs := make([]*sub, 0, len(b.topics[topic]))
	for s := range b.topics[topic] {
		subs = append(subs, s)
	}
	b.mu.RUnlock()
	n := 0
	for _, s := range subs {
		if s.offer(ctx, msg, b) {
			n++
		}
	}
	return n, nil
}

// sub is one subscription: a bounded FIFO drained by its stream handler.
type sub struct {
	mu      sync.Mutex
	q       []codec.Raw // ring buffer
	head, n int
	room    chan struct{} // signaled when the sender takes messages
	ready   chan struct{} // signaled when a message is queued
	kicked  bool
	policy  Overflow
	dropped atomic.Uint64
}

func (s *sub) offer(ctx context.Context, msg codec.Raw, b *Broker) bool {
	policy := s.policy
	var timer *time.Timer
	for {
		s.mu.Lock()
		if s.kicked {
			s.mu.Unlock()
			return false
		}
		if s.n < len(s.q) {
			s.q[(s.head+s.n)%len(s.q)] = msg
			s.n++
			s.mu.Unlock()
			signal(s.ready)
			return true
		}
		switch policy {
		case DropOldest:
			s.q[s.head] = nil
			s.head = (s.head + 1) % len(s.q)
			s.n--
			s.dropped.Add(1)
			s.mu.Unlock()
			continue
		case Disconnect:
			s.kicked = true
			s.mu.Unlock()
			signal(s.ready)
			return false
		}
		s.mu.Unlock()
		if timer == nil {
			timer = time.NewTimer(b.blockTimeout)
			defer timer.Stop()
		}
		select {
		case <-s.room:
		case <-timer.C:
			s.dropped.Add(1)
			return false
		case <-ctx.Done():
			s.dropped.Add(1)
			return false
		}
	}
}

// take removes up to maxBatch queued messages.
func (s *sub) take(dst []codec.Raw) ([]codec.Raw, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for s.n > 0 && len(dst) < maxBatch {
		dst = append(dst, s.q[s.head])
		s.q[s.head] = nil
		s.head = (s.head + 1) % len(s.q)
		s.n--
	}
	return dst, s.kicked
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var errKicked = errors.New("subscriber too slow")

func (b *Broker) serveSubscription(ctx context.Context, a *SubscribeArgs, send func(*Batch) error) error {
	if a.Topic == "" {
		return ferry.NewError(ferry.CodeInvalidArgument, "empty topic")
	}
	policy, qlen := b.policy, b.queue
	if a.Policy >= Block && a.Policy <= Disconnect {
		policy = a.Policy
	}
	if a.Queue > 0 {
		qlen = min(a.Queue, b.queue)
	}
	s := &sub{q: make([]codec.Raw, qlen), policy: policy, room: make(chan struct{}, 1), ready: make(chan struct{}, 1)}
	b.mu.Lock()
	if b.topics[a.Topic] == nil {
		b.topics[a.Topic] = map[*sub]struct{}{}
	}
	b.topics[a.Topic][s] = struct{}{}
	b.mu.Unlock()
	defer func() {
		b.mu.Lock()
		delete(b.topics[a.Topic], s)
		if len(b.topics[a.Topic]) == 0 {
			delete(b.topics, a.Topic)
		}
		b.mu.Unlock()
	}()
	// An empty batch tells the subscriber it is registered.
	if err := send(&Batch{}); err != nil {
		return err
	}
	var batch Batch
	for {
		var kicked bool
		batch.Messages, kicked = s.take(batch.Messages[:0])
		if kicked {
			return ferry.Errorf(ferry.CodeResourceExhausted, "%v: its queue of %d overflowed", errKicked, len(s.q))
		}
		if len(batch.Messages) == 0 {
			select {
			case <-s.ready:
				continue
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		signal(s.room)
		batch.Dropped = s.dropped.Load()
		if err := send(&batch); err != nil {
			return fmt.Errorf("deliver: %w", err)
		}
		clear(batch.Messages)
	}
}
