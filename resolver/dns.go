package resolver

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"sync"
	"time"
)

// Lookup is the part of *net.Resolver that the DNS resolvers use; tests
// and custom setups may pass their own (WithLookup).
type Lookup interface {
	LookupNetIP(ctx context.Context, network, host string) ([]netip.Addr, error)
	LookupSRV(ctx context.Context, service, proto, name string) (cname string, addrs []*net.SRV, err error)
}

// DNSOption configures DNS and SRV.
type DNSOption func(*dnsOptions) error

type dnsOptions struct {
	interval time.Duration
	timeout  time.Duration
	lookup   Lookup
	network  string
}

// WithInterval sets how often the name is looked up again. Default 5 s;
// range 10 ms to 1 h. A connection failure also triggers a lookup (at most
// one per second, or per interval when that is shorter).
func WithInterval(d time.Duration) DNSOption {
	return func(o *dnsOptions) error {
		if d < 10*time.Millisecond || d > time.Hour {
			return fmt.Errorf("ferry: DNS interval %v is outside 10ms..1h", d)
		}
		o.interval = d
		return nil
	}
}

// WithLookupTimeout bounds one lookup. Default 5 s; range 10 ms to 1 min.
func WithLookupTimeout(d time.Duration) DNSOption {
	return func(o *dnsOptions) error {
		if d < 10*time.Millisecond || d > time.Minute {
			return fmt.Errorf("ferry: DNS lookup timeout %v is outside 10ms..1m", d)
		}
		o.timeout = d
		return nil
	}
}

// WithLookup sets what performs lookups. Default net.DefaultResolver; a
// *net.Resolver with its own Dial points lookups at another DNS server.
func WithLookup(l Lookup) DNSOption {
	return func(o *dnsOptions) error {
		if l == nil {
			return errors.New("ferry: nil DNS lookup")
		}
		o.lookup = l
		return nil
	}
}

// WithIPv4Only resolves A records only. Default: A and AAAA.
func WithIPv4Only() DNSOption {
	return func(o *dnsOptions) error {
		o.network = "ip4"
		return nil
	}
}

func buildDNSOptions(opts []DNSOption) (dnsOptions, error) {
	o := dnsOptions{interval: 5 * time.Second, timeout: 5 * time.Second, lookup: net.DefaultResolver, network: "ip"}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// DNS returns a Resolver of the A and AAAA records of the host in
// hostport ("svc.example.com:7000"), each address with that port. A
// lookup that fails or finds no address is an error: the client keeps its
// last good set.
func DNS(hostport string, opts ...DNSOption) (Resolver, error) {
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return nil, fmt.Errorf("ferry: DNS target %q: %w", hostport, err)
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return nil, fmt.Errorf("ferry: DNS target %q: bad port", hostport)
	}
	o, err := buildDNSOptions(opts)
	if err != nil {
		return nil, err
	}
	return &dnsResolver{o: o, lookup: func(ctx context.Context) ([]Endpoint, error) {
		return lookupHost(ctx, o, host, port)
	}}, nil
}

// SRV returns a Resolver of the SRV records of _service._proto.name
// (RFC 2782), such as SRV("ferry", "tcp", "example.com"). Each target is
// resolved to its addresses, with the record's port, and each address
// carries the record's priority and weight as Attrs (AttrPriority,
// AttrWeight; every address of a target carries the target's weight). An
// address listed by several records keeps the lowest priority. A target
// that does not resolve is left out of the set; a lookup that fails, or
// whose targets give no address at all, is an error: the client keeps its
// last good set.
//
// The cluster client honours them as RFC 2782 asks: it sends calls only
// to the ready endpoints of the lowest priority that has any (the others
// take over when every endpoint of that priority is down, unhealthy or
// draining, and hand back when one is ready again), and among those the
// balancer spreads calls in proportion to weight (balancer.Weighted).
func SRV(service, proto, name string, opts ...DNSOption) (Resolver, error) {
	if name == "" {
		return nil, errors.New("ferry: SRV: empty name")
	}
	o, err := buildDNSOptions(opts)
	if err != nil {
		return nil, err
	}
	return &dnsResolver{o: o, lookup: func(ctx context.Context) ([]Endpoint, error) {
		_, srvs, err := o.lookup.LookupSRV(ctx, service, proto, name)
		if len(srvs) == 0 {
			if err == nil {
				err = errors.New("no SRV records")
			}
			return nil, fmt.Errorf("ferry: SRV lookup of _%s._%s.%s: %w", service, proto, name, err)
		}
		// Lowest priority first, so that Sort keeps an address's lowest.
		srvs = slices.Clone(srvs)
		slices.SortStableFunc(srvs, func(a, b *net.SRV) int { return int(a.Priority) - int(b.Priority) })
		var eps []Endpoint
		var lastErr error
		for _, s := range srvs {
			found, err := lookupHost(ctx, o, s.Target, strconv.Itoa(int(s.Port)))
			if err != nil {
				lastErr = err
				continue
			}
			for i := range found {
				found[i].Attrs = map[string]string{
					AttrPriority: strconv.Itoa(int(s.Priority)),
					AttrWeight:   strconv.Itoa(int(s.Weight)),
				}
			}
			eps = append(eps, found...)
		}
		if len(eps) == 0 {
			return nil, lastErr
		}
		return eps, nil
	}}, nil
}

