package codec_test

import (
	"errors"
	"fmt"

	"github.com/ferryrpc/ferry/codec"
)

func ExampleMarshal() {
	type Point struct {
		X, Y int
		Tag  string `msgpack:"tag,omitempty"`
	}
	b, err := codec.Marshal(Point{X: 1, Y: -2})
	fmt.Printf("% x %v\n", b, err)

	var p Point
	err = codec.Unmarshal(b, &p)
	fmt.Printf("%+v %v\n", p, err)
	// Output:
	// 82 a1 58 01 a1 59 fe <nil>
	// {X:1 Y:-2 Tag:} <nil>
}

// Unmarshal refuses bad input with an error wrapping ErrDecode, and never
// converts a number with loss.
func ExampleUnmarshal() {
	var n int8
	err := codec.Unmarshal([]byte{0xcd, 0x01, 0x00}, &n) // uint16 256
	fmt.Println(errors.Is(err, codec.ErrDecode))

	err = codec.Unmarshal([]byte{0xdd, 0xff, 0xff, 0xff, 0xff}, new([]int)) // an array claiming 4 G elements
	fmt.Println(errors.Is(err, codec.ErrDecode))

	err = codec.Unmarshal([]byte{0x7f}, &n)
	fmt.Println(n, err)
	// Output:
	// true
	// true
	// 127 <nil>
}

// Raw carries an encoded value through without decoding it: a generic
// envelope can defer decoding its body until it knows the type.
func ExampleRaw() {
	type Envelope struct {
		Kind string
		Body codec.Raw
	}
	type Temperature struct{ Celsius float64 }

	body, _ := codec.Marshal(Temperature{Celsius: 21.5})
	b, _ := codec.Marshal(Envelope{Kind: "temperature", Body: body})

	var env Envelope
	if err := codec.Unmarshal(b, &env); err != nil {
		fmt.Println(err)
		return
	}
	var t Temperature
	err := codec.Unmarshal(env.Body, &t)
	fmt.Println(env.Kind, t.Celsius, err)
	// Output: temperature 21.5 <nil>
}

// Validate finds where the first whole value ends, without decoding it.
func ExampleValidate() {
	one, _ := codec.Marshal([]string{"a", "b"})
	two, _ := codec.Marshal(true)
	stream := append(one, two...)

	n, err := codec.Validate(stream)
	fmt.Println(n, len(one), err)

	_, err = codec.Validate(one[:len(one)-1])
	fmt.Println(err != nil)
	// Output:
	// 5 5 <nil>
	// true
}
