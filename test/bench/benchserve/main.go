// Command benchserve is the benchmark's loopback mirror (test/bench/bench.sh): it
// serves a directory like internal/mirrorgen.Serve, optionally holding every
// request for a fixed delay before answering (a distant mirror's latency), and counts
// the requests and bytes it served, so that the benchmark can show what a build
// downloaded. A test tool, not part of satchel.
//
//	benchserve -dir DIR -addr-file F [-delay 100ms]
//
// It writes its base URL (http://127.0.0.1:PORT) to F once listening and serves until
// SIGTERM/SIGINT. GET /-/stats answers "requests N bytes M" (the counts since the last
// GET /-/stats?reset=1; that request itself is not counted).
package main

import (
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	dir := flag.String("dir", "", "directory to serve")
	addrFile := flag.String("addr-file", "", "write the base URL here once listening")
	delay := flag.Duration("delay", 0, "hold every request this long before answering")
	flag.Parse()
	if err := run(*dir, *addrFile, *delay); err != nil {
		fmt.Fprintln(os.Stderr, "benchserve:", err)
		os.Exit(1)
	}
}

// counter counts what the file server writes.
type counter struct {
	http.ResponseWriter
	n *atomic.Int64
}

func (c counter) Write(p []byte) (int, error) {
	n, err := c.ResponseWriter.Write(p)
	c.n.Add(int64(n))
	return n, err
}

func run(dir, addrFile string, delay time.Duration) error {
	if dir == "" || addrFile == "" {
		return errors.New("-dir and -addr-file are required")
	}
	var requests, bytes atomic.Int64
	files := http.FileServer(http.Dir(dir))
	mux := http.NewServeMux()
	mux.HandleFunc("/-/stats", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "requests %d bytes %d\n", requests.Load(), bytes.Load())
		if r.URL.Query().Get("reset") == "1" {
			requests.Store(0)
			bytes.Store(0)
		}
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		if delay > 0 {
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		files.ServeHTTP(counter{w, &bytes}, r)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go srv.Serve(ln) //nolint:errcheck // returns ErrServerClosed at exit
	if err := os.WriteFile(addrFile+".tmp", []byte("http://"+ln.Addr().String()+"\n"), 0o644); err != nil {
		return err
	}
	if err := os.Rename(addrFile+".tmp", addrFile); err != nil {
		return err
	}
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return srv.Close()
}
