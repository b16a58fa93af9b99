package pemfile_test

import (
	"log"
	"time"

	"github.com/ferryrpc/ferry/auth"
	"github.com/ferryrpc/ferry/auth/pemfile"
	"github.com/ferryrpc/ferry/client"
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
