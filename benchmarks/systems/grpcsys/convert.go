package grpcsys

import (
	"github.com/ferryrpc/ferry/benchmarks/message"
	"github.com/ferryrpc/ferry/benchmarks/proto/benchpb"
)

// toProto copies m into the generated protobuf type.
func toProto(m *message.Message) *benchpb.Message {
	return &benchpb.Message{
		Id: m.ID, Kind: m.Kind, Name: m.Name, Email: m.Email, Address: m.Address,
		City: m.City, Country: m.Country, Phone: m.Phone, Active: m.Active,
		Verified: m.Verified, Age: m.Age, Score: m.Score, Balance: m.Balance,
		CreatedAt: m.CreatedAt, UpdatedAt: m.UpdatedAt, Region: m.Region,
		Tier: m.Tier, Flags: m.Flags, Notes: m.Notes, Locale: m.Locale,
		TimeZone: m.TimeZone, Referrer: m.Referrer, UserAgent: m.UserAgent,
		Retries: m.Retries, Priority: m.Priority, Archived: m.Archived,
		Deleted: m.Deleted, Version: m.Version, Counter: m.Counter, Hash: m.Hash,
		SessionId: m.SessionID, Tags: m.Tags, Samples: m.Samples,
	}
}

// fromProto copies p into a message.Message.
func fromProto(p *benchpb.Message) *message.Message {
	return &message.Message{
		ID: p.Id, Kind: p.Kind, Name: p.Name, Email: p.Email, Address: p.Address,
		City: p.City, Country: p.Country, Phone: p.Phone, Active: p.Active,
		Verified: p.Verified, Age: p.Age, Score: p.Score, Balance: p.Balance,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt, Region: p.Region,
		Tier: p.Tier, Flags: p.Flags, Notes: p.Notes, Locale: p.Locale,
		TimeZone: p.TimeZone, Referrer: p.Referrer, UserAgent: p.UserAgent,
		Retries: p.Retries, Priority: p.Priority, Archived: p.Archived,
		Deleted: p.Deleted, Version: p.Version, Counter: p.Counter, Hash: p.Hash,
		SessionID: p.SessionId, Tags: p.Tags, Samples: p.Samples,
	}
}

// numbersToProto copies n into the generated protobuf type.
func numbersToProto(n *message.Numbers) *benchpb.Numbers {
	l := n.Limits
	return &benchpb.Numbers{
		Id: n.ID, Kind: n.Kind, Active: n.Active, Verified: n.Verified, Age: n.Age,
		Score: n.Score, Balance: n.Balance, CreatedAt: n.CreatedAt, UpdatedAt: n.UpdatedAt,
		Tier: n.Tier, Flags: n.Flags, Retries: n.Retries, Priority: n.Priority,
		Archived: n.Archived, Deleted: n.Deleted, Version: n.Version, Counter: n.Counter,
		Ratio: n.Ratio, Latitude: n.Latitude, Longitude: n.Longitude, Blob: n.Blob,
		Samples: n.Samples, Weights: n.Weights,
		Limits: &benchpb.Limits{
			MaxCalls: l.MaxCalls, MaxBytes: l.MaxBytes, Rate: l.Rate, Burst: l.Burst,
			TimeoutNs: l.TimeoutNS, Backoff: l.Backoff, Enabled: l.Enabled, Strict: l.Strict,
		},
	}
}

// numbersFromProto copies p into a message.Numbers.
func numbersFromProto(p *benchpb.Numbers) *message.Numbers {
	n := &message.Numbers{
		ID: p.Id, Kind: p.Kind, Active: p.Active, Verified: p.Verified, Age: p.Age,
		Score: p.Score, Balance: p.Balance, CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt,
		Tier: p.Tier, Flags: p.Flags, Retries: p.Retries, Priority: p.Priority,
		Archived: p.Archived, Deleted: p.Deleted, Version: p.Version, Counter: p.Counter,
		Ratio: p.Ratio, Latitude: p.Latitude, Longitude: p.Longitude, Blob: p.Blob,
		Samples: p.Samples, Weights: p.Weights,
	}
	if l := p.Limits; l != nil {
		n.Limits = message.Limits{
			MaxCalls: l.MaxCalls, MaxBytes: l.MaxBytes, Rate: l.Rate, Burst: l.Burst,
			TimeoutNS: l.TimeoutNs, Backoff: l.Backoff, Enabled: l.Enabled, Strict: l.Strict,
		}
	}
	return n
}

// ProtoSize returns the protobuf encoding size of k's record: the Message
// for message.Default and message.AsArray, Numbers for message.NoStrings.
func ProtoSize(k message.Kind) int {
	if k == message.NoStrings {
		return protoSize(numbersToProto(message.NewNumbers()))
	}
	return protoSize(toProto(message.New()))
}
