package auth

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"unicode"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/server"
)

// Rule allows and denies methods to one identity. Its fields have JSON
// tags, so a policy can live in a file:
//
//	[{"identity": "alice", "allow": ["Greeter.*"], "deny": ["Greeter.Reset"]},
//	 {"identity": "*", "allow": ["Health.Check"]}]
//
// A method pattern is an exact method name ("Admin.Delete"), every method
// of a service ("Admin.*": every name that starts with "Admin."), or "*"
// (every method).
type Rule struct {
	// Identity is the identity name the rule applies to (Identity.Name,
	// a string identity, or a fmt.Stringer's String), or "*" for every
	// caller, including one with no identity.
	Identity string   `json:"identity"`
	Allow    []string `json:"allow,omitempty"` // method patterns allowed
	Deny     []string `json:"deny,omitempty"`  // method patterns denied; deny wins over allow
}

// Policy decides which identity may call which method. A call is allowed
// only if a rule for its identity (or for "*") allows the method and no
// such rule denies it: deny wins, and anything not allowed is denied.
//
// Methods are matched on the canonical name the server looked the method
// up by (ferry.CallInfo.Method: the name it was registered under; the
// server matches names exactly, so a variant in case, white space,
// separators or a trailing NUL byte names no method and is refused with
// CodeUnimplemented before any interceptor runs). Allow patterns match
// names exactly; deny patterns ignore ASCII and Unicode case, so that a
// deny rule written in the wrong case still denies.
//
// Install it with server.New(policy.Option()), which covers unary calls,
// notifications and streaming calls alike, and, for calls and streams a
// server makes to a client (peer mode), on the client with
// client.Dial(ctx, addr, policy.ClientOption()); there the caller's
// identity is what client.WithServerAuth returned for the server (none
// without it: only "*" rules apply). It is safe for concurrent use.
type Policy struct {
	// Logger receives one line per identity and method the first time a
	// call is denied (nil: silent). Set it before the policy is used.
	Logger *slog.Logger

	rules  map[string]*compiled // by identity name, "*" included
	denied atomic.Uint64
	mu     sync.Mutex
	logged map[[2]string]struct{}
}

type compiled struct{ allow, deny []string }

// maxLogged bounds the (identity, method) pairs a Policy remembers having
// logged; once reached, further pairs are counted but not logged.
const maxLogged = 4096

// NewPolicy checks rules and returns their policy. A rule with an empty
// identity, or a pattern that is empty, holds white space or a control
// character, starts with "$", or has "*" anywhere but as the whole
// pattern or after a final "." is an error.
func NewPolicy(rules ...Rule) (*Policy, error) {
	p := &Policy{rules: map[string]*compiled{}, logged: map[[2]string]struct{}{}}
	for i, r := range rules {
		if r.Identity == "" {
			return nil, fmt.Errorf("ferry: policy rule %d: empty identity (use \"*\" for every caller)", i)
		}
		c := p.rules[r.Identity]
		if c == nil {
			c = &compiled{}
			p.rules[r.Identity] = c
		}
		for _, pat := range r.Allow {
			if err := checkPattern(pat); err != nil {
				return nil, fmt.Errorf("ferry: policy rule %d (%s): %w", i, r.Identity, err)
			}
			c.allow = append(c.allow, pat)
		}
		for _, pat := range r.Deny {
			if err := checkPattern(pat); err != nil {
				return nil, fmt.Errorf("ferry: policy rule %d (%s): %w", i, r.Identity, err)
			}
			c.deny = append(c.deny, pat)
		}
	}
	return p, nil
}

func checkPattern(pat string) error {
	if pat == "" {
		return fmt.Errorf("empty method pattern")
	}
	for _, c := range pat {
		if unicode.IsSpace(c) || unicode.IsControl(c) || c == 0xfeff {
			return fmt.Errorf("method pattern %q holds white space or a control character", pat)
		}
	}
	if pat[0] == '$' {
		return fmt.Errorf("method pattern %q: $ names are Ferry's control messages, never subject to a policy", pat)
	}
	if pat == "*" {
		return nil
	}
	body := strings.TrimSuffix(pat, ".*")
	if body == "" || strings.Contains(body, "*") {
		return fmt.Errorf("method pattern %q: want \"Service.Method\", \"Service.*\" or \"*\"", pat)
	}
	if strings.HasPrefix(body, ".") || strings.HasSuffix(body, ".") {
		return fmt.Errorf("method pattern %q: empty service or method", pat)
	}
	return nil
}

