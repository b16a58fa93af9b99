// Package pubsub adds message-queue style publish/subscribe to a Ferry
// server: clients subscribe to topics and receive, in order, what the
// server or any client publishes to them.
//
// Each subscriber has a bounded queue on the server. When it is full the
// broker's Overflow policy decides: block the publisher up to a timeout,
// drop the oldest queued message, or disconnect the slow subscriber. Every
// subscription counts the messages it lost (Subscription.Dropped); once
// the subscription has ended, by Close, by its ctx, by the Disconnect
// policy or by the server's shutdown, that count is the broker's final
// one. Messages travel on the
// subscription's own stream, in batches, so a slow subscriber never holds
// up calls, nor other subscribers unless the Block policy makes a
// publisher wait for its room: the others then wait too, for that
// message and for whatever that publisher sends next.
//
// A message too large to reach the subscriber (over the server's
// transport.Config.MaxMessageSize, or the subscriber's, which Subscribe tells
// the broker, in a batch of its own), or nested deeper than the smaller
// transport.Config.MaxDepth of the two sides allows (the subscriber's
// hello tells the server its own), is dropped and counted, and the
// subscription goes on; batches of messages that fit are split to fit.
//
// The policies govern the queue on the server. Beyond it, the
// subscription's stream holds what its flow-control window allows (1 MiB
// by default), and the Subscription reads up to two batches ahead of
// Next. A subscriber that reads nothing while a batch waits for that
// window longer than the server's write timeout
// (transport.Config.WriteTimeout, 10 s by default) loses the subscription
// whatever the policy: its stream is cut, Next returns CodeUnavailable
// (the connection itself lives on), and Dropped stays as of the last
// batch.
//
// A subscription ends for one reason, which Next then returns every time:
// an error wrapping ferry.ErrClosed after Close (the Subscription's, or its
// client's, as client.Stream's Recv returns), the ctx's error
// (context.Canceled or context.DeadlineExceeded) after the ctx given to
// Subscribe ended, CodeResourceExhausted when the broker disconnected a
// slow subscriber, CodeUnavailable when the server shut down, or the
// connection was lost or the subscription's stream ended.
//
// When the server begins a graceful Shutdown (or a Close), the broker
// delivers what each subscription has queued then and ends it, so that
// the shutdown does not wait for subscribers beyond the batch each is
// being sent then: one that reads nothing holds the shutdown until that
// write times out (transport.Config.WriteTimeout, 10 s by default), or
// Shutdown's ctx ends, whichever comes first. Next returns those messages
// (and perhaps a few published meanwhile), then CodeUnavailable ("the
// server is shutting down"), and Dropped is final (it counts any left
// queued; later messages are not offered to the ended subscription).
// Subscribe again, to another server.
//
// Server:
//
//	b := pubsub.NewBroker(pubsub.WithQueue(1024, pubsub.DropOldest))
//	b.Register(srv) // serves PubSub.Subscribe, PubSub.Publish and PubSub.Unsubscribe
//	b.Publish(ctx, "news", "hello")
//
// Client:
//
//	sub, _ := pubsub.Subscribe(ctx, c, "news")
//	var msg string
//	for sub.Next(ctx, &msg) == nil { ... }
//	pubsub.Publish(ctx, c, "news", "hi from a client")
package pubsub
