// Package faultserver wraps an http.Handler (a file server, or
// go-containerregistry's registry) and makes chosen requests fail the way
// real servers and hostile mirrors do: endless bodies, trickles, stalls,
// resets mid-body, error statuses, wrong bytes, lying Content-Lengths,
// redirect loops and slow headers. Tests of the builder's downloads use it.
package faultserver

import (
	"bufio"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Kind is one way of answering badly.
type Kind int

// Faults. The "real" answer is what the wrapped handler would send.
const (
	// Status answers Code (with Retry-After when set) and a short text.
	Status Kind = iota + 1
	// Endless sends the real body, then pseudo-random bytes until the
	// client goes away, without a Content-Length.
	Endless
	// EndlessAnnounced is Endless with a Content-Length of N bytes, which
	// the server then overruns (a raw connection).
	EndlessAnnounced
	// Trickle sends the real headers, then the body one byte per Interval.
	Trickle
	// Stall sends the real headers and N body bytes, then nothing.
	Stall
	// Reset sends the real headers and N body bytes, then a TCP reset.
	Reset
	// WrongBytes sends the real headers and a body of the same length with
	// one byte changed.
	WrongBytes
	// WrongLength announces Content-Length real+Delta (Delta may be
	// negative), sends the real body and closes (a raw connection).
	WrongLength
	// RedirectLoop answers 302 to the same URL.
	RedirectLoop
	// SlowHeaders waits Interval before answering as the real handler does.
	SlowHeaders
	// Slow sends the real headers, then the body N bytes per Interval: a
	// slow but steady server.
	Slow
)

var kindNames = map[Kind]string{
	Status: "status", Endless: "endless", EndlessAnnounced: "endless-announced", Trickle: "trickle",
	Stall: "stall", Reset: "reset", WrongBytes: "wrong-bytes", WrongLength: "wrong-length",
	RedirectLoop: "redirect-loop", SlowHeaders: "slow-headers", Slow: "slow",
}

func (k Kind) String() string {
	if s, ok := kindNames[k]; ok {
		return s
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Fault is one bad answer.
type Fault struct {
	Kind       Kind
	Code       int           // Status
	RetryAfter string        // Status: Retry-After header
	N          int64         // Stall, Reset: body bytes sent first; EndlessAnnounced: the Content-Length; Slow: bytes per Interval
	Interval   time.Duration // Trickle, SlowHeaders, Slow
	Delta      int64         // WrongLength
}

// Injector is an http.Handler that applies queued faults to matching
// requests and passes everything else to the wrapped handler.
type Injector struct {
	next    http.Handler
	release chan struct{}
	closed  sync.Once

	mu    sync.Mutex
	rules []*rule

	sent atomic.Int64 // body bytes written by faulty answers
	hits atomic.Int64 // requests that got a fault
}

type rule struct {
	match  func(*http.Request) bool
	queue  []Fault
	always bool
}

// New wraps next.
func New(next http.Handler) *Injector {
	return &Injector{next: next, release: make(chan struct{})}
}

// Inject queues faults for requests that match: each matching request
// takes the next one; once they are used up, matching requests pass.
func (in *Injector) Inject(match func(*http.Request) bool, faults ...Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &rule{match: match, queue: faults})
}

// Always applies f to every matching request.
func (in *Injector) Always(match func(*http.Request) bool, f Fault) {
	in.mu.Lock()
	defer in.mu.Unlock()
	in.rules = append(in.rules, &rule{match: match, queue: []Fault{f}, always: true})
}

// Close ends trickles, stalls and endless bodies still running.
func (in *Injector) Close() { in.closed.Do(func() { close(in.release) }) }

// Sent counts the body bytes faulty answers wrote.
func (in *Injector) Sent() int64 { return in.sent.Load() }

// Hits counts the requests that got a fault.
func (in *Injector) Hits() int64 { return in.hits.Load() }

// Path matches requests for exactly this path.
func Path(p string) func(*http.Request) bool {
	return func(r *http.Request) bool { return r.URL.Path == p }
}

// BlobGET matches GET requests for one registry blob ("sha256:<hex>").
func BlobGET(digest string) func(*http.Request) bool {
	suffix := "/blobs/" + digest
	return func(r *http.Request) bool {
		return r.Method == http.MethodGet && len(r.URL.Path) >= len(suffix) && r.URL.Path[len(r.URL.Path)-len(suffix):] == suffix
	}
}

func (in *Injector) take(r *http.Request) (Fault, bool) {
	in.mu.Lock()
	defer in.mu.Unlock()
	for _, ru := range in.rules {
		if len(ru.queue) == 0 || !ru.match(r) {
			continue
		}
		f := ru.queue[0]
		if !ru.always {
			ru.queue = ru.queue[1:]
		}
		return f, true
	}
	return Fault{}, false
}

func (in *Injector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f, ok := in.take(r)
	if !ok {
		in.next.ServeHTTP(w, r)
		return
	}
	in.hits.Add(1)
	switch f.Kind {
	case Status:
		if f.RetryAfter != "" {
			w.Header().Set("Retry-After", f.RetryAfter)
		}
		http.Error(w, http.StatusText(f.Code), f.Code)
		return
	case RedirectLoop:
		http.Redirect(w, r, r.URL.RequestURI(), http.StatusFound)
		return
	case SlowHeaders:
		if !in.wait(r, f.Interval) {
			return
		}
		in.next.ServeHTTP(w, r)
		return
	}

	// The other faults start from the real answer.
	rec := httptest.NewRecorder()
	in.next.ServeHTTP(rec, r)
	body := rec.Body.Bytes()
	copyHeader := func() {
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
	}
	write := func(b []byte) bool {
		n, err := w.Write(b)
		in.sent.Add(int64(n))
		w.(http.Flusher).Flush()
		return err == nil
	}
	switch f.Kind {
	case Endless:
		copyHeader()
		w.Header().Del("Content-Length")
		w.WriteHeader(rec.Code)
		if !write(body) {
			return
		}
		in.endless(r, func(b []byte) bool { return write(b) })
	case EndlessAnnounced:
		in.raw(w, rec.Code, f.N, func(bw *bufio.Writer) {
			in.rawWrite(bw, body)
			in.endless(r, func(b []byte) bool { return in.rawWrite(bw, b) })
		})
	case Trickle:
		copyHeader()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		for i := range body {
			if !write(body[i:i+1]) || !in.wait(r, f.Interval) {
				return
			}
		}
	case Slow:
		copyHeader()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		for rest := body; len(rest) > 0; {
			k := min(int(max(f.N, 1)), len(rest))
			if !write(rest[:k]) || !in.wait(r, f.Interval) {
				return
			}
			rest = rest[k:]
		}
	case Stall:
		copyHeader()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		write(body[:min(int(f.N), len(body))])
		in.wait(r, time.Hour)
	case Reset:
		copyHeader()
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.WriteHeader(rec.Code)
		write(body[:min(int(f.N), len(body))])
		conn, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				tc.SetLinger(0) // close sends RST
			}
			conn.Close()
		}
	case WrongBytes:
		bad := append([]byte(nil), body...)
		if len(bad) > 0 {
			bad[len(bad)/2] ^= 0x5a
		}
		copyHeader()
		w.Header().Set("Content-Length", strconv.Itoa(len(bad)))
		w.WriteHeader(rec.Code)
		write(bad)
	case WrongLength:
		in.raw(w, rec.Code, int64(len(body))+f.Delta, func(bw *bufio.Writer) { in.rawWrite(bw, body) })
	default:
		panic(fmt.Sprintf("faultserver: unknown fault %v", f.Kind))
	}
}

