package message

// Array is Message declared msgpack:",as_array": the same fields and
// values, encoded as a positional array of the fields in declaration order
// (no keys), the common compact wire form. Protobuf and gob have no such
// form; the systems using them send Message's encoding instead.
type Array struct {
	//lint:ignore U1000 the msgpack library reads the tag
	_msgpack struct{} `msgpack:",as_array"`

	ID        int64
	Kind      int32
	Name      string
	Email     string
	Address   string
	City      string
	Country   string
	Phone     string
	Active    bool
	Verified  bool
	Age       int32
	Score     int64
	Balance   int64
	CreatedAt int64
	UpdatedAt int64
	Region    string
	Tier      int32
	Flags     int32
	Notes     string
	Locale    string
	TimeZone  string
	Referrer  string
	UserAgent string
	Retries   int32
	Priority  int32
	Archived  bool
	Deleted   bool
	Version   int64
	Counter   int64
	Hash      string
	SessionID string
	Tags      []string
	Samples   []int64
}

// NewArray returns New's record as an Array.
func NewArray() *Array { return ToArray(New()) }

// ToArray copies m into an Array.
func ToArray(m *Message) *Array {
	return &Array{
		ID: m.ID, Kind: m.Kind, Name: m.Name, Email: m.Email, Address: m.Address,
		City: m.City, Country: m.Country, Phone: m.Phone, Active: m.Active,
		Verified: m.Verified, Age: m.Age, Score: m.Score, Balance: m.Balance,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Region: m.Region,
		Tier: m.Tier, Flags: m.Flags, Notes: m.Notes, Locale: m.Locale,
		TimeZone: m.TimeZone, Referrer: m.Referrer, UserAgent: m.UserAgent,
		Retries: m.Retries, Priority: m.Priority, Archived: m.Archived,
		Deleted: m.Deleted, Version: m.Version, Counter: m.Counter, Hash: m.Hash,
		SessionID: m.SessionID, Tags: m.Tags, Samples: m.Samples,
	}
}

// FromArray copies a into a Message.
func FromArray(a *Array) *Message {
	return &Message{
		ID: a.ID, Kind: a.Kind, Name: a.Name, Email: a.Email, Address: a.Address,
		City: a.City, Country: a.Country, Phone: a.Phone, Active: a.Active,
		Verified: a.Verified, Age: a.Age, Score: a.Score, Balance: a.Balance,
		CreatedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt, Region: a.Region,
		Tier: a.Tier, Flags: a.Flags, Notes: a.Notes, Locale: a.Locale,
		TimeZone: a.TimeZone, Referrer: a.Referrer, UserAgent: a.UserAgent,
		Retries: a.Retries, Priority: a.Priority, Archived: a.Archived,
		Deleted: a.Deleted, Version: a.Version, Counter: a.Counter, Hash: a.Hash,
		SessionID: a.SessionID, Tags: a.Tags, Samples: a.Samples,
	}
}