func lookupHost(ctx context.Context, o dnsOptions, host, port string) ([]Endpoint, error) {
	ips, err := o.lookup.LookupNetIP(ctx, o.network, host)
	if err == nil && len(ips) == 0 {
		err = errors.New("no addresses")
	}
	if err != nil {
		return nil, fmt.Errorf("ferry: DNS lookup of %s: %w", host, err)
	}
	eps := make([]Endpoint, len(ips))
	for i, ip := range ips {
		eps[i] = Endpoint{Addr: net.JoinHostPort(ip.Unmap().String(), port)}
	}
	return eps, nil
}

type dnsResolver struct {
	o      dnsOptions
	lookup func(context.Context) ([]Endpoint, error)
}

func (r *dnsResolver) Watch(context.Context) (Watcher, error) {
	ctx, cancel := context.WithCancel(context.Background())
	return &dnsWatcher{r: r, hint: make(chan struct{}, 1), ctx: ctx, cancel: cancel}, nil
}

// dnsWatcher polls: a lookup every interval, and one soon after
// ResolveNow, but never two closer than minGap.
type dnsWatcher struct {
	r      *dnsResolver
	hint   chan struct{}
	ctx    context.Context // ends at Close, and with it a lookup under way
	cancel context.CancelFunc

	mu   sync.Mutex // one Next at a time
	last []Endpoint
	sent bool
	at   time.Time // when the last lookup started
}

func (w *dnsWatcher) minGap() time.Duration { return min(time.Second, w.r.o.interval) }

func (w *dnsWatcher) Next(ctx context.Context) ([]Endpoint, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for {
		if w.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if !w.at.IsZero() {
			if err := w.wait(ctx); err != nil {
				return nil, err
			}
		}
		w.at = time.Now()
		lctx, cancel := context.WithTimeout(ctx, w.r.o.timeout)
		stop := context.AfterFunc(w.ctx, cancel)
		eps, err := w.r.lookup(lctx)
		stop()
		cancel()
		if w.ctx.Err() != nil {
			return nil, ErrClosed
		}
		if err != nil {
			return nil, err
		}
		eps = Sort(eps)
		if !w.sent || !Equal(eps, w.last) {
			w.sent, w.last = true, eps
			return clone(eps), nil
		}
	}
}

// wait blocks until the next lookup is due: the interval since the last,
// or a ResolveNow hint once minGap has passed.
func (w *dnsWatcher) wait(ctx context.Context) error {
	poll := time.NewTimer(time.Until(w.at.Add(w.r.o.interval)))
	defer poll.Stop()
	for {
		select {
		case <-poll.C:
			return nil
		case <-w.hint:
			gap := time.Until(w.at.Add(w.minGap()))
			if gap <= 0 {
				return nil
			}
			poll.Reset(gap)
		case <-w.ctx.Done():
			return ErrClosed
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (w *dnsWatcher) ResolveNow() {
	select {
	case w.hint <- struct{}{}:
	default:
	}
}

func (w *dnsWatcher) Close() error {
	w.cancel()
	return nil
}
