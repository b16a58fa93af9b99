package e2e_test

import (
	"crypto/tls"
	"net"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// A server's TLS config fails closed: old protocol versions and
// InsecureSkipVerify are errors, also from GetConfigForClient.
func TestWithTLSRefusesUnsafeConfigs(t *testing.T) {
	ca := testcerts.NewCA("CA")
	cert := ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	for name, cfg := range map[string]*tls.Config{
		"TLS 1.0 minimum":    {Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10},
		"TLS 1.1 minimum":    {Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS11},
		"TLS 1.1 maximum":    {Certificates: []tls.Certificate{cert}, MaxVersion: tls.VersionTLS11},
		"InsecureSkipVerify": {Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true},
		"SSL 3.0 minimum":    {Certificates: []tls.Certificate{cert}, MinVersion: 0x0300}, // SSL 3.0
		"no certificate":     {},
		"verifies clients against the system's roots":       {Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequireAndVerifyClientCert},
		"verifies given clients against the system's roots": {Certificates: []tls.Certificate{cert}, ClientAuth: tls.VerifyClientCertIfGiven},
		"insecure and old": {Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS10},
	} {
		s := server.New(server.WithTLS(cfg))
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		err = s.Serve(l) // returns the option's error at once
		assert.Error(t, err, name)
		assert.Regexp(t, `^ferry: `, err.Error())
		l.Close()
	}
	for _, v := range []uint16{0, tls.VersionTLS12, tls.VersionTLS13} {
		s := server.New(server.WithTLS(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: v}))
		require.NoError(t, s.Close())
	}

	// A GetConfigForClient that hands back an unsafe config fails the
	// handshake; the client is told the connection failed, not executed.
	bad := &tls.Config{GetConfigForClient: func(*tls.ClientHelloInfo) (*tls.Config, error) {
		return &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS10}, nil
	}}
	s := server.New(server.WithTLS(bad))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan error, 1)
	go func() { done <- s.Serve(l) }()
	defer func() { s.Close(); <-done }()
	_, err = client.Dial(t.Context(), l.Addr().String(), client.WithTLS(clientTLS(ca, nil, "127.0.0.1")))
	require.Error(t, err)
	assert.True(t, ferry.NotExecuted(err))
}
