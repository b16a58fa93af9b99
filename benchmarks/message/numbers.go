package message

// Numbers is a record of about Message's encoded size with no strings:
// integers, floats and booleans, a byte blob, two number lists and a
// nested struct. Decoding it allocates only the blob, the lists and the
// record itself, so its figures show what a framework costs per call
// apart from a message's strings. Like Message, its MessagePack keys are
// the field numbers of the matching protobuf message (proto/bench.proto).
type Numbers struct {
	ID        int64     `msgpack:"1"`
	Kind      int32     `msgpack:"2"`
	Active    bool      `msgpack:"3"`
	Verified  bool      `msgpack:"4"`
	Age       int32     `msgpack:"5"`
	Score     int64     `msgpack:"6"`
	Balance   int64     `msgpack:"7"`
	CreatedAt int64     `msgpack:"8"`
	UpdatedAt int64     `msgpack:"9"`
	Tier      int32     `msgpack:"10"`
	Flags     int32     `msgpack:"11"`
	Retries   int32     `msgpack:"12"`
	Priority  int32     `msgpack:"13"`
	Archived  bool      `msgpack:"14"`
	Deleted   bool      `msgpack:"15"`
	Version   int64     `msgpack:"16"`
	Counter   int64     `msgpack:"17"`
	Ratio     float64   `msgpack:"18"`
	Latitude  float64   `msgpack:"19"`
	Longitude float64   `msgpack:"20"`
	Blob      []byte    `msgpack:"21"`
	Samples   []int64   `msgpack:"22"`
	Weights   []float64 `msgpack:"23"`
	Limits    Limits    `msgpack:"24"`
}

// Limits is Numbers' nested struct.
type Limits struct {
	MaxCalls  int32   `msgpack:"1"`
	MaxBytes  int64   `msgpack:"2"`
	Rate      float64 `msgpack:"3"`
	Burst     int32   `msgpack:"4"`
	TimeoutNS int64   `msgpack:"5"`
	Backoff   float64 `msgpack:"6"`
	Enabled   bool    `msgpack:"7"`
	Strict    bool    `msgpack:"8"`
}

// blobSize makes Numbers' MessagePack encoding about as large as
// Message's.
const blobSize = 300

// NewNumbers returns the string-free record, filled the same way every
// time.
func NewNumbers() *Numbers {
	blob := make([]byte, blobSize)
	for i := range blob {
		blob[i] = byte(i*31 + 7)
	}
	return &Numbers{
		ID:        9_007_199_254_740_993,
		Kind:      7,
		Active:    true,
		Verified:  true,
		Age:       36,
		Score:     1_234_567,
		Balance:   98_765_432_100,
		CreatedAt: 1_732_579_200_000_000_000,
		UpdatedAt: 1_764_115_200_123_456_789,
		Tier:      3,
		Flags:     0x5a5a,
		Retries:   2,
		Priority:  5,
		Archived:  false,
		Deleted:   false,
		Version:   42,
		Counter:   314_159_265,
		Ratio:     0.618_033_988_749_895,
		Latitude:  51.507_351,
		Longitude: -0.127_758,
		Blob:      blob,
		Samples:   []int64{17, 4_096, 65_537, 1_000_000_007, -3, 1 << 40, 0, 255},
		Weights:   []float64{0.5, 1.25, -3.75, 1e-9, 6.02214076e23, 2.718281828, 100, -0.001},
		Limits: Limits{
			MaxCalls: 1_000, MaxBytes: 64 << 20, Rate: 250.5, Burst: 32,
			TimeoutNS: 1_500_000_000, Backoff: 1.6, Enabled: true, Strict: false,
		},
	}
}
