package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/codec"
	"github.com/ferryrpc/ferry/introspect"
)

// introspectCall calls an Introspect method with one param (or none) and
// decodes the reply. A server without the service gets a hint.
func introspectCall(ctx context.Context, e *env, cf *connFlags, c caller, method string, arg, reply any) error {
	params := []any{}
	if arg != nil {
		params = append(params, arg)
	}
	p, err := codec.Marshal(params)
	if err != nil {
		return err
	}
	cctx, cancel := cf.callContext(ctx)
	defer cancel()
	res, err := c.call(cctx, method, p)
	fc, _ := c.(*ferryConn)
	switch {
	case ferry.CodeOf(err) == ferry.CodeUnimplemented:
		e.printf("ferry: the server does not answer %s; a Ferry server offers it after introspect.Register(s)", method)
	case err != nil && fc != nil && fc.plain && ferry.CodeOf(err) == ferry.CodeUnknown:
		// A plain MessagePack-RPC server's errors have no code.
		e.printf("ferry: hint: the server speaks plain MessagePack-RPC and refused %s: a server other than Ferry's has no introspection", method)
	}
	if err != nil {
		return err
	}
	return codec.Unmarshal(res, reply)
}

// connect parses the common flags of list and describe and dials.
func connect(ctx context.Context, e *env, name, argsUsage string, args []string, want int, extra func(*flag.FlagSet)) (caller, *connFlags, []string, int) {
	fs := newFlagSet(e, name, argsUsage)
	cf := &connFlags{}
	cf.register(fs)
	if extra != nil {
		extra(fs)
	}
	pos, err := parseFlags(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		return nil, nil, nil, exitOK
	} else if err != nil {
		return nil, nil, nil, exitFail
	}
	if len(pos) < 1 || len(pos) > want {
		return nil, nil, nil, usageError(e, fs, "want %s, got %d arguments", argsUsage, len(pos))
	}
	if err := cf.check(); err != nil {
		return nil, nil, nil, usageError(e, fs, "%v", err)
	}
	c, err := cf.dial(ctx, pos[0])
	if err != nil {
		e.printf("ferry: connect to %s: %v", pos[0], err)
		return nil, nil, nil, exitFail
	}
	cf.warnPlain(e, c)
	return c, cf, pos, -1
}

func runList(ctx context.Context, e *env, args []string) int {
	var asJSON bool
	c, cf, _, code := connect(ctx, e, "list", "ADDR", args, 1, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the reply as JSON")
	})
	if c == nil {
		return code
	}
	defer c.Close()
	var r introspect.ListReply
	if err := introspectCall(ctx, e, cf, c, introspect.ListMethod, nil, &r); err != nil {
		return callExit(e, cf, err)
	}
	if asJSON {
		return printJSON(e, r)
	}
	width := 0
	for _, s := range r.Services {
		for _, m := range s.Methods {
			width = max(width, len(m.Name))
		}
	}
	// Past maxListWidth a long name pushes its own kind out but pads no
	// other: padding every line to one long name the server sent would
	// multiply the output by the number of methods.
	width = min(width, maxListWidth)
	for _, s := range r.Services {
		fmt.Fprintln(e.stdout, printable(s.Name))
		for _, m := range s.Methods {
			fmt.Fprintf(e.stdout, "  %-*s  %s\n", width, printable(m.Name), printable(m.Kind))
		}
	}
	return exitOK
}

// maxListWidth is the widest list pads method names to.
const maxListWidth = 64

func runDescribe(ctx context.Context, e *env, args []string) int {
	var asJSON bool
	c, cf, pos, code := connect(ctx, e, "describe", "ADDR Service.Method|Service", args, 2, func(fs *flag.FlagSet) {
		fs.BoolVar(&asJSON, "json", false, "print the descriptions as JSON (schemas in full)")
	})
	if c == nil {
		return code
	}
	defer c.Close()
	names := pos[1:]
	if len(names) == 0 || !strings.Contains(names[0], ".") {
		var r introspect.ListReply
		if err := introspectCall(ctx, e, cf, c, introspect.ListMethod, nil, &r); err != nil {
			return callExit(e, cf, err)
		}
		names = methodsOf(r, names)
	}
	var descs []introspect.Description
	for _, name := range names {
		var d introspect.Description
		if err := introspectCall(ctx, e, cf, c, introspect.DescribeMethod, introspect.DescribeArgs{Method: name}, &d); err != nil {
			return callExit(e, cf, err)
		}
		descs = append(descs, d)
	}
	if len(descs) == 0 {
		if len(pos) < 2 {
			e.printf("ferry: the server lists no method")
		} else {
			e.printf("ferry: no service %q", pos[1])
		}
		return exitCodeBase + int(ferry.CodeNotFound)
	}
	if asJSON {
		if len(descs) == 1 {
			return printJSON(e, descs[0])
		}
		return printJSON(e, descs)
	}
	var out strings.Builder
	for _, d := range descs {
		writeDescription(&out, d)
	}
	fmt.Fprint(e.stdout, printable(out.String()))
	return exitOK
}

