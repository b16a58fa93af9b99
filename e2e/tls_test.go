package e2e_test

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/internal/testsvc"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmihailenco/msgpack/v5"
)

// tlsServer serves Arith over mutual TLS and counts handler runs; the auth
// hook turns the client certificate's common name into the identity.
func tlsServer(t *testing.T, ca *testcerts.CA, requireClientCert bool) (string, *atomic.Int64) {
	t.Helper()
	cfg := &tls.Config{
		Certificates: []tls.Certificate{ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})},
		ClientCAs:    ca.Pool,
		MinVersion:   tls.VersionTLS12,
	}
	if requireClientCert {
		cfg.ClientAuth = tls.RequireAndVerifyClientCert
	}
	var runs atomic.Int64
	s := server.New(server.WithTLS(cfg), server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		if info.TLS == nil || len(info.TLS.PeerCertificates) == 0 {
			if requireClientCert {
				return nil, errors.New("no client certificate")
			}
			return "anonymous", nil
		}
		return info.TLS.PeerCertificates[0].Subject.CommonName, nil
	}))
	require.NoError(t, server.Handle(s, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
		runs.Add(1)
		id, _ := ferry.IdentityFromContext(ctx).(string)
		return &id, nil
	}))
	require.NoError(t, s.Register(testsvc.Arith{}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	t.Cleanup(func() { s.Close(); <-done })
	return l.Addr().String(), &runs
}

func clientTLS(ca *testcerts.CA, cert *tls.Certificate, name string) *tls.Config {
	cfg := &tls.Config{RootCAs: ca.Pool, ServerName: name, MinVersion: tls.VersionTLS12}
	if cert != nil {
		cfg.Certificates = []tls.Certificate{*cert}
	}
	return cfg
}

func TestMutualTLS(t *testing.T) {
	ca := testcerts.NewCA("ferry test CA")
	addr, runs := tlsServer(t, ca, true)
	cert := ca.Issue(testcerts.Options{CommonName: "alice", Client: true})
	c, err := client.Dial(t.Context(), addr, client.WithTLS(clientTLS(ca, &cert, "127.0.0.1")))
	require.NoError(t, err)
	defer c.Close()
	var who string
	require.NoError(t, c.Call(t.Context(), "Who.Am", struct{}{}, &who))
	assert.Equal(t, "alice", who)
	assert.Equal(t, int64(1), runs.Load())
	// Plain MessagePack-RPC inside TLS on the same port.
	pc, err := client.Dial(t.Context(), addr, client.WithTLS(clientTLS(ca, &cert, "127.0.0.1")), client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	defer pc.Close()
	var sum int64
	require.NoError(t, pc.Call(t.Context(), "Arith.Add", testsvc.Args{A: 2, B: 3}, &sum))
	assert.Equal(t, int64(5), sum)
}

func TestTLSRejections(t *testing.T) {
	ca := testcerts.NewCA("ferry test CA")
	other := testcerts.NewCA("another CA")
	addr, runs := tlsServer(t, ca, true)
	good := ca.Issue(testcerts.Options{CommonName: "alice", Client: true})
	expired := ca.Issue(testcerts.Options{CommonName: "old", Client: true, Expired: true})
	cases := []struct {
		name string
		opts []client.Option
		want string // in the error
	}{
		{"plaintext client", nil, "session handshake"},
		{"wrong CA", []client.Option{client.WithTLS(clientTLS(other, &good, "127.0.0.1"))}, "unknown authority"},
		{"wrong name", []client.Option{client.WithTLS(clientTLS(ca, &good, "db.internal"))}, "db.internal"},
		{"missing client certificate", []client.Option{client.WithTLS(clientTLS(ca, nil, "127.0.0.1"))}, "certificate required"},
		{"expired client certificate", []client.Option{client.WithTLS(clientTLS(ca, &expired, "127.0.0.1"))}, "expired"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := client.Dial(t.Context(), addr, tc.opts...)
			if c != nil {
				c.Close()
			}
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.True(t, ferry.NotExecuted(err))
		})
	}
	assert.Equal(t, int64(0), runs.Load(), "no handler ran")
}

func TestExpiredServerCertificate(t *testing.T) {
	ca := testcerts.NewCA("ferry test CA")
	cfg := &tls.Config{Certificates: []tls.Certificate{ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}, Expired: true})}}
	s := server.New(server.WithTLS(cfg))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	defer s.Close()
	_, err = client.Dial(t.Context(), l.Addr().String(), client.WithTLS(clientTLS(ca, nil, "127.0.0.1")))
	require.Error(t, err)
	assert.Contains(t, err.Error(), "expired")
}

