package pemfile_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	require.NoError(t, os.WriteFile(path+".tmp", b, 0o600))
	require.NoError(t, os.Rename(path+".tmp", path))
}

func writeCert(t *testing.T, dir, name string, c tls.Certificate) (certFile, keyFile string) {
	t.Helper()
	certPEM, keyPEM := testcerts.PEM(c)
	certFile, keyFile = filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	writeFile(t, certFile, certPEM)
	writeFile(t, keyFile, keyPEM)
	return certFile, keyFile
}

var localhost = []net.IP{net.IPv4(127, 0, 0, 1)}

func TestLoadRefusesBadFiles(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	otherCert, _ := writeCert(t, dir, "o", ca.Issue(testcerts.Options{CommonName: "o"}))
	expCert, expKey := writeCert(t, dir, "e", ca.Issue(testcerts.Options{CommonName: "e", Expired: true}))
	junk := filepath.Join(dir, "junk")
	writeFile(t, junk, []byte("not PEM"))
	for name, o := range map[string]pemfile.Options{
		"nothing":          {},
		"cert without key": {CertFile: certFile},
		"mismatched key":   {CertFile: otherCert, KeyFile: keyFile},
		"expired":          {CertFile: expCert, KeyFile: expKey},
		"missing":          {CertFile: certFile + "x", KeyFile: keyFile},
		"junk CA":          {CAFile: junk},
		"tiny interval":    {CertFile: certFile, KeyFile: keyFile, ReloadInterval: time.Millisecond},
	} {
		_, err := pemfile.Load(o)
		assert.Error(t, err, name)
	}
	f, err := pemfile.Load(pemfile.Options{CAFile: filepath.Join(dir, "s.crt")})
	require.NoError(t, err)
	_, err = f.ServerConfig()
	assert.Error(t, err, "a server needs a certificate")
	_, err = f.ClientConfig()
	assert.Error(t, err, "a client needs a server name")
}

func TestSafeDefaults(t *testing.T) {
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.PEM())
	certFile, keyFile := writeCert(t, dir, "s", ca.Issue(testcerts.Options{CommonName: "s", IPs: localhost}))
	f, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: filepath.Join(dir, "ca.crt")})
	require.NoError(t, err)
	scfg, err := f.ServerConfig()
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS12), scfg.MinVersion)
	inner, err := scfg.GetConfigForClient(&tls.ClientHelloInfo{})
	require.NoError(t, err)
	assert.Equal(t, tls.RequireAndVerifyClientCert, inner.ClientAuth, "a CA pool makes client certificates required")
	assert.Equal(t, uint16(tls.VersionTLS12), inner.MinVersion)
	assert.Zero(t, inner.MaxVersion, "TLS 1.3 stays available")

	// A TLS 1.1 client is refused; a default client gets TLS 1.3.
	s := server.New(server.WithTLS(scfg))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	defer s.Close()
	old := &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", MaxVersion: tls.VersionTLS11, MinVersion: tls.VersionTLS10}
	_, err = client.Dial(t.Context(), l.Addr().String(), client.WithTLS(old))
	assert.Error(t, err)
	cc := ca.Issue(testcerts.Options{CommonName: "c", Client: true})
	conn, err := tls.Dial("tcp", l.Addr().String(), &tls.Config{RootCAs: ca.Pool, ServerName: "127.0.0.1", Certificates: []tls.Certificate{cc}})
	require.NoError(t, err)
	assert.Equal(t, uint16(tls.VersionTLS13), conn.ConnectionState().Version)
	conn.Close()
}

// rotation records the server certificate each handshake got.
type rotation struct {
	mu      sync.Mutex
	rotated time.Time // when the new files were in place
	starts  []time.Time
	isNew   []bool
}

// spread returns, relative to the rotation, the start of the latest
// handshake that got the old certificate and of the earliest that got
// the new one, and how many got each.
func (r *rotation) spread() (lastOld, firstNew time.Duration, olds, news int) {
	lastOld, firstNew = -time.Hour, time.Hour
	for i, st := range r.starts {
		d := st.Sub(r.rotated)
		if r.isNew[i] {
			news++
			firstNew = min(firstNew, d)
		} else {
			olds++
			lastOld = max(lastOld, d)
		}
	}
	return lastOld, firstNew, olds, news
}

