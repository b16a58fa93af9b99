package pubsub

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/internal/encode"
	"github.com/ferryrpc/ferry/internal/status"
	"github.com/ferryrpc/ferry/internal/wire"
	"github.com/ferryrpc/ferry/server"
)

// Overflow is what happens when a subscriber's queue is full.
type Overflow int

// The overflow policies.
const (
	// Block makes the publisher wait for room, up to the block timeout;
	// a message that still does not fit is dropped and counted. The wait
	// ends too when the subscription ends (Close, its ctx, its connection):
	// the message is then not offered to it.
	Block Overflow = iota + 1
	// DropOldest discards the oldest queued message to make room.
	DropOldest
	// Disconnect ends the slow subscriber's subscription with
	// CodeResourceExhausted.
	Disconnect
)

// Method names the broker serves.
const (
	SubscribeMethod   = "PubSub.Subscribe"
	PublishMethod     = "PubSub.Publish"
	UnsubscribeMethod = "PubSub.Unsubscribe"
)

// maxBatch bounds the messages sent in one stream frame, and
// maxBatchBytes their bytes, so that a frame stays well within a
// receiver's message size limit (4 MiB by default); a larger message
// travels alone.
const (
	maxBatch      = 256
	maxBatchBytes = 256 << 10
)

// Broker routes published messages to subscribers.
type Broker struct {
	queue        int
	policy       Overflow
	blockTimeout time.Duration

	mu     sync.RWMutex
	topics map[string]map[*sub]struct{}
	byID   map[string]*sub
}

// Option configures a Broker.
type Option func(*Broker)

// WithQueue sets the default (and largest) queue length of a subscriber
// and the default overflow policy; a subscriber may ask for a shorter
// queue and another policy. Default 1024 messages, DropOldest; n below 1
// means 1, and a policy other than Block, DropOldest and Disconnect keeps
// the default policy.
func WithQueue(n int, policy Overflow) Option {
	return func(b *Broker) {
		b.queue = max(n, 1)
		if policy >= Block && policy <= Disconnect {
			b.policy = policy
		}
	}
}

// WithBlockTimeout bounds how long the Block policy makes a publisher wait
// for one subscriber's room. Default 1 s.
func WithBlockTimeout(d time.Duration) Option {
	return func(b *Broker) { b.blockTimeout = d }
}

// NewBroker returns a broker with no topics.
func NewBroker(opts ...Option) *Broker {
	b := &Broker{queue: 1024, policy: DropOldest, blockTimeout: time.Second, topics: map[string]map[*sub]struct{}{}, byID: map[string]*sub{}}
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
	// Max is the largest message the subscriber receives, its
	// transport.Config.MaxMessageSize (Subscribe sends it): the broker
	// sends no batch past it, nor past the server's own limit. 0: only
	// the server's limit.
	Max int `msgpack:"max,omitempty"`
}

// Batch is one frame of a subscription's stream. The first, empty, says
// the subscription is registered and carries its ID; the stream's result,
// when the subscriber unsubscribed, is a Batch with the final Dropped.
type Batch struct {
	Messages []codec.Raw `msgpack:"m"`
	Dropped  uint64      `msgpack:"d"`            // messages this subscription has lost so far
	ID       string      `msgpack:"id,omitempty"` // in the first batch: the subscription's ID, for PubSub.Unsubscribe
}

// DroppedDetail is the key of the error details that carry a subscription's
// final Dropped count when the broker ends it (the Disconnect policy).
const DroppedDetail = "dropped"

// Register serves the broker's methods on s: PubSub.Subscribe (a
// ServerStream whose single request is a SubscribeArgs), PubSub.Publish
// and PubSub.Unsubscribe (the ID of the first Batch; true if it ended a
// subscription).
func (b *Broker) Register(s *server.Server) error {
	if err := server.Handle(s, PublishMethod, func(ctx context.Context, a *PublishArgs) (*int, error) {
		n, err := b.publishRaw(ctx, a.Topic, a.Data)
		return &n, err
	}); err != nil {
		return err
	}
	if err := server.Handle(s, UnsubscribeMethod, func(ctx context.Context, id *string) (*bool, error) {
		ok := b.unsubscribe(*id)
		return &ok, nil
	}); err != nil {
		return err
	}
	return s.HandleStream(SubscribeMethod, server.ServerStream, func(ctx context.Context, st *server.Stream) (any, error) {
		var a SubscribeArgs
		if err := st.Recv(&a); err != nil {
			if err == io.EOF {
				return nil, ferry.NewError(ferry.CodeInvalidArgument, "the stream carried no request")
			}
			return nil, err
		}
		return b.serveSubscription(ctx, &a, func(m *Batch) error { return st.Send(m) })
	})
}