// matches reports whether the pattern covers method; fold ignores case.
func matches(pat, method string, fold bool) bool {
	if pat == "*" {
		return true
	}
	if svc, ok := strings.CutSuffix(pat, "*"); ok {
		if !fold {
			return len(method) > len(svc) && strings.HasPrefix(method, svc)
		}
		// svc ends in ".", which folds to nothing else, but its other
		// letters may fold to letters of another length in bytes (K, the
		// Kelvin sign, is k): try every prefix of method ending in ".".
		for i := range len(method) - 1 {
			if method[i] == '.' && strings.EqualFold(method[:i+1], svc) {
				return true
			}
		}
		return false
	}
	if fold {
		return strings.EqualFold(pat, method)
	}
	return pat == method
}

// Allow returns nil if identity may call method (a canonical name,
// ferry.CallInfo.Method), and otherwise a CodePermissionDenied error
// marked ferry.NotExecuted. Every denial is counted (Denied) and the first
// for each identity and method is logged. identity is what the server's
// AuthFunc returned (ferry.IdentityFromContext): an Identity, a string or
// a fmt.Stringer is matched by name; anything else (nil included) only by
// "*" rules.
func (p *Policy) Allow(identity any, method string) error {
	name, named := nameOf(identity)
	var own *compiled
	if named {
		own = p.rules[name]
	}
	all := p.rules["*"]
	allowed := false
	for _, c := range [2]*compiled{own, all} {
		if c == nil {
			continue
		}
		for _, pat := range c.deny {
			if matches(pat, method, true) {
				return p.deny(name, method)
			}
		}
		for _, pat := range c.allow {
			if matches(pat, method, false) {
				allowed = true
			}
		}
	}
	if !allowed {
		return p.deny(name, method)
	}
	return nil
}

func (p *Policy) deny(name, method string) error {
	p.denied.Add(1)
	if p.Logger != nil {
		key := [2]string{name, method}
		p.mu.Lock()
		_, seen := p.logged[key]
		if !seen && len(p.logged) < maxLogged {
			p.logged[key] = struct{}{}
		} else {
			seen = true
		}
		p.mu.Unlock()
		if !seen {
			p.Logger.Warn("ferry: call denied by policy (logged once per identity and method)", "identity", name, "method", method)
		}
	}
	who := "a caller with no identity"
	if name != "" {
		who = fmt.Sprintf("identity %q", name)
	}
	return ferry.MarkNotExecuted(ferry.Errorf(ferry.CodePermissionDenied, "%s may not call %s", who, method))
}

// Denied returns the number of calls the policy has denied.
func (p *Policy) Denied() uint64 { return p.denied.Load() }

// Option installs the policy on a server for every kind of call:
// Interceptor for unary calls and notifications, StreamInterceptor for
// streaming calls. Put it after debug.Stats' Option, so that /debug/ferry
// counts denials:
//
//	s := server.New(server.WithAuth(tokens.Authenticate), stats.Option(), policy.Option())
func (p *Policy) Option() server.Option {
	return join(server.WithInterceptors(p.Interceptor()), server.WithStreamInterceptors(p.StreamInterceptor()))
}

// ClientOption is Option for the calls and streams a server makes to a
// client (peer mode): it installs Interceptor with
// client.WithServerInterceptors and StreamInterceptor with
// client.WithStreamServerInterceptors.
func (p *Policy) ClientOption() client.Option {
	return join(client.WithServerInterceptors(p.Interceptor()), client.WithStreamServerInterceptors(p.StreamInterceptor()))
}

// join applies a, then b.
func join[O ~func(P) error, P any](a, b O) O {
	return func(o P) error {
		if err := a(o); err != nil {
			return err
		}
		return b(o)
	}
}

// Interceptor returns a server interceptor that runs Allow for every
// unary call and notification before its handler, with the identity the
// server's AuthFunc gave the connection: a denied call's handler never
// runs, and the caller gets CodePermissionDenied with ferry.NotExecuted
// true. It does not see streaming calls: installed alone, it leaves
// streaming methods open to every caller the server authenticates. Option
// installs it with StreamInterceptor. Put it after debug.Stats'
// interceptor, so that /debug/ferry counts denials.
func (p *Policy) Interceptor() ferry.ServerInterceptor {
	return func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if err := p.Allow(ferry.IdentityFromContext(ctx), info.Method); err != nil {
			return nil, err
		}
		return next(ctx, args)
	}
}

// StreamInterceptor is Interceptor for streaming calls: it runs Allow
// before a stream's handler, and a denied stream is refused with
// CodePermissionDenied and ferry.NotExecuted true before its handler runs.
// Option and ClientOption install it together with Interceptor; alone,
// install it with server.WithStreamInterceptors (or, for streams a server
// opens to a client, client.WithStreamServerInterceptors), after
// debug.Stats' stream interceptor.
func (p *Policy) StreamInterceptor() ferry.StreamServerInterceptor {
	return func(ctx context.Context, info *ferry.StreamInfo, st ferry.ServerStream, next ferry.StreamHandler) (any, error) {
		if err := p.Allow(ferry.IdentityFromContext(ctx), info.Method); err != nil {
			return nil, err
		}
		return next(ctx, st)
	}
}