// TestRotationUnderLoad rotates the server's certificate on disk while
// clients make about 1,000 calls/s over long-lived connections and new
// connections are dialed all along: no call fails, and every
// handshake that starts a reload interval after the new files are in
// place gets the new certificate.
func TestRotationUnderLoad(t *testing.T) {
	if testing.Short() {
		t.Skip("runs for 3 s")
	}
	const interval = 200 * time.Millisecond
	dir := t.TempDir()
	ca := testcerts.NewCA("CA")
	writeFile(t, filepath.Join(dir, "ca.crt"), ca.PEM())
	first := ca.Issue(testcerts.Options{CommonName: "server-1", IPs: localhost})
	second := ca.Issue(testcerts.Options{CommonName: "server-2", IPs: localhost})
	certFile, keyFile := writeCert(t, dir, "server", first)
	var logs bytes.Buffer
	var logMu sync.Mutex
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: filepath.Join(dir, "ca.crt"),
		ReloadInterval: interval, Logger: slog.New(slog.NewTextHandler(lockedWriter{&logMu, &logs}, nil))})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	s := server.New(server.WithTLS(scfg))
	require.NoError(t, server.Handle(s, "Echo.Echo", func(ctx context.Context, in *int) (*int, error) { return in, nil }))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	serveDone := make(chan struct{})
	go func() {
		defer close(serveDone)
		_ = s.Serve(l)
	}()
	defer func() {
		s.Close()
		<-serveDone
	}()
	clientCertFile, clientKeyFile := writeCert(t, dir, "client", ca.Issue(testcerts.Options{CommonName: "client", Client: true}))
	cf, err := pemfile.Load(pemfile.Options{CertFile: clientCertFile, KeyFile: clientKeyFile, CAFile: filepath.Join(dir, "ca.crt"), ServerName: "127.0.0.1"})
	require.NoError(t, err)

	rot := &rotation{}
	// dialTLS returns a client config that records the server certificate
	// each handshake got, against the handshake's start.
	dialTLS := func(start time.Time) *tls.Config {
		cfg, err := cf.ClientConfig()
		require.NoError(t, err)
		verify := cfg.VerifyConnection
		cfg.VerifyConnection = func(cs tls.ConnectionState) error {
			serial := cs.PeerCertificates[0].SerialNumber
			rot.mu.Lock()
			rot.starts = append(rot.starts, start)
			rot.isNew = append(rot.isNew, serial.Cmp(second.Leaf.SerialNumber) == 0)
			rot.mu.Unlock()
			return verify(cs)
		}
		return cfg
	}

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	var calls, failed, dials atomic.Int64
	var wg sync.WaitGroup
	call := func(c *client.Client, i int) {
		var out int
		err := c.Call(t.Context(), "Echo.Echo", i, &out)
		calls.Add(1)
		if err != nil || out != i {
			failed.Add(1)
			t.Errorf("call %d: %v", i, err)
		}
	}
	// 4 long-lived connections, 10 callers each, every caller one call
	// every 40 ms: ~1,000 calls/s.
	for w := range 4 {
		c, err := client.Dial(t.Context(), l.Addr().String(), client.WithTLS(dialTLS(time.Now())))
		require.NoError(t, err)
		var conns sync.WaitGroup
		for k := range 10 {
			conns.Add(1)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conns.Done()
				tick := time.NewTicker(40 * time.Millisecond)
				defer tick.Stop()
				for i := w*10 + k; ; i += 40 {
					select {
					case <-ctx.Done():
						return
					case <-tick.C:
					}
					call(c, i)
				}
			}()
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns.Wait()
			c.Close()
		}()
	}
	// New connections: 2 dialers, each dialing every 10 ms (as fast as handshakes go).
	for range 2 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tick := time.NewTicker(10 * time.Millisecond)
			defer tick.Stop()
			for i := 0; ; i++ {
				select {
				case <-ctx.Done():
					return
				case <-tick.C:
				}
				start := time.Now()
				c, err := client.Dial(t.Context(), l.Addr().String(), client.WithTLS(dialTLS(start)))
				dials.Add(1)
				if err != nil {
					failed.Add(1)
					t.Errorf("dial: %v", err)
					continue
				}
				call(c, i)
				c.Close()
			}
		}()
	}
	// Rotate after 1 s: the key first, then the certificate, so that a
	// check between the two renames sees a mismatched pair.
	select {
	case <-time.After(time.Second):
	case <-ctx.Done():
	}
	certPEM, keyPEM := testcerts.PEM(second)
	writeFile(t, keyFile, keyPEM)
	writeFile(t, certFile, certPEM)
	rot.mu.Lock()
	rot.rotated = time.Now()
	rot.mu.Unlock()
	wg.Wait()

	rot.mu.Lock()
	defer rot.mu.Unlock()
	lastOld, firstNew, olds, news := rot.spread()
	t.Logf("calls=%d failed=%d dials=%d (%.0f calls/s); handshakes: %d got the old certificate, %d the new; relative to the rotation, the last old one started at %v, the first new one at %v (reload interval %v)",
		calls.Load(), failed.Load(), dials.Load(), float64(calls.Load())/3, olds, news, lastOld.Round(time.Millisecond), firstNew.Round(time.Millisecond), interval)
	assert.Zero(t, failed.Load())
	require.NotZero(t, news, "the new certificate was served")
	// A handshake that starts a full interval after the files changed
	// always finds the check due; scheduling delays on a loaded machine
	// get 100 ms more.
	assert.Less(t, lastOld, interval+100*time.Millisecond)
	assert.Equal(t, second.Leaf.SerialNumber, sf.Certificate().Leaf.SerialNumber)
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}

