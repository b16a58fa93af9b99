package etcd

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/ferryrpc/ferry/resolver"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// NewResolver returns a resolver.Resolver of the servers registered under
// service: each Watcher reads the keys once, then follows etcd's watch
// from that revision, so a change reaches the client as soon as etcd
// applies it. A key whose value does not parse is skipped; of two keys
// that name the same address, the first in key order counts. Every 5 s
// without news the Watcher also checks that etcd has not gone back to an
// older revision (an etcd that came back without its data, or restored
// from a backup), which a watch never reports, and then reads the keys
// afresh. While etcd does not answer that check, the Watcher checks every
// second (each check waits at most 5 s) and first asks the etcd client to
// reconnect at once, so that the watch resumes within seconds of etcd's
// return rather than after gRPC's reconnect backoff (up to 2 min after a
// long outage).
func NewResolver(cli *clientv3.Client, service string, opts ...Option) (resolver.Resolver, error) {
	if err := validService(service); err != nil {
		return nil, err
	}
	o, err := buildOptions(opts)
	if err != nil {
		return nil, err
	}
	return &etcdResolver{cli: cli, o: o, prefix: o.prefix + service + "/"}, nil
}

type etcdResolver struct {
	cli    *clientv3.Client
	o      options
	prefix string
}

// Watch starts a Watcher; with a nil etcd client it fails (so does
// cluster.New given the Resolver).
func (r *etcdResolver) Watch(context.Context) (resolver.Watcher, error) {
	if r.cli == nil {
		return nil, errNilClient
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &watcher{r: r, ctx: ctx, cancel: cancel, eps: map[string]resolver.Endpoint{}}, nil
}

type watcher struct {
	r      *etcdResolver
	ctx    context.Context // ends at Close, and with it the etcd watch
	cancel context.CancelFunc

	mu     sync.Mutex // one Next at a time
	eps    map[string]resolver.Endpoint
	wch    clientv3.WatchChan
	wstop  context.CancelFunc
	last   []resolver.Endpoint
	sent   bool
	failed int       // consecutive failures to (re)load
	rev    int64     // the newest revision seen: the read, or a watch reply
	check  time.Time // when to check next that etcd has not gone back
	// unheard: etcd did not answer the last check; the next one, a second
	// later, first asks the client to reconnect at once.
	unheard bool
}

// checkEvery is how often a quiet watch checks that etcd's revision has
// not gone back.
const checkEvery = 5 * time.Second

func (w *watcher) Next(ctx context.Context) ([]resolver.Endpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if err := w.ctx.Err(); err != nil {
			return nil, resolver.ErrClosed
		}
		if w.wch == nil {
			if err := w.load(ctx); err != nil {
				return nil, err
			}
		} else if err := w.follow(ctx); err != nil {
			return nil, err
		}
		set := w.set()
		if !w.sent || !resolver.Equal(set, w.last) {
			w.sent, w.last = true, set
			return set, nil
		}
	}
}

// set returns the endpoints in key order, sorted by Addr: of two keys
// that name the same address, the first in key order counts, every time
// (in a Go map's order, unrelated changes flipped its Attrs).
func (w *watcher) set() []resolver.Endpoint {
	eps := make([]resolver.Endpoint, 0, len(w.eps))
	for _, k := range slices.Sorted(maps.Keys(w.eps)) {
		eps = append(eps, w.eps[k])
	}
	return resolver.Sort(eps)
}

// load reads every key and starts a watch from the next revision. After a
// failure it first waits (200 ms doubling to 5 s), so that a caller
// retrying at once does not hammer etcd.
func (w *watcher) load(ctx context.Context) error {
	if w.failed > 0 {
		t := time.NewTimer(min(200*time.Millisecond<<min(w.failed-1, 5), 5*time.Second))
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-w.ctx.Done():
			t.Stop()
			return resolver.ErrClosed
		}
	}
	gctx, cancel := w.readContext(ctx)
	resp, err := w.r.cli.Get(gctx, w.r.prefix, clientv3.WithPrefix())
	cancel()
	if w.ctx.Err() != nil {
		return resolver.ErrClosed
	}
	if err != nil {
		w.failed++
		return fmt.Errorf("ferry: etcd: read %s: %w", w.r.prefix, err)
	}
	w.failed = 0
	w.rev, w.check = resp.Header.Revision, time.Now().Add(checkEvery)
	clear(w.eps)
	for _, kv := range resp.Kvs {
		w.put(string(kv.Key), kv.Value)
	}
	wctx, wstop := context.WithCancel(clientv3.WithRequireLeader(w.ctx))
	w.wch = w.r.cli.Watch(wctx, w.r.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1))
	w.wstop = wstop
	return nil
}

