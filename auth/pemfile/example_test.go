package pemfile_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"github.com/ferryrpc/ferry"
	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
	"github.com/ferryrpc/ferry/internal/testcerts"
	"github.com/ferryrpc/ferry/server"
)

// A server with mutual TLS whose certificate and CA bundle are rotated on
// disk, and a client of it.
func ExampleLoad() {
	files, err := pemfile.Load(pemfile.Options{
		CertFile:       "/etc/ferry/server.crt",
		KeyFile:        "/etc/ferry/server.key",
		CAFile:         "/etc/ferry/clients-ca.crt", // client certificates required
		ReloadInterval: time.Minute,
	})
	if err != nil {
		log.Fatal(err)
	}
	cfg, err := files.ServerConfig()
	if err != nil {
		log.Fatal(err)
	}
	_ = server.New(server.WithTLS(cfg), server.WithAuth(auth.Certificates("spiffe://example.org/*")))

	mine, err := pemfile.Load(pemfile.Options{
		CertFile:   "/etc/ferry/client.crt",
		KeyFile:    "/etc/ferry/client.key",
		CAFile:     "/etc/ferry/servers-ca.crt",
		ServerName: "rpc.example.org",
	})
	if err != nil {
		log.Fatal(err)
	}
	ccfg, err := mine.ClientConfig()
	if err != nil {
		log.Fatal(err)
	}
	_ = client.WithTLS(ccfg) // client.Dial(ctx, "rpc.example.org:7443", client.WithTLS(ccfg))
}

// The same, run: certificates written to a directory, a server with
// mutual TLS over loopback that sees the client's SPIFFE ID, and a call.
func ExampleLoad_mutualTLS() {
	dir, err := os.MkdirTemp("", "ferry-pemfile-example")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	writeExamplePKI(dir) // server.crt/key, client.crt/key and ca.crt

	files, err := pemfile.Load(pemfile.Options{
		CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		CAFile: filepath.Join(dir, "ca.crt"),
	})
	if err != nil {
		log.Fatal(err)
	}
	scfg, err := files.ServerConfig()
	if err != nil {
		log.Fatal(err)
	}
	srv := server.New(server.WithTLS(scfg), server.WithAuth(auth.Certificates("spiffe://example.org/*")))
	if err := server.Handle(srv, "Who.Am", func(ctx context.Context, _ *struct{}) (*string, error) {
		id := fmt.Sprint(ferry.IdentityFromContext(ctx))
		return &id, nil
	}); err != nil {
		log.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		log.Fatal(err)
	}
	go func() { _ = srv.Serve(l) }()
	defer srv.Close()

	mine, err := pemfile.Load(pemfile.Options{
		CertFile: filepath.Join(dir, "client.crt"), KeyFile: filepath.Join(dir, "client.key"),
		CAFile: filepath.Join(dir, "ca.crt"), ServerName: "127.0.0.1",
	})
	if err != nil {
		log.Fatal(err)
	}
	ccfg, err := mine.ClientConfig()
	if err != nil {
		log.Fatal(err)
	}
	c, err := client.Dial(context.Background(), l.Addr().String(), client.WithTLS(ccfg))
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	var who string
	if err := c.Call(context.Background(), "Who.Am", struct{}{}, &who); err != nil {
		log.Fatal(err)
	}
	fmt.Println(who)
	// Output: spiffe://example.org/billing
}

// writeExamplePKI writes a CA, a server certificate for 127.0.0.1 and a
// client certificate with a SPIFFE ID into dir, in PEM.
func writeExamplePKI(dir string) {
	ca := testcerts.NewCA("example CA")
	srvCert, srvKey := testcerts.PEM(ca.Issue(testcerts.Options{CommonName: "server", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}}))
	spiffe, _ := url.Parse("spiffe://example.org/billing")
	cliCert, cliKey := testcerts.PEM(ca.Issue(testcerts.Options{CommonName: "billing", URIs: []*url.URL{spiffe}, Client: true}))
	for name, b := range map[string][]byte{
		"ca.crt": ca.PEM(), "server.crt": srvCert, "server.key": srvKey, "client.crt": cliCert, "client.key": cliKey,
	} {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			log.Fatal(err)
		}
	}
}