// unsubscribe ends the subscription with that ID: its stream finishes
// with the final Dropped count.
func (b *Broker) unsubscribe(id string) bool {
	b.mu.RLock()
	s := b.byID[id]
	b.mu.RUnlock()
	if s == nil {
		return false
	}
	s.mu.Lock()
	if s.left || s.kicked || s.ended {
		s.mu.Unlock()
		return false // it had ended already: this call ends nothing
	}
	s.left = true
	s.mu.Unlock()
	signal(s.ready)
	signal(s.room) // a publisher waiting for room gives up
	return true
}

// Publish sends v to every subscriber of topic and returns how many
// subscribers it was queued for. ctx bounds the Block policy's wait. An
// empty topic, a v that does not encode, or a nil ctx, is an error of
// code ferry.CodeInvalidArgument (nothing is queued).
func (b *Broker) Publish(ctx context.Context, topic string, v any) (int, error) {
	if err := status.CheckContext(ctx, "Publish"); err != nil {
		return 0, err
	}
	raw, err := codec.Marshal(v)
	if err != nil {
		return 0, ferry.Errorf(ferry.CodeInvalidArgument, "cannot encode the message: %v", err)
	}
	return b.publishRaw(ctx, topic, raw)
}

// drop removes s from its topic; its handler's own removal, when it
// ends, then finds it gone.
func (b *Broker) drop(s *sub) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if subs := b.topics[s.topic]; subs != nil {
		delete(subs, s)
		if len(subs) == 0 {
			delete(b.topics, s.topic)
		}
	}
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
	topic   string
	mu      sync.Mutex
	q       []codec.Raw // ring buffer
	head, n int
	room    chan struct{} // signaled when the sender takes messages
	ready   chan struct{} // signaled when a message is queued
	gone    chan struct{} // closed when its handler returns: no room ever comes
	kicked  bool          // the Disconnect policy ended it
	left    bool          // the subscriber unsubscribed
	ended   bool          // the server's shutdown ended it
	policy  Overflow
	dropped atomic.Uint64
}

func (s *sub) offer(ctx context.Context, msg codec.Raw, b *Broker) bool {
	policy := s.policy
	var timer *time.Timer
	for {
		s.mu.Lock()
		if s.kicked || s.left || s.ended {
			s.mu.Unlock()
			signal(s.room) // pass the wake-up on to the next waiting publisher
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
			// The subscription ends: this message and those still queued
			// are lost to it.
			s.kicked = true
			s.dropped.Add(uint64(1 + s.n))
			s.mu.Unlock()
			// It leaves the topic now (Subscribers, later messages), not
			// when its handler notices: that may be writing a batch,
			// waiting up to WriteTimeout for the subscriber's window.
			b.drop(s)
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
		case <-s.gone:
			// The subscription ended (its ctx, its connection): the room
			// the publisher waits for never comes.
			return false
		}
	}
}

// take removes up to maxBatch queued messages, of at most maxBatchBytes
// (or one larger message), none once the subscription was kicked or left.
func (s *sub) take(dst []codec.Raw) (msgs []codec.Raw, kicked, left bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.kicked || s.left {
		return dst, s.kicked, s.left
	}
	size := 0
	for s.n > 0 && len(dst) < maxBatch {
		if size += len(s.q[s.head]); len(dst) > 0 && size > maxBatchBytes {
			break
		}
		dst = append(dst, s.q[s.head])
		s.q[s.head] = nil
		s.head = (s.head + 1) % len(s.q)
		s.n--
	}
	return dst, false, false
}

// end ends the subscription for the server's shutdown: later offers are
// refused, and the messages still queued count as dropped. It returns the
// error the subscriber gets, with the final count.
func (s *sub) end() error {
	s.mu.Lock()
	s.ended = true
	n := s.n
	for ; s.n > 0; s.n-- {
		s.q[s.head] = nil
		s.head = (s.head + 1) % len(s.q)
	}
	s.mu.Unlock()
	s.dropped.Add(uint64(n))
	signal(s.room) // a publisher waiting for room gives up
	return ferry.NewError(ferry.CodeUnavailable, "the server is shutting down: subscribe again").
		WithDetail(DroppedDetail, strconv.FormatUint(s.dropped.Load(), 10))
}

