package etcd

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
)

// Option configures Register and NewResolver.
type Option func(*options) error

type options struct {
	prefix string
	ttl    int64
	attrs  map[string]string
	logger *slog.Logger
}

func buildOptions(opts []Option) (options, error) {
	o := options{prefix: "/ferry/services/", ttl: 10, logger: slog.New(slog.DiscardHandler)}
	for _, opt := range opts {
		if err := opt(&o); err != nil {
			return o, err
		}
	}
	return o, nil
}

// WithPrefix sets the key prefix under which services are registered; the
// servers and the clients of a service must agree on it. It must start and
// end with "/". Default "/ferry/services/".
func WithPrefix(p string) Option {
	return func(o *options) error {
		if !strings.HasPrefix(p, "/") || !strings.HasSuffix(p, "/") {
			return fmt.Errorf("ferry: etcd prefix %q must start and end with /", p)
		}
		o.prefix = p
		return nil
	}
}

// WithTTL sets the lease time to live in seconds, which bounds how long a
// crashed server stays registered. Register only. Default 10; range 2 to
// 3600 (etcd may raise a small value to its own minimum).
func WithTTL(seconds int64) Option {
	return func(o *options) error {
		if seconds < 2 || seconds > 3600 {
			return fmt.Errorf("ferry: etcd lease TTL %d s is outside 2..3600", seconds)
		}
		o.ttl = seconds
		return nil
	}
}

// WithAttrs adds facts to the registration (a zone, a version) that
// clients see in resolver.Endpoint.Attrs. Register only; the key
// "instance" is reserved.
func WithAttrs(attrs map[string]string) Option {
	return func(o *options) error {
		if _, ok := attrs["instance"]; ok {
			return fmt.Errorf("ferry: etcd attribute %q is reserved", "instance")
		}
		o.attrs = attrs
		return nil
	}
}

// WithLogger sends log lines (lease lost, registered again, watch
// restarted) to l. Default: silent.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) error {
		if l == nil {
			return fmt.Errorf("ferry: nil logger")
		}
		o.logger = l
		return nil
	}
}

// errNilClient refuses a nil *clientv3.Client.
var errNilClient = errors.New("ferry: nil etcd client")

func validService(s string) error {
	if s == "" || strings.Contains(s, "/") {
		return fmt.Errorf("ferry: etcd service name %q must be non-empty and have no /", s)
	}
	return nil
}
