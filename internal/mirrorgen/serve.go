package mirrorgen

import (
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
)

// UpstreamHosts are the hosts the catalog downloads from.
var UpstreamHosts = []string{"download.docker.com", "github.com", "storage.googleapis.com"}

// Serve serves dir over HTTP on a loopback port until stop is called.
// baseURL is "http://127.0.0.1:PORT"; dir/<host>/<path> is at
// baseURL/<host>/<path>. Range requests work (http.FileServer).
func Serve(dir string) (baseURL string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("mirrorgen: serving %s: %w", dir, err)
	}
	srv := &http.Server{Handler: http.FileServer(http.Dir(dir)), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln) // returns ErrServerClosed on stop; failures show as failed requests
	}()
	return "http://" + ln.Addr().String(), func() { srv.Close(); <-done }, nil
}

// MirrorFlags returns the --mirror FROM=TO values that send every upstream
// host to a Serve'd site, e.g. "https://github.com=http://127.0.0.1:P/github.com".
func MirrorFlags(baseURL string) []string {
	base := strings.TrimSuffix(baseURL, "/")
	out := make([]string, 0, len(UpstreamHosts))
	for _, h := range UpstreamHosts {
		out = append(out, "https://"+h+"="+base+"/"+h)
	}
	return out
}

// ServeRegistry starts an in-memory OCI registry (go-containerregistry's) on
// a loopback port until stop is called; host is "127.0.0.1:PORT", for
// PushImage and --registry-mirror. It speaks plain HTTP.
func ServeRegistry() (host string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, fmt.Errorf("mirrorgen: serving a registry: %w", err)
	}
	srv := &http.Server{Handler: registry.New(registry.Logger(log.New(io.Discard, "", 0))), ReadHeaderTimeout: 10 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = srv.Serve(ln)
	}()
	return ln.Addr().String(), func() { srv.Close(); <-done }, nil
}
