package fetch

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// fault is what the test server does to one request instead of serving it
// well. Faults queue per path and are used up in order.
type fault struct {
	status      int           // answer with this status
	retryAfter  string        // Retry-After header with status
	cutAfter    int           // send this many body bytes, then abort the connection
	reset       bool          // with cutAfter: TCP RST instead of a clean close
	stallAfter  int           // send this many body bytes, then send nothing more
	ignoreRange bool          // answer 200 with the whole file to a Range request
	badRange    bool          // answer a Range request with bytes from 0
	body        []byte        // serve these bytes instead
	delay       time.Duration // wait before answering
	slow        time.Duration // send the body in 16 KiB chunks, this far apart
	encoding    string        // Content-Encoding header, as object stores send for .tar.gz files
}

type request struct {
	path, rng, ifRange string
	sent               int64 // body bytes written to the connection
}

// artifactServer serves files like a release download site, with faults
// injected on demand, and counts what it sent.
type artifactServer struct {
	*httptest.Server
	mu       sync.Mutex
	files    map[string][]byte
	etags    bool
	faults   map[string][]fault
	requests []request
	sent     atomic.Int64 // body bytes written
	inflight atomic.Int32
	peak     atomic.Int32
	release  chan struct{} // closed at cleanup: ends stalls
}

func newArtifactServer(t *testing.T) *artifactServer {
	s := &artifactServer{files: map[string][]byte{}, faults: map[string][]fault{}, release: make(chan struct{})}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(func() {
		close(s.release)
		s.Close()
	})
	return s
}

func (s *artifactServer) add(path string, content []byte) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[path] = content
	return s.URL + path
}

func (s *artifactServer) inject(path string, fs ...fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults[path] = append(s.faults[path], fs...)
}

func (s *artifactServer) log() []request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]request(nil), s.requests...)
}

func (s *artifactServer) serve(w http.ResponseWriter, r *http.Request) {
	n := s.inflight.Add(1)
	defer s.inflight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	s.mu.Lock()
	s.requests = append(s.requests, request{path: r.URL.Path, rng: r.Header.Get("Range"), ifRange: r.Header.Get("If-Range")})
	idx := len(s.requests) - 1
	content, ok := s.files[r.URL.Path]
	var f fault
	if q := s.faults[r.URL.Path]; len(q) > 0 {
		f, s.faults[r.URL.Path] = q[0], q[1:]
	}
	s.mu.Unlock()
	f.cutAfter, f.stallAfter = orNone(f.cutAfter), orNone(f.stallAfter)

	if f.delay > 0 {
		time.Sleep(f.delay)
	}
	if f.status != 0 {
		if f.retryAfter != "" {
			w.Header().Set("Retry-After", f.retryAfter)
		}
		http.Error(w, http.StatusText(f.status), f.status)
		return
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	if f.body != nil {
		content = f.body
	}
	if s.etags {
		w.Header().Set("ETag", `"`+hex.EncodeToString(sha256Sum(content)[:8])+`"`)
	}
	if f.encoding != "" {
		w.Header().Set("Content-Encoding", f.encoding)
	}
	status, body := http.StatusOK, content
	if rng := r.Header.Get("Range"); rng != "" && !f.ignoreRange {
		start, err := strconv.Atoi(strings.TrimSuffix(strings.TrimPrefix(rng, "bytes="), "-"))
		if err != nil {
			http.Error(w, "bad range", http.StatusBadRequest)
			return
		}
		if start >= len(content) {
			w.Header().Set("Content-Range", fmt.Sprintf("bytes */%d", len(content)))
			w.WriteHeader(http.StatusRequestedRangeNotSatisfiable)
			return
		}
		if f.badRange {
			start = 0
		}
		status, body = http.StatusPartialContent, content[start:]
		w.Header().Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, len(content)-1, len(content)))
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	write := func(b []byte) {
		n, _ := w.Write(b)
		s.sent.Add(int64(n))
		s.mu.Lock()
		s.requests[idx].sent += int64(n)
		s.mu.Unlock()
		w.(http.Flusher).Flush()
	}
	switch {
	case f.cutAfter >= 0:
		write(body[:min(f.cutAfter, len(body))])
		if f.reset {
			conn, _, err := w.(http.Hijacker).Hijack()
			if err == nil {
				conn.(*net.TCPConn).SetLinger(0)
				conn.Close()
			}
			return
		}
		panic(http.ErrAbortHandler)
	case f.stallAfter >= 0:
		write(body[:min(f.stallAfter, len(body))])
		select {
		case <-r.Context().Done():
		case <-s.release:
		}
		return
	case f.slow > 0:
		for len(body) > 0 {
			k := min(16<<10, len(body))
			write(body[:k])
			body = body[k:]
			time.Sleep(f.slow)
		}
		return
	}
	write(body)
}

// orNone maps the zero value of a byte-count field to "not set" (-1); a
// test that means zero bytes writes noneYet.
func orNone(n int) int {
	switch n {
	case 0:
		return -1
	case noneYet:
		return 0
	}
	return n
}

const noneYet = -2

func sha256Sum(b []byte) []byte { h := sha256.Sum256(b); return h[:] }

func digestOf(b []byte) manifest.Digest {
	return manifest.Digest("sha256:" + hex.EncodeToString(sha256Sum(b)))
}

func digest512Of(b []byte) manifest.Digest {
	h := sha512.Sum512(b)
	return manifest.Digest("sha512:" + hex.EncodeToString(h[:]))
}

func randomBytes(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed^0x5a5a))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// newTestFetcher has a private cache, short backoff and a short idle timeout.
func newTestFetcher(t *testing.T, opts ...Option) *Fetcher {
	t.Helper()
	f, err := New(append([]Option{WithCacheDir(t.TempDir()), WithTimeout(2 * time.Second)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	f.backoff, f.maxBackoff = time.Millisecond, 10*time.Millisecond
	return f
}