func TestTokenAuthentication(t *testing.T) {
	var runs atomic.Int64
	s := server.New(server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		if info.Token != "s3cret-token" {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "invalid token")
		}
		return "service-a", nil
	}))
	require.NoError(t, server.Handle(s, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
		runs.Add(1)
		id, _ := ferry.IdentityFromContext(ctx).(string)
		return &id, nil
	}))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	defer s.Close()
	addr := l.Addr().String()

	c, err := client.Dial(t.Context(), addr, client.WithToken("s3cret-token"))
	require.NoError(t, err)
	var who string
	require.NoError(t, c.Call(t.Context(), "Who.Am", struct{}{}, &who))
	assert.Equal(t, "service-a", who)
	c.Close()

	_, err = client.Dial(t.Context(), addr, client.WithToken("wrong"))
	assert.Equal(t, ferry.CodeUnauthenticated, ferry.CodeOf(err), "%v", err)
	assert.NotContains(t, err.Error(), "wrong")

	// A bare client gets CodeUnauthenticated for every call, and a big
	// message is refused after a few KiB.
	pc, err := client.Dial(t.Context(), addr, client.WithPlainMsgpackRPC())
	require.NoError(t, err)
	err = pc.Call(t.Context(), "Who.Am", struct{}{}, &who)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "not authenticated")
	err = pc.Call(t.Context(), "Who.Am", make([]byte, 64<<10), &who)
	require.Error(t, err)
	assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err), "the connection is closed: %v", err)
	pc.Close()
	assert.Equal(t, int64(1), runs.Load(), "only the authenticated call ran")
}

func TestSecretsStayOutOfStrings(t *testing.T) {
	ctx := ferry.WithOutgoingMetadata(context.Background(), ferry.Metadata{"authorization": "Bearer s3cret", "x-api-key": "k3y", "tenant": "acme"})
	for _, s := range []string{
		ferry.OutgoingMetadata(ctx).String(),
		fmtV(ctx),
		fmtV(ferry.OutgoingMetadata(ctx)),
		ferry.AuthInfo{Token: "s3cret"}.String(),
	} {
		assert.NotContains(t, s, "s3cret")
		assert.NotContains(t, s, "k3y")
	}
	assert.Contains(t, ferry.OutgoingMetadata(ctx).String(), "tenant=acme")
}

func TestMethodVariantsNeverPassADenyRule(t *testing.T) {
	var ran atomic.Int64
	deny := func(ctx context.Context, info *ferry.CallInfo, args any, next ferry.Handler) (any, error) {
		if info.Method == "Admin.Delete" {
			return nil, ferry.NewError(ferry.CodePermissionDenied, "denied")
		}
		return next(ctx, args)
	}
	s := newServer(t, server.WithInterceptors(deny))
	require.NoError(t, server.Handle(s, "Admin.Delete", func(ctx context.Context, _ *struct{}) (*bool, error) {
		ran.Add(1)
		return nil, nil
	}))
	for _, tr := range conduits {
		c := tr.dial(t, s)
		for _, m := range []string{"Admin.Delete", "admin.delete", "ADMIN.DELETE", "Admin.Delete\x00", "Admin.Delete ", " Admin.Delete",
			"Admin/Delete", "Admin..Delete", "Admin.Delete.", "", "Admin.\u0044elete\u200b", "Admin\x00.Delete"} {
			err := c.Call(t.Context(), m, struct{}{}, nil)
			require.Error(t, err, "%q", m)
			assert.Contains(t, []ferry.Code{ferry.CodePermissionDenied, ferry.CodeUnimplemented, ferry.CodeUnknown}, ferry.CodeOf(err), "%q: %v", m, err)
		}
	}
	assert.Equal(t, int64(0), ran.Load())
}

// TestAuthAttemptsBounded: one connection cannot try token after token.
// A bare MessagePack-RPC client is judged once on connecting (no token)
// and may send hellos; the AuthFunc runs at most 3 times on the
// connection, and later hellos, even with the right token, are refused
// without running it. A new connection starts afresh.
func TestAuthAttemptsBounded(t *testing.T) {
	var runs atomic.Int64
	s := server.New(server.WithAuth(func(ctx context.Context, info ferry.AuthInfo) (any, error) {
		runs.Add(1)
		if info.Token != "s3cret-token" {
			return nil, ferry.NewError(ferry.CodeUnauthenticated, "invalid token")
		}
		return "service-a", nil
	}))
	defer s.Close()
	addr := listen(t, s)
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetDeadline(time.Now().Add(10*time.Second)))
	dec := msgpack.NewDecoder(conn)
	hello := func(id int, token string) any {
		_, err := conn.Write(mustMarshal([]any{0, id, "$ferry.hello", []any{map[string]string{"token": token}}}))
		require.NoError(t, err)
		var resp []any
		require.NoError(t, dec.Decode(&resp))
		require.Len(t, resp, 4)
		assert.EqualValues(t, id, resp[1])
		return resp[2]
	}
	for i := range 6 {
		assert.NotNil(t, hello(i, fmt.Sprintf("guess-%d", i)), "guess %d refused", i)
	}
	assert.Contains(t, fmt.Sprint(hello(6, "s3cret-token")), "too many failed authentication attempts")
	assert.Equal(t, int64(3), runs.Load(), "the connect-time check and two hellos")

	c, err := client.Dial(t.Context(), addr, client.WithToken("s3cret-token"))
	require.NoError(t, err, "a new connection authenticates")
	c.Close()
}
