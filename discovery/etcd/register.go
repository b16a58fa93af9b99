package etcd

import (
	"context"
	crand "crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// record is the JSON value stored under a key.
type record struct {
	Addr  string            `json:"addr"`
	Attrs map[string]string `json:"attrs,omitempty"`
}

// Registration keeps one server registered until Close.
type Registration struct {
	cli   *clientv3.Client
	o     options
	key   string
	value string

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	lease  atomic.Int64 // the current clientv3.LeaseID
	rev    int64        // the revision of the latest put, for run only
	again  atomic.Int64 // registrations after the first
	heard  atomic.Int64 // when etcd last answered a keep-alive or a registration (Unix ns)
	once   sync.Once
}

// Register puts addr under service in etcd with a lease, and keeps the
// lease alive in the background, registering again whenever it is lost.
// ctx bounds the first registration, which Register waits for.
func Register(ctx context.Context, cli *clientv3.Client, service, addr string, opts ...Option) (*Registration, error) {
	if err := validService(service); err != nil {
		return nil, err
	}
	if addr == "" {
		return nil, errors.New("ferry: etcd: empty address")
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	if cli == nil {
		return nil, errNilClient
	}
	attrs := maps.Clone(o.attrs)
	if attrs == nil {
		attrs = map[string]string{}
	}
	attrs["instance"] = newInstanceID()
	value, err := json.Marshal(record{Addr: addr, Attrs: attrs})
	if err != nil {
		return nil, err
	}
	r := &Registration{cli: cli, o: o, key: o.prefix + service + "/" + addr, value: string(value), done: make(chan struct{})}
	if err := r.register(ctx); err != nil {
		return nil, err
	}
	r.ctx, r.cancel = context.WithCancel(context.Background())
	go r.run()
	return r, nil
}

func newInstanceID() string {
	var b [8]byte
	_, _ = crand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// Key returns the etcd key of the registration.
func (r *Registration) Key() string { return r.key }

// Lease returns the lease the registration holds now.
func (r *Registration) Lease() clientv3.LeaseID { return clientv3.LeaseID(r.lease.Load()) }

// Reregistrations reports how many times the lease was lost and the
// server registered again.
func (r *Registration) Reregistrations() int64 { return r.again.Load() }

// register grants a lease and puts the key under it.
func (r *Registration) register(ctx context.Context) error {
	lease, err := r.cli.Grant(ctx, r.o.ttl)
	if err != nil {
		return fmt.Errorf("ferry: etcd: grant a lease: %w", err)
	}
	put, err := r.cli.Put(ctx, r.key, r.value, clientv3.WithLease(lease.ID))
	if err != nil {
		_, _ = r.cli.Revoke(ctx, lease.ID)
		return fmt.Errorf("ferry: etcd: put %s: %w", r.key, err)
	}
	r.lease.Store(int64(lease.ID))
	r.rev = put.Header.Revision
	r.heard.Store(time.Now().UnixNano())
	return nil
}

// run keeps the lease alive and, when the lease or the key is lost,
// registers again with backoff (200 ms doubling to 5 s, ±20 %).
func (r *Registration) run() {
	defer close(r.done)
	nudged := make(chan struct{})
	go r.nudge(nudged)
	defer func() { <-nudged }()
	for r.ctx.Err() == nil {
		r.hold()
		if r.ctx.Err() != nil {
			return
		}
		r.o.logger.Warn("ferry: etcd registration lost; registering again", "key", r.key)
		delay := 200 * time.Millisecond
		for {
			ctx, cancel := context.WithTimeout(r.ctx, 5*time.Second)
			err := r.register(ctx)
			cancel()
			if err == nil {
				r.again.Add(1)
				r.o.logger.Info("ferry: etcd registered again", "key", r.key)
				break
			}
			if r.cli.Ctx().Err() != nil {
				r.o.logger.Warn("ferry: etcd client closed; registration ends", "key", r.key)
				return
			}
			r.o.logger.Warn("ferry: etcd register failed", "key", r.key, "err", err)
			t := time.NewTimer(time.Duration(float64(delay) * (0.8 + 0.4*rand.Float64())))
			select {
			case <-t.C:
			case <-r.ctx.Done():
				t.Stop()
				return
			}
			delay = min(2*delay, 5*time.Second)
		}
	}
}

// nudge asks the etcd client to reconnect at once, every second while
// etcd has not answered for half a TTL: gRPC's reconnect backoff grows to
// 2 min, and an etcd that restarts renews the lease for one TTL only, so
// a client that waited it out would find the lease expired and the
// server gone from the registry. It ends with run, or with the client.
func (r *Registration) nudge(done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-r.ctx.Done():
			return
		case <-r.cli.Ctx().Done():
			return
		}
		if time.Since(time.Unix(0, r.heard.Load())) > time.Duration(r.o.ttl)*time.Second/2 {
			if conn := r.cli.ActiveConnection(); conn != nil {
				conn.ResetConnectBackoff()
			}
		}
	}
}

// hold keeps the current lease alive until it expires or is revoked
// (the keep-alive stream ends), or the key is deleted (a watch on it sees
// that at once, where the keep-alive would notice only at its next beat),
// or Close.
func (r *Registration) hold() {
	ctx, cancel := context.WithCancel(r.ctx)
	defer cancel()
	alive, err := r.cli.KeepAlive(ctx, r.Lease())
	if err != nil {
		return
	}
	events := r.cli.Watch(ctx, r.key, clientv3.WithRev(r.rev+1))
	for {
		select {
		case _, ok := <-alive:
			if !ok {
				return
			}
			r.heard.Store(time.Now().UnixNano())
		case resp, ok := <-events:
			if !ok || resp.Canceled {
				// The watch could not resume (etcd compacted the history
				// it missed while out of reach): look at the key, and
				// watch again from there.
				if events = r.rewatch(ctx); events == nil {
					return
				}
				continue
			}
			for _, ev := range resp.Events {
				if ev.Type == clientv3.EventTypeDelete {
					return
				}
			}
		}
	}
}

// rewatch reads the key and watches it from the revision read, or
// returns nil when the key is gone or cannot be read (register again).
func (r *Registration) rewatch(ctx context.Context) clientv3.WatchChan {
	gctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	resp, err := r.cli.Get(gctx, r.key)
	cancel()
	if err != nil || len(resp.Kvs) == 0 {
		return nil
	}
	return r.cli.Watch(ctx, r.key, clientv3.WithRev(resp.Header.Revision+1))
}

// Close deregisters: it stops the keep-alive and revokes the lease, which
// deletes the key at once, so watching clients drop the server. ctx bounds
// the revoke. Call it before the server's Shutdown, and before closing the
// etcd client (a registration whose client was closed stops keeping its
// lease alive, and the key goes when the lease expires).
func (r *Registration) Close(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		r.cancel()
		<-r.done
		if _, rerr := r.cli.Revoke(ctx, r.Lease()); rerr != nil {
			err = fmt.Errorf("ferry: etcd: revoke the lease of %s: %w", r.key, rerr)
		}
	})
	return err
}
