package introspect_test

import (
	"context"
	"fmt"

	"github.com/ferryrpc/ferry/introspect"
	"github.com/ferryrpc/ferry/server"
)

func ExampleList() {
	type Item struct {
		SKU string
		Qty int
	}
	s := server.New()
	_ = server.Handle(s, "Cart.Add", func(ctx context.Context, it *Item) (*int, error) { return &it.Qty, nil })
	_ = server.Handle(s, "Cart.Clear", func(ctx context.Context, _ *struct{}) (*struct{}, error) { return nil, nil })
	// Register serves Introspect.List and Introspect.Describe to clients,
	// such as `ferry list` and `ferry describe`.
	if err := introspect.Register(s); err != nil {
		fmt.Println(err)
		return
	}
	for _, svc := range introspect.List(s).Services {
		for _, m := range svc.Methods {
			fmt.Println(m.Name, m.Kind)
		}
	}
	// Output:
	// Cart.Add unary
	// Cart.Clear unary
	// Introspect.Describe unary
	// Introspect.List unary
}

func ExampleDescribe() {
	type Item struct {
		SKU string
		Qty int `msgpack:"qty"`
	}
	s := server.New()
	_ = server.Handle(s, "Cart.Add", func(ctx context.Context, it *Item) (*int, error) { return &it.Qty, nil })

	d, err := introspect.Describe(s, "Cart.Add")
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(d.Name, d.Kind)
	fmt.Println("args:", d.Args.Type, d.Args.Order)
	fmt.Println("qty:", d.Args.Properties["qty"].Type, d.Args.Properties["qty"].Format)
	fmt.Println("reply:", d.Reply.Type)

	_, err = introspect.Describe(s, "Cart.Nope")
	fmt.Println(err)
	// Output:
	// Cart.Add unary
	// args: object [SKU qty]
	// qty: integer int64
	// reply: integer
	// ferry: not_found: no method "Cart.Nope"
}