// readContext bounds one read of etcd: 5 s, ctx, and Close.
func (w *watcher) readContext(ctx context.Context) (context.Context, context.CancelFunc) {
	rctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	stop := context.AfterFunc(w.ctx, cancel)
	return rctx, func() { stop(); cancel() }
}

// follow applies the next batch of watch events. When the watch ends
// (compaction, lost leader, closed), or etcd's revision went back, it
// drops it, to be loaded afresh.
func (w *watcher) follow(ctx context.Context) error {
	t := time.NewTimer(time.Until(w.check))
	defer t.Stop()
	select {
	case <-t.C:
		if w.unheard {
			// etcd did not answer the last check: gRPC's reconnect
			// backoff grows to 2 min while etcd is out of reach, and the
			// watch resumes only once the client reconnects. Ask for a
			// reconnect now, so that it resumes soon after etcd is back.
			if conn := w.r.cli.ActiveConnection(); conn != nil {
				conn.ResetConnectBackoff()
			}
		}
		back, err := w.wentBack(ctx)
		if ctx.Err() != nil {
			return ctx.Err()
		}
		w.unheard = err != nil
		w.check = time.Now().Add(checkEvery)
		if w.unheard {
			w.check = time.Now().Add(time.Second)
		}
		if !back {
			return nil
		}
		w.r.o.logger.Warn("ferry: etcd went back to an older revision; reading the keys afresh", "prefix", w.r.prefix)
		w.wstop()
		w.wch = nil
		return w.load(ctx)
	case resp, ok := <-w.wch:
		if !ok || resp.Canceled || resp.Err() != nil {
			err := fmt.Errorf("ferry: etcd: the watch of %s ended", w.r.prefix)
			if ok && resp.Err() != nil {
				err = fmt.Errorf("ferry: etcd: the watch of %s ended: %w", w.r.prefix, resp.Err())
			}
			w.r.o.logger.Warn("ferry: etcd watch restarting", "err", err)
			w.wstop()
			w.wch = nil
			return w.load(ctx)
		}
		w.rev = max(w.rev, resp.Header.Revision)
		w.check = time.Now().Add(checkEvery)
		for _, ev := range resp.Events {
			switch ev.Type {
			case clientv3.EventTypePut:
				w.put(string(ev.Kv.Key), ev.Kv.Value)
			case clientv3.EventTypeDelete:
				delete(w.eps, string(ev.Kv.Key))
			}
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.ctx.Done():
		return resolver.ErrClosed
	}
}

// wentBack reports whether etcd's revision is now older than one the
// watcher has seen, or the error of a check etcd did not answer. An etcd
// out of reach is not taken for one that went back: the watch resumes on
// its own when etcd is back.
func (w *watcher) wentBack(ctx context.Context) (bool, error) {
	gctx, cancel := w.readContext(ctx)
	defer cancel()
	resp, err := w.r.cli.Get(gctx, w.r.prefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return false, err
	}
	return resp.Header.Revision < w.rev, nil
}

func (w *watcher) put(key string, value []byte) {
	var rec record
	if err := json.Unmarshal(value, &rec); err != nil || rec.Addr == "" {
		w.r.o.logger.Warn("ferry: etcd: skipping a malformed registration", "key", key)
		delete(w.eps, key)
		return
	}
	w.eps[key] = resolver.Endpoint{Addr: rec.Addr, Attrs: rec.Attrs}
}

// ResolveNow does nothing: etcd pushes every change.
func (w *watcher) ResolveNow() {}

func (w *watcher) Close() error {
	w.cancel()
	return nil
}
