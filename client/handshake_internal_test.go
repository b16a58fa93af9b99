package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/stretchr/testify/assert"
)

// A TLS failure is named as such; anything else that ends the session
// before the hello's answer is explained as a refusal by the server.
func TestHandshakeErrorClassifiesTLS(t *testing.T) {
	const refused = "the server closed the connection"
	for _, tc := range []struct {
		name  string
		cause error
		tls   bool
	}{
		{"alert received", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, true},
		{"alert sent", fmt.Errorf("session: %w", &net.OpError{Op: "local error", Err: errors.New("tls: bad record MAC")}), true},
		{"quic alert", tls.AlertError(42), true},
		{"verification", &tls.CertificateVerificationError{Err: errors.New("x509: certificate has expired")}, true},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, false},
		{"eof", io.EOF, false},
		{"tls-looking text", errors.New("tls: only in the message"), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshakeError(errors.New("hello failed"), tc.cause)
			assert.Equal(t, tc.tls, tlsFailure(tc.cause))
			assert.Equal(t, !tc.tls, strings.Contains(err.Error(), refused))
			assert.ErrorIs(t, err, tc.cause)
			assert.True(t, ferry.NotExecuted(err))
			assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
		})
	}
}
