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

// ProtoSize returns the protobuf encoding size of message.New().
func ProtoSize() int { return protoSize(toProto(message.New())) }
