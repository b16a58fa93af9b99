package resolver_test

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry/resolver"
)

// A Watcher returns the whole endpoint set, sorted, each time it changes.
func ExampleStatic() {
	r := resolver.Static("10.0.0.2:7000", "10.0.0.1:7000", "10.0.0.2:7000")
	w, err := r.Watch(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	eps, err := w.Next(context.Background())
	fmt.Println(eps, err)
	// Output: [{10.0.0.1:7000 map[]} {10.0.0.2:7000 map[]}] <nil>
}

// Manual is pushed its sets by code: a registry that is not built in, or a
// test. Attrs that change for the same address mark a restart.
func ExampleManual() {
	m := resolver.NewManual(resolver.Endpoint{Addr: "10.0.0.1:7000"})
	w, err := m.Watch(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	defer w.Close()
	ctx := context.Background()

	eps, _ := w.Next(ctx)
	fmt.Println(eps)

	m.Update(
		resolver.Endpoint{Addr: "10.0.0.3:7000", Attrs: map[string]string{"instance": "b"}},
		resolver.Endpoint{Addr: "10.0.0.1:7000", Attrs: map[string]string{"instance": "a"}},
	)
	eps, _ = w.Next(ctx)
	fmt.Println(eps)

	m.Fail(fmt.Errorf("registry unreachable"))
	_, err = w.Next(ctx)
	fmt.Println(err)
	// Output:
	// [{10.0.0.1:7000 map[]}]
	// [{10.0.0.1:7000 map[instance:a]} {10.0.0.3:7000 map[instance:b]}]
	// registry unreachable
}

func ExampleEqual() {
	a := []resolver.Endpoint{{Addr: "b:1"}, {Addr: "a:1"}}
	b := resolver.Sort([]resolver.Endpoint{{Addr: "a:1"}, {Addr: "b:1"}, {Addr: "a:1"}})
	fmt.Println(b, resolver.Equal(resolver.Sort(a), b))
	// Output: [{a:1 map[]} {b:1 map[]}] true
}