func signal(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

var errKicked = errors.New("subscriber too slow")

// serveSubscription sends a's topic to one subscriber until it leaves
// (the result: a Batch with the final Dropped), the Disconnect policy
// ends it, the server shuts down (after what was queued then), or ctx
// ends.
func (b *Broker) serveSubscription(ctx context.Context, a *SubscribeArgs, send func(*Batch) error) (any, error) {
	if a.Topic == "" {
		return nil, ferry.NewError(ferry.CodeInvalidArgument, "empty topic")
	}
	id, err := newID()
	if err != nil {
		return nil, err
	}
	send = limitTo(a.Max, send)
	policy, qlen := b.policy, b.queue
	if a.Policy >= Block && a.Policy <= Disconnect {
		policy = a.Policy
	}
	if a.Queue > 0 {
		qlen = min(a.Queue, b.queue)
	}
	s := &sub{topic: a.Topic, q: make([]codec.Raw, qlen), policy: policy, room: make(chan struct{}, 1), ready: make(chan struct{}, 1), gone: make(chan struct{})}
	b.mu.Lock()
	if b.topics[a.Topic] == nil {
		b.topics[a.Topic] = map[*sub]struct{}{}
	}
	b.topics[a.Topic][s] = struct{}{}
	b.byID[id] = s
	b.mu.Unlock()
	defer func() {
		close(s.gone)
		b.mu.Lock()
		delete(b.byID, id)
		delete(b.topics[a.Topic], s)
		if len(b.topics[a.Topic]) == 0 {
			delete(b.topics, a.Topic)
		}
		b.mu.Unlock()
	}()
	// An empty batch tells the subscriber it is registered.
	if err := send(&Batch{ID: id}); err != nil {
		return nil, err
	}
	// Once the server begins to shut down, what is queued then (at most a
	// queue's worth) is delivered, and the subscription ends, so that the
	// shutdown does not wait for it.
	shutting := server.ShuttingDown(ctx)
	stopping, budget := false, 0
	var batch Batch
	for {
		if !stopping {
			select {
			case <-shutting:
				stopping, budget = true, len(s.q)
			default:
			}
		}
		if stopping && budget <= 0 {
			return nil, s.end()
		}
		var kicked, left bool
		batch.Messages, kicked, left = s.take(batch.Messages[:0])
		switch {
		case kicked:
			return nil, ferry.Errorf(ferry.CodeResourceExhausted, "%v: its queue of %d overflowed", errKicked, len(s.q)).
				WithDetail(DroppedDetail, strconv.FormatUint(s.dropped.Load(), 10))
		case left:
			return &Batch{Dropped: s.dropped.Load()}, nil
		}
		if len(batch.Messages) == 0 {
			if stopping {
				return nil, s.end()
			}
			select {
			case <-s.ready:
				continue
			case <-shutting:
				continue
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}
		signal(s.room)
		if err := s.deliver(&batch, send); err != nil {
			return nil, fmt.Errorf("deliver: %w", err)
		}
		budget -= len(batch.Messages)
		clear(batch.Messages)
	}
}

// deliver sends batch. A batch over the stream's message limit
// (transport.Config.MaxMessageSize; the stream stays usable), or nested
// past the smaller MaxDepth, goes out in halves, and a message that is
// alone over it is dropped and counted: one message the subscriber can
// never receive does not end its subscription.
func (s *sub) deliver(batch *Batch, send func(*Batch) error) error {
	batch.Dropped = s.dropped.Load()
	err := send(batch)
	if err == nil || !errors.Is(err, wire.ErrTooLarge) && !errors.Is(err, wire.ErrTooDeep) {
		return err
	}
	msgs := batch.Messages
	defer func() { batch.Messages = msgs }()
	if len(msgs) == 1 {
		s.dropped.Add(1)
		return nil
	}
	half := len(msgs) / 2
	for _, part := range [][]codec.Raw{msgs[:half], msgs[half:]} {
		batch.Messages = part
		if err := s.deliver(batch, send); err != nil {
			return err
		}
	}
	return nil
}

// limitTo bounds the batches send sends to limit bytes as a stream frame,
// for a subscriber whose MaxMessageSize is below the server's: a batch
// past it fails as one past the server's own limit does (wire.ErrTooLarge),
// so that deliver splits it or drops its one message. A batch is encoded
// to be measured only when it may be near the limit.
func limitTo(limit int, send func(*Batch) error) func(*Batch) error {
	if limit <= 0 {
		return send
	}
	return func(m *Batch) error {
		size := batchOverhead + len(m.ID)
		for _, msg := range m.Messages {
			size += len(msg)
		}
		if size > limit {
			b, err := encode.New().Append(nil, m)
			if err == nil && frameHeader+len(b) > limit {
				return ferry.WrapError(ferry.CodeResourceExhausted, wire.ErrTooLarge,
					fmt.Sprintf("a batch of %d bytes exceeds the subscriber's %d-byte limit", frameHeader+len(b), limit))
			}
		}
		return send(m)
	}
}

// frameHeader is the size of a stream data frame's header ([3, payload]),
// and batchOverhead bounds a Batch's encoding beyond its messages and ID
// (map, keys, array and str headers, the count) plus that header.
const (
	frameHeader   = 2
	batchOverhead = 32
)

// newID returns an unguessable subscription ID.
func newID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", ferry.Errorf(ferry.CodeInternal, "subscription ID: %v", err)
	}
	return hex.EncodeToString(b[:]), nil
}
