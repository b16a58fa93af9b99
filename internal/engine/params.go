package engine

// Params is a params array sent as it is: the writer encodes each element
// as one positional param instead of wrapping the args value in a
// one-element array. client.Params is this type.
type Params []any