// wait sleeps d, or less when the client leaves or the injector closes; it
// reports whether to carry on.
func (in *Injector) wait(r *http.Request, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
	case <-in.release:
	}
	return false
}

// endless writes pseudo-random chunks until write fails or the injector closes.
func (in *Injector) endless(r *http.Request, write func([]byte) bool) {
	chunk := make([]byte, 32<<10)
	x := uint32(2463534242)
	for i := range chunk {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		chunk[i] = byte(x)
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-in.release:
			return
		default:
		}
		if !write(chunk) {
			return
		}
	}
}

// raw answers on the hijacked connection, which lets the answer break
// HTTP's rules (net/http refuses to write past a Content-Length).
func (in *Injector) raw(w http.ResponseWriter, code int, contentLength int64, body func(*bufio.Writer)) {
	conn, rw, err := w.(http.Hijacker).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(rw, "HTTP/1.1 %d %s\r\nContent-Length: %d\r\nContent-Type: application/octet-stream\r\nConnection: close\r\n\r\n",
		code, http.StatusText(code), contentLength)
	body(rw.Writer)
	rw.Flush()
}

func (in *Injector) rawWrite(bw *bufio.Writer, b []byte) bool {
	n, err := bw.Write(b)
	in.sent.Add(int64(n))
	if err == nil {
		err = bw.Flush()
	}
	return err == nil
}
