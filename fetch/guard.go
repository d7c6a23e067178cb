package fetch

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/satchel-dev/satchel/internal/human"
)

// stallLimits say how slow a transfer may get before the attempt is given
// up (and retried). A server that answers nothing, or trickles a byte every
// few seconds, must not hold a build forever.
type stallLimits struct {
	// idle: no response headers, or no body byte, for this long.
	idle time.Duration
	// minRate is the slowest body accepted, in bytes per second, averaged
	// over each idle-long window; 0 accepts any rate above zero.
	minRate int64
}

// stallError is a transfer abandoned for being too slow. It is a timeout
// (ggcr's retry transport and our own retries try again).
type stallError struct {
	msg     string
	headers bool // no response headers came: the request, not a body, failed
}

func (e *stallError) Error() string   { return e.msg }
func (e *stallError) Timeout() bool   { return true }
func (e *stallError) Temporary() bool { return true }

// watchdog enforces stallLimits on one request: it cancels the request's
// context with a stallError as its cause.
type watchdog struct {
	l      stallLimits
	cancel context.CancelCauseFunc
	got    atomic.Int64 // body bytes so far

	mu          sync.Mutex
	inBody      bool
	idle, rate  *time.Timer
	windowStart int64
	fired       error
	stopped     bool
}

func startWatchdog(l stallLimits, cancel context.CancelCauseFunc) *watchdog {
	w := &watchdog{l: l, cancel: cancel}
	w.mu.Lock() // the timer's callback may run before AfterFunc returns
	w.idle = time.AfterFunc(l.idle, w.onIdle)
	w.mu.Unlock()
	return w
}

func (w *watchdog) onIdle() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.inBody {
		w.fireLocked(&stallError{msg: fmt.Sprintf("no data for %v", w.l.idle)})
	} else {
		w.fireLocked(&stallError{msg: fmt.Sprintf("no response headers for %v", w.l.idle), headers: true})
	}
}

// body switches from waiting for headers to watching the body.
func (w *watchdog) body() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired != nil || w.stopped {
		return
	}
	w.inBody = true
	w.idle.Reset(w.l.idle)
	if w.l.minRate > 0 {
		w.rate = time.AfterFunc(w.l.idle, w.onWindow)
	}
}

// onWindow ends one rate window: too few bytes in it abandon the transfer.
func (w *watchdog) onWindow() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.fired != nil || w.stopped {
		return
	}
	n := w.got.Load()
	inWindow := n - w.windowStart
	secs := w.l.idle.Seconds()
	if float64(inWindow) < float64(w.l.minRate)*secs {
		if inWindow == 0 {
			w.fireLocked(&stallError{msg: fmt.Sprintf("no data for %v", w.l.idle)})
			return
		}
		w.fireLocked(&stallError{msg: fmt.Sprintf("server sent %d bytes in %v (%s/s), below the minimum of %s/s",
			inWindow, w.l.idle, rateString(float64(inWindow)/secs), human.Bytes(w.l.minRate))})
		return
	}
	w.windowStart = n
	w.rate.Reset(w.l.idle)
}

func rateString(perSec float64) string {
	if perSec < 1024 {
		return fmt.Sprintf("%.0f B", perSec)
	}
	return human.Bytes(int64(perSec))
}

// add counts body bytes; any byte pushes the idle deadline back.
func (w *watchdog) add(n int) {
	if n <= 0 {
		return
	}
	w.got.Add(int64(n))
	w.mu.Lock()
	if w.fired == nil && !w.stopped {
		w.idle.Reset(w.l.idle)
	}
	w.mu.Unlock()
}

func (w *watchdog) fireLocked(err error) {
	if w.fired != nil || w.stopped {
		return
	}
	w.fired = err
	w.stopTimersLocked()
	w.cancel(err)
}

func (w *watchdog) stopTimersLocked() {
	w.idle.Stop()
	if w.rate != nil {
		w.rate.Stop()
	}
}

func (w *watchdog) stop() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.stopped = true
	w.stopTimersLocked()
}

// err returns the stallError that ended the request, if one did.
func (w *watchdog) err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.fired
}

// guardTransport puts a watchdog on every request: response headers must
// come within the idle time, and the body must keep arriving at the
// minimum rate. It works for any base transport, and inside ggcr's own
// retrying transport. Through a context value (withExpectedSize) a caller
// can also have a response refused whose Content-Length is not the size it
// expects.
type guardTransport struct {
	base   http.RoundTripper
	limits stallLimits
}

// maxRedirects is net/http's default limit. ggcr v0.22.1 replaces the
// default redirect policy with checkRedirectSSRF (pkg/v1/remote/fetcher.go),
// which has no limit of its own: a registry redirecting a blob to itself
// was followed without end. The transport therefore counts.
const maxRedirects = 10

func (g *guardTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if n := redirects(req); n >= maxRedirects {
		return nil, fmt.Errorf("stopped after %d redirects", n)
	}
	ctx, cancel := context.WithCancelCause(req.Context())
	w := startWatchdog(g.limits, cancel)
	resp, err := g.base.RoundTrip(req.WithContext(ctx))
	if err != nil {
		w.stop()
		cancel(nil)
		if se := w.err(); se != nil {
			return nil, se
		}
		return nil, err
	}
	if err := checkExpectedSize(req, resp); err != nil {
		w.stop()
		resp.Body.Close()
		cancel(nil)
		return nil, err
	}
	w.body()
	resp.Body = &guardedBody{rc: resp.Body, w: w, cancel: cancel}
	return resp, nil
}

// redirects counts the redirects that led to req.
func redirects(req *http.Request) int {
	n := 0
	for r := req; r.Response != nil && r.Response.Request != nil; r = r.Response.Request {
		n++
	}
	return n
}

type guardedBody struct {
	rc     io.ReadCloser
	w      *watchdog
	cancel context.CancelCauseFunc
}

func (b *guardedBody) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	b.w.add(n)
	switch {
	case err == io.EOF:
		b.w.stop() // complete: a slow reader is not the server's fault
	case err != nil:
		if se := b.w.err(); se != nil {
			err = se
		}
	}
	return n, err
}

func (b *guardedBody) Close() error {
	b.w.stop()
	err := b.rc.Close()
	b.cancel(nil)
	return err
}

// expectedSize is what withExpectedSize stores: a blob's digest and size.
type expectedSize struct {
	blobSuffix string // "/blobs/sha256:<hex>"
	size       int64
}

type expectedSizeKey struct{}

// withExpectedSize marks requests for one registry blob (and the redirects
// they follow) so that guardTransport refuses an answer whose
// Content-Length is not size. ggcr would otherwise take a Content-Length
// as the size to verify against.
func withExpectedSize(ctx context.Context, digest string, size int64) context.Context {
	return context.WithValue(ctx, expectedSizeKey{}, expectedSize{blobSuffix: "/blobs/" + digest, size: size})
}

func checkExpectedSize(req *http.Request, resp *http.Response) error {
	want, ok := req.Context().Value(expectedSizeKey{}).(expectedSize)
	if !ok || resp.StatusCode != http.StatusOK || resp.ContentLength < 0 || resp.ContentLength == want.size {
		return nil
	}
	// Only the blob request, or a redirect it led to: the token request
	// made on the way carries the same context.
	first := req
	for first.Response != nil && first.Response.Request != nil {
		first = first.Response.Request
	}
	if !strings.HasSuffix(first.URL.Path, want.blobSuffix) {
		return nil
	}
	return &sizeError{
		msg:    fmt.Sprintf("server announced %d bytes (Content-Length) for a blob of %d bytes", resp.ContentLength, want.size),
		locked: true,
	}
}