// methodsOf lists the methods of the named service, or of every service.
func methodsOf(r introspect.ListReply, service []string) []string {
	var out []string
	for _, s := range r.Services {
		if len(service) == 0 || s.Name == service[0] {
			for _, m := range s.Methods {
				out = append(out, m.Name)
			}
		}
	}
	return out
}

func printJSON(e *env, v any) int {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		e.printf("ferry: %v", err)
		return exitFail
	}
	fmt.Fprintf(e.stdout, "%s\n", jsonSafe(b))
	return exitOK
}

// writeDescription prints a method's shapes as Go-like type expressions
// (see typeExpr):
//
//	Arith.Add (unary)
//	  args:  {A: int64, B: int64}
//	         positional params: [A, B]
//	  reply: int64
func writeDescription(w io.Writer, d introspect.Description) {
	fmt.Fprintf(w, "%s (%s)\n", d.Name, kindLabel(d.Kind))
	fmt.Fprintf(w, "  args:  %s\n", typeExpr(d.Args))
	if d.Args != nil && d.Args.Type == "object" && len(d.Args.Order) > 1 {
		fmt.Fprintf(w, "         positional params: [%s]\n", strings.Join(d.Args.Order, ", "))
	}
	fmt.Fprintf(w, "  reply: %s\n", typeExpr(d.Reply))
	names := make([]string, 0, len(d.Defs))
	for n := range d.Defs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  where %s = %s\n", shortName(n), typeExpr(d.Defs[n]))
	}
}

func shortName(def string) string {
	def = strings.TrimPrefix(def, "#/$defs/")
	if i := strings.LastIndexByte(def, '.'); i >= 0 {
		return def[i+1:]
	}
	return def
}

// typeExpr renders a schema as a Go-like type expression: {name: T,
// opt?: T} for structs (opt? when omitempty), []T, [N]T, map[K]T, *T for
// a pointer (nil encodes as null), any for anything.
func typeExpr(s *introspect.Schema) string {
	if s == nil {
		return "(untyped)"
	}
	t := baseExpr(s)
	pointer := s.Ref != "" || s.Type == "object" && s.AdditionalProperties == nil ||
		s.Type != "array" && s.Type != "object" && s.Type != "binary" && s.Type != ""
	if s.Nullable && pointer {
		t = "*" + t
	}
	return t
}

func baseExpr(s *introspect.Schema) string {
	switch {
	case s.Ref != "":
		return shortName(s.Ref)
	case s.Type == "":
		return "any"
	case s.Type == "integer" || s.Type == "number":
		if s.Format != "" {
			return s.Format
		}
	case s.Type == "array" && s.Properties != nil: // an as_array struct
		return "[" + fieldList(s, s.Order, true) + "]"
	case s.Type == "array":
		if s.MinItems != nil && s.MaxItems != nil && *s.MinItems == *s.MaxItems {
			return "[" + strconv.Itoa(*s.MinItems) + "]" + typeExpr(s.Items)
		}
		return "[]" + typeExpr(s.Items)
	case s.Type == "object" && s.AdditionalProperties != nil:
		key := "string"
		if s.PropertyNames != nil {
			key = typeExpr(s.PropertyNames)
		}
		return "map[" + key + "]" + typeExpr(s.AdditionalProperties)
	case s.Type == "object":
		return "{" + fieldList(s, s.Order, false) + "}"
	}
	return s.Type
}

func fieldList(s *introspect.Schema, order []string, positional bool) string {
	req := map[string]bool{}
	for _, r := range s.Required {
		req[r] = true
	}
	parts := make([]string, 0, len(order))
	seen := make(map[string]bool, len(order))
	for _, name := range order {
		// A field is printed once, as a Go struct has it: a name the
		// server listed twice, nested, would double the text per level.
		if seen[name] {
			continue
		}
		seen[name] = true
		opt := ""
		if !positional && !req[name] {
			opt = "?"
		}
		parts = append(parts, name+opt+": "+typeExpr(s.Properties[name]))
	}
	return strings.Join(parts, ", ")
}
