// Package pemfile builds TLS configurations for Ferry servers and clients
// from PEM files, with safe defaults, and reloads the files when they
// change, so that a certificate or a CA bundle is rotated on disk with no
// restart and no dropped connection.
//
//	files, err := pemfile.Load(pemfile.Options{
//		CertFile: "server.crt", KeyFile: "server.key", // this side's certificate
//		CAFile:   "clients-ca.crt",                    // client certificates are then required
//	})
//	cfg, err := files.ServerConfig()
//	s := server.New(server.WithTLS(cfg), server.WithAuth(auth.Certificates()))
//
// The configs never hold the certificates themselves: each handshake
// reads the current snapshot (GetConfigForClient on a server;
// GetClientCertificate and VerifyConnection on a client), and the files
// are checked for a change (size, modification time, inode) at a
// handshake at most once per Options.ReloadInterval. Established
// connections are untouched; new handshakes use the new files. A change
// that does not load (a certificate written before its key, a bundle with
// no certificate, an expired certificate) keeps the last good snapshot,
// is logged, and is retried when the files change again.
//
// Defaults: TLS 1.2 at least, TLS 1.3 whenever the peer offers it, Go's
// default cipher suites and curves. A server with a CAFile requires and
// verifies client certificates (tls.RequireAndVerifyClientCert); a client
// verifies the server's certificate chain and name against CAFile, or the
// system's roots without one.
package pemfile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultReloadInterval is how often, at most, the files are checked for
// a change when Options.ReloadInterval is zero.
const DefaultReloadInterval = 10 * time.Second

// maxPEM bounds the size of one PEM file.
const maxPEM = 1 << 20

// Options name the files and how often they are checked.
type Options struct {
	// CertFile and KeyFile hold this side's certificate chain (leaf
	// first) and its private key. A server needs them; a client sets them
	// for mutual TLS. Each file may be at most 1 MiB, as CAFile: a larger
	// one is refused (by Load, or by a reload, which keeps the files in
	// use).
	CertFile, KeyFile string
	// CAFile holds the CA certificates that verify the peer: on a server,
	// client certificates are then required and verified against them;
	// on a client, the server's chain is verified against them (empty:
	// the system's roots).
	CAFile string
	// ServerName is the name a client verifies in the server's
	// certificate (a DNS name or an IP address). Required for
	// ClientConfig.
	ServerName string
	// ReloadInterval bounds how often the files are checked for a change
	// (at a handshake): a rotated file is in use by the first handshake
	// that starts at least this long after the previous check. Default
	// DefaultReloadInterval; range 10ms to 24h.
	ReloadInterval time.Duration
	// Logger receives a line for every reload and every failed one. Nil:
	// silent.
	Logger *slog.Logger
}

// Files holds the loaded files and hands TLS configs that read them. It
// is safe for concurrent use.
type Files struct {
	o       Options
	snap    atomic.Pointer[snapshot]
	checked atomic.Int64 // unix nanoseconds of the last check
	mu      sync.Mutex   // one load at a time
	stamps  [3]stamp     // of the files at the last load attempt
}

type snapshot struct {
	cert   *tls.Certificate // nil: none
	pool   *x509.CertPool   // nil: none
	server *tls.Config      // what a server handshake uses
}

type stamp struct {
	mod  time.Time
	size int64
	fi   os.FileInfo
}

func (a stamp) same(b stamp) bool {
	if a.fi == nil || b.fi == nil {
		return a.fi == nil && b.fi == nil
	}
	return a.mod.Equal(b.mod) && a.size == b.size && os.SameFile(a.fi, b.fi)
}

// Load reads the files named by o and returns them, or an error naming
// the file that is missing or invalid.
func Load(o Options) (*Files, error) {
	if (o.CertFile == "") != (o.KeyFile == "") {
		return nil, errors.New("ferry: pemfile: CertFile and KeyFile go together")
	}
	if o.CertFile == "" && o.CAFile == "" {
		return nil, errors.New("ferry: pemfile: no file to load (set CertFile and KeyFile, CAFile, or both)")
	}
	if o.ReloadInterval == 0 {
		o.ReloadInterval = DefaultReloadInterval
	}
	if o.ReloadInterval < 10*time.Millisecond || o.ReloadInterval > 24*time.Hour {
		return nil, fmt.Errorf("ferry: pemfile: reload interval %v is outside 10ms..24h", o.ReloadInterval)
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	f := &Files{o: o}
	if err := f.Reload(); err != nil {
		return nil, err
	}
	return f, nil
}

// Reload reads the files now, whether or not they changed. On an error
// the last good snapshot stays in use.
func (f *Files) Reload() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.checked.Store(time.Now().UnixNano())
	return f.load(f.stampAll())
}

