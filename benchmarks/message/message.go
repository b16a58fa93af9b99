// Package message defines the records the systems echo. Message has 33
// string, integer, boolean and repeated fields, roughly 580 bytes once
// encoded, the shape of a typical service-to-service request. Array is the
// same record declared msgpack:",as_array", and Numbers a record of
// similar size with no strings at all. Kind names the three for the
// driver and the systems.
package message

import (
	"reflect"

	"github.com/ferryrpc/ferry/codec"
)

// Message is the echoed record. Its MessagePack keys are the field numbers
// of the matching protobuf message (proto/bench.proto), so both encodings
// carry a comparable tag per field and come out at about the same size.
type Message struct {
	ID        int64    `msgpack:"1"`
	Kind      int32    `msgpack:"2"`
	Name      string   `msgpack:"3"`
	Email     string   `msgpack:"4"`
	Address   string   `msgpack:"5"`
	City      string   `msgpack:"6"`
	Country   string   `msgpack:"7"`
	Phone     string   `msgpack:"8"`
	Active    bool     `msgpack:"9"`
	Verified  bool     `msgpack:"10"`
	Age       int32    `msgpack:"11"`
	Score     int64    `msgpack:"12"`
	Balance   int64    `msgpack:"13"`
	CreatedAt int64    `msgpack:"14"`
	UpdatedAt int64    `msgpack:"15"`
	Region    string   `msgpack:"16"`
	Tier      int32    `msgpack:"17"`
	Flags     int32    `msgpack:"18"`
	Notes     string   `msgpack:"19"`
	Locale    string   `msgpack:"20"`
	TimeZone  string   `msgpack:"21"`
	Referrer  string   `msgpack:"22"`
	UserAgent string   `msgpack:"23"`
	Retries   int32    `msgpack:"24"`
	Priority  int32    `msgpack:"25"`
	Archived  bool     `msgpack:"26"`
	Deleted   bool     `msgpack:"27"`
	Version   int64    `msgpack:"28"`
	Counter   int64    `msgpack:"29"`
	Hash      string   `msgpack:"30"`
	SessionID string   `msgpack:"31"`
	Tags      []string `msgpack:"32"`
	Samples   []int64  `msgpack:"33"`
}

// New returns the benchmark record, filled the same way every time.
func New() *Message {
	return &Message{
		ID:        9_007_199_254_740_993,
		Kind:      7,
		Name:      "Ada Lovelace-Byron",
		Email:     "ada.lovelace@analytical-engine.example",
		Address:   "12 St James's Square, Westminster",
		City:      "London",
		Country:   "United Kingdom",
		Phone:     "+44 20 7946 0958",
		Active:    true,
		Verified:  true,
		Age:       36,
		Score:     1_234_567,
		Balance:   98_765_432_100,
		CreatedAt: 1_732_579_200_000_000_000,
		UpdatedAt: 1_764_115_200_123_456_789,
		Region:    "eu-west-2",
		Tier:      3,
		Flags:     0x5a5a,
		Notes:     "Prefers batched replies; retry idempotent calls only.",
		Locale:    "en-GB",
		TimeZone:  "Europe/London",
		Referrer:  "https://docs.example.org/start?ref=mail",
		UserAgent: "ferry-bench/1.0 (linux; amd64) go1.26 loopback-client",
		Retries:   2,
		Priority:  5,
		Archived:  false,
		Deleted:   false,
		Version:   42,
		Counter:   314_159_265,
		Hash:      "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
		SessionID: "5f2b7c1e-8d3a-4b6f-9e0d-2a1c3b4d5e6f",
		Tags:      []string{"beta", "priority", "mobile", "eu"},
		Samples:   []int64{17, 4_096, 65_537, 1_000_000_007},
	}
}

// Equal reports whether m and o hold the same values.
func (m *Message) Equal(o *Message) bool { return reflect.DeepEqual(m, o) }

// Marshal returns the MessagePack encoding of m, as Ferry sends it
// (integers in their smallest form, structs as maps).
func Marshal(m *Message) ([]byte, error) { return codec.Marshal(m) }

// Unmarshal decodes a MessagePack-encoded record.
func Unmarshal(b []byte) (*Message, error) {
	m := new(Message)
	if err := codec.Unmarshal(b, m); err != nil {
		return nil, err
	}
	return m, nil
}