// A CA bundle rotated on disk: a client certificate from a new CA is
// accepted once the bundle holds it, and refused after the CA leaves it,
// without a restart; a reload that fails keeps the last good files.
func TestCARotation(t *testing.T) {
	dir := t.TempDir()
	oldCA, newCA := testcerts.NewCA("old CA"), testcerts.NewCA("new CA")
	caFile := filepath.Join(dir, "ca.crt")
	writeFile(t, caFile, oldCA.PEM())
	certFile, keyFile := writeCert(t, dir, "server", oldCA.Issue(testcerts.Options{CommonName: "server", IPs: localhost}))
	sf, err := pemfile.Load(pemfile.Options{CertFile: certFile, KeyFile: keyFile, CAFile: caFile, ReloadInterval: time.Hour})
	require.NoError(t, err)
	scfg, err := sf.ServerConfig()
	require.NoError(t, err)
	s := server.New(server.WithTLS(scfg))
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	go func() { _ = s.Serve(l) }()
	defer s.Close()
	ccFile, ckFile := writeCert(t, dir, "client", newCA.Issue(testcerts.Options{CommonName: "c", Client: true}))
	trust := filepath.Join(dir, "trust.crt")
	writeFile(t, trust, oldCA.PEM())
	cf, err := pemfile.Load(pemfile.Options{CertFile: ccFile, KeyFile: ckFile, CAFile: trust, ServerName: "127.0.0.1"})
	require.NoError(t, err)
	ccfg, err := cf.ClientConfig()
	require.NoError(t, err)
	dial := func() error {
		c, err := client.Dial(t.Context(), l.Addr().String(), client.WithTLS(ccfg))
		if c != nil {
			c.Close()
		}
		return err
	}
	assert.Error(t, dial(), "the new CA is not trusted yet")
	writeFile(t, caFile, append(oldCA.PEM(), newCA.PEM()...))
	require.NoError(t, sf.Reload())
	require.NoError(t, dial())
	writeFile(t, caFile, []byte("garbage"))
	assert.Error(t, sf.Reload())
	require.NoError(t, dial(), "a failed reload keeps the last good bundle")
	writeFile(t, caFile, oldCA.PEM())
	require.NoError(t, sf.Reload())
	assert.Error(t, dial(), "the new CA was removed")
	// The client's roots rotate too.
	writeFile(t, trust, newCA.PEM())
	writeFile(t, caFile, newCA.PEM())
	require.NoError(t, sf.Reload())
	require.NoError(t, cf.Reload())
	err = dial()
	require.Error(t, err, "the server's certificate is from the old CA, which the client no longer trusts")
	assert.Contains(t, err.Error(), "unknown authority")
}