// maybeReload reloads the files if the interval has passed since the last
// check and they changed. A handshake that finds another one checking
// goes on with the current snapshot.
func (f *Files) maybeReload() {
	now := time.Now().UnixNano()
	if now-f.checked.Load() < int64(f.o.ReloadInterval) || !f.mu.TryLock() {
		return
	}
	defer f.mu.Unlock()
	if now-f.checked.Load() < int64(f.o.ReloadInterval) {
		return
	}
	f.checked.Store(now)
	if st := f.stampAll(); !sameAll(st, f.stamps) {
		_ = f.load(st)
	}
}

func sameAll(a, b [3]stamp) bool {
	for i := range a {
		if !a[i].same(b[i]) {
			return false
		}
	}
	return true
}

func (f *Files) stampAll() [3]stamp {
	var st [3]stamp
	for i, p := range []string{f.o.CertFile, f.o.KeyFile, f.o.CAFile} {
		if p == "" {
			continue
		}
		if fi, err := os.Stat(p); err == nil {
			st[i] = stamp{mod: fi.ModTime(), size: fi.Size(), fi: fi}
		}
	}
	return st
}

// load reads the files and swaps the snapshot in; st is their stamps
// just before. Under mu.
func (f *Files) load(st [3]stamp) error {
	f.stamps = st
	s, err := f.read()
	if err != nil {
		if f.snap.Load() != nil {
			f.o.Logger.Error("ferry: pemfile: reload failed, keeping the previous certificates", "err", err)
		}
		return err
	}
	if f.snap.Load() != nil {
		f.o.Logger.Info("ferry: pemfile: reloaded", "cert", f.o.CertFile, "ca", f.o.CAFile)
	}
	f.snap.Store(s)
	return nil
}

func (f *Files) read() (*snapshot, error) {
	s := &snapshot{}
	if f.o.CertFile != "" {
		certPEM, err := readPEM(f.o.CertFile)
		if err != nil {
			return nil, err
		}
		keyPEM, err := readPEM(f.o.KeyFile)
		if err != nil {
			return nil, err
		}
		cert, err := tls.X509KeyPair(certPEM, keyPEM)
		if err != nil {
			return nil, fmt.Errorf("ferry: pemfile: %s and %s: %w", f.o.CertFile, f.o.KeyFile, err)
		}
		if now := time.Now(); now.After(cert.Leaf.NotAfter) || now.Before(cert.Leaf.NotBefore) {
			return nil, fmt.Errorf("ferry: pemfile: %s is valid only from %s to %s", f.o.CertFile,
				cert.Leaf.NotBefore.UTC().Format(time.RFC3339), cert.Leaf.NotAfter.UTC().Format(time.RFC3339))
		}
		s.cert = &cert
	}
	if f.o.CAFile != "" {
		caPEM, err := readPEM(f.o.CAFile)
		if err != nil {
			return nil, err
		}
		s.pool = x509.NewCertPool()
		if !s.pool.AppendCertsFromPEM(caPEM) {
			return nil, fmt.Errorf("ferry: pemfile: %s holds no PEM certificate", f.o.CAFile)
		}
	}
	s.server = &tls.Config{MinVersion: tls.VersionTLS12}
	if s.cert != nil {
		s.server.Certificates = []tls.Certificate{*s.cert}
	}
	if s.pool != nil {
		s.server.ClientCAs = s.pool
		s.server.ClientAuth = tls.RequireAndVerifyClientCert
	}
	return s, nil
}

func readPEM(path string) ([]byte, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("ferry: pemfile: %w", err)
	}
	defer fh.Close()
	b, err := io.ReadAll(io.LimitReader(fh, maxPEM+1))
	if err != nil {
		return nil, fmt.Errorf("ferry: pemfile: %s: %w", path, err)
	}
	if len(b) > maxPEM {
		return nil, fmt.Errorf("ferry: pemfile: %s is larger than %d bytes", path, maxPEM)
	}
	return b, nil
}

// Certificate returns the certificate in use now (nil without CertFile).
func (f *Files) Certificate() *tls.Certificate { return f.snap.Load().cert }
