package client

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/transport"
	"github.com/stretchr/testify/assert"
)

// A TLS failure is named as such; anything else that ends the session
// before the hello's answer is explained as a refusal by the server. A
// refused certificate is CodeUnauthenticated, the rest CodeUnavailable.
func TestHandshakeErrorClassifiesTLS(t *testing.T) {
	const refused = "the server closed the connection"
	for _, tc := range []struct {
		name  string
		cause error
		tls   bool
		code  ferry.Code
	}{
		{"alert received", &net.OpError{Op: "remote error", Err: errors.New("tls: certificate required")}, true, ferry.CodeUnauthenticated},
		{"alert sent", fmt.Errorf("session: %w", &net.OpError{Op: "local error", Err: errors.New("tls: bad record MAC")}), true, ferry.CodeUnavailable},
		{"quic alert", tls.AlertError(42), true, ferry.CodeUnauthenticated}, // bad certificate
		{"verification", &tls.CertificateVerificationError{Err: errors.New("x509: certificate has expired")}, true, ferry.CodeUnauthenticated},
		{"not TLS", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, true, ferry.CodeUnavailable},
		{"reset", &net.OpError{Op: "read", Err: errors.New("connection reset by peer")}, false, ferry.CodeUnavailable},
		{"eof", io.EOF, false, ferry.CodeUnavailable},
		{"tls-looking text", errors.New("tls: bad certificate, only in the message"), false, ferry.CodeUnavailable},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := handshakeError(errors.New("hello failed"), tc.cause)
			assert.Equal(t, tc.tls, tlsFailure(tc.cause))
			assert.Equal(t, !tc.tls, strings.Contains(err.Error(), refused))
			assert.ErrorIs(t, err, tc.cause)
			assert.True(t, ferry.NotExecuted(err))
			assert.Equal(t, tc.code, ferry.CodeOf(err))
		})
	}
}

// A session this side ended (the server never acknowledged the call
// stream, never answered a ping, or stopped reading) is not explained as
// a refusal by the server: the message names the cause.
func TestHandshakeErrorNamesLocalEnds(t *testing.T) {
	for _, cause := range []error{
		transport.ErrOpenTimeout,
		transport.ErrPingTimeout,
		fmt.Errorf("%w: %v", transport.ErrWriteTimeout, os.ErrDeadlineExceeded),
	} {
		err := handshakeError(errors.New("hello failed"), cause)
		assert.NotContains(t, err.Error(), "the server closed the connection")
		assert.Contains(t, err.Error(), strings.TrimPrefix(cause.Error(), "ferry: "))
		assert.Equal(t, 1, strings.Count(err.Error(), "ferry:"), "%v", err)
		assert.ErrorIs(t, err, cause)
		assert.True(t, ferry.NotExecuted(err))
		assert.Equal(t, ferry.CodeUnavailable, ferry.CodeOf(err))
	}
}
