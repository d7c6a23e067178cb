package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// Defaults for a Fetcher (and, for the timeout and rate, for image pulls).
const (
	DefaultParallelism = 4
	DefaultRetries     = 5
	// DefaultTimeout is the stall timeout: no response headers, or no body
	// byte, for this long gives up the attempt. A minute, not less, because
	// a caching mirror (Nexus, Artifactory) may answer only once it has
	// fetched a large file from upstream itself.
	DefaultTimeout = 60 * time.Second
	// DefaultMinRate is the slowest body accepted, averaged over each
	// DefaultTimeout-long window: 1 KiB/s. Below that even a 50 MB
	// containerd archive takes most of a day; a server trickling bytes to
	// keep a connection open (1 byte every few seconds) is abandoned after
	// one window instead of never.
	DefaultMinRate = 1 << 10
	// DefaultMaxDownloadSize caps a download whose size is not known in
	// advance (a first lock, a digest pinned in the spec but not in the
	// lock): 4 GiB. The largest artifact satchel fetches is a kata-static
	// archive, on the order of a gigabyte; 4 GiB leaves room for growth
	// while an endless body stops long before it fills a build host's disk.
	// A size recorded in the lock replaces this cap for its artifact.
	DefaultMaxDownloadSize = 4 << 30
)

// maxChecksumFile bounds what Get reads into memory. Checksum files are
// tiny (a SHA256SUMS for a whole release is a few KiB); a mirror answering
// with a release asset, or an endless body, must not exhaust memory.
const maxChecksumFile = 1 << 20

// maxSmallFile bounds an image config blob read into memory.
const maxSmallFile = 16 << 20

// Fetcher downloads pinned artifacts into a content-addressed cache.
// It is safe for concurrent use.
type Fetcher struct {
	dir         string
	mirrors     []Mirror
	client      *http.Client
	parallelism int
	retries     int
	timeout     time.Duration
	minRate     int64
	maxSize     int64
	progress    func(Event)
	log         *slog.Logger

	// backoff is the first retry delay; it doubles up to maxBackoff.
	// Tests shorten both.
	backoff, maxBackoff time.Duration

	progressMu sync.Mutex
	locks      keyedMutex
}

// Option configures a Fetcher.
type Option func(*Fetcher) error

// WithCacheDir sets the cache directory (default os.UserCacheDir()/satchel).
func WithCacheDir(dir string) Option {
	return func(f *Fetcher) error {
		if dir == "" {
			return errors.New("empty cache directory")
		}
		f.dir = dir
		return nil
	}
}

// WithMirrors sets URL prefix rewrites; see Mirror.
func WithMirrors(m []Mirror) Option {
	return func(f *Fetcher) error {
		for _, x := range m {
			if err := x.validate(); err != nil {
				return err
			}
		}
		f.mirrors = append([]Mirror(nil), m...)
		return nil
	}
}

// WithHTTPClient replaces the HTTP client. The default one uses
// http.ProxyFromEnvironment and a response-header timeout of twice the stall
// timeout. The stall timeout and minimum rate apply to any client: its
// transport is wrapped.
func WithHTTPClient(c *http.Client) Option {
	return func(f *Fetcher) error {
		if c == nil {
			return errors.New("nil HTTP client")
		}
		f.client = c
		return nil
	}
}

// WithParallelism bounds how many downloads run at once (default 4).
func WithParallelism(n int) Option {
	return func(f *Fetcher) error {
		if n < 1 {
			return fmt.Errorf("parallelism %d: must be at least 1", n)
		}
		f.parallelism = n
		return nil
	}
}

// WithRetries sets how many times a failed transfer is retried (default 5).
func WithRetries(n int) Option {
	return func(f *Fetcher) error {
		if n < 0 {
			return fmt.Errorf("retries %d: must not be negative", n)
		}
		f.retries = n
		return nil
	}
}

// WithTimeout sets the stall timeout: an attempt fails (and is retried)
// when no response header or body byte arrives for d. It is also the window
// over which WithMinRate is measured, and a checksum file (Get) must arrive
// whole within twice d. It does not cap the total duration of a large
// download (default DefaultTimeout).
func WithTimeout(d time.Duration) Option {
	return func(f *Fetcher) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v: must be positive", d)
		}
		f.timeout = d
		return nil
	}
}

// WithMinRate sets the slowest body accepted, in bytes per second averaged
// over each stall-timeout-long window; a slower attempt fails and is
// retried. 0 accepts any rate (only a complete stall fails). Default
// DefaultMinRate.
func WithMinRate(bytesPerSecond int64) Option {
	return func(f *Fetcher) error {
		if bytesPerSecond < 0 {
			return fmt.Errorf("minimum rate %d: must not be negative", bytesPerSecond)
		}
		f.minRate = bytesPerSecond
		return nil
	}
}

// WithMaxDownloadSize caps downloads whose size is not known in advance
// (Request.Size 0, DownloadDigest): a larger Content-Length is refused at
// once, and a body that grows past n is cut off and discarded. Default
// DefaultMaxDownloadSize.
func WithMaxDownloadSize(n int64) Option {
	return func(f *Fetcher) error {
		if n <= 0 {
			return fmt.Errorf("maximum download size %d: must be positive", n)
		}
		f.maxSize = n
		return nil
	}
}

// WithProgress sets a callback for download progress. Calls are serialized,
// so the callback needs no locking of its own, and must return quickly.
func WithProgress(fn func(Event)) Option {
	return func(f *Fetcher) error {
		f.progress = fn
		return nil
	}
}

// WithLogger sets where retries and mirror rewrites are logged (default: nowhere).
func WithLogger(l *slog.Logger) Option {
	return func(f *Fetcher) error {
		if l == nil {
			return errors.New("nil logger")
		}
		f.log = l
		return nil
	}
}

// EventKind says what an Event reports.
type EventKind int

// Event kinds, in the order an artifact goes through them.
const (
	EventCached   EventKind = iota // already in the cache; Done = Total = its size
	EventStart                     // a transfer begins (Done > 0 when resuming)
	EventProgress                  // bytes arrived
	EventRetry                     // a transfer failed and will be retried; Err says why
	EventDone                      // verified and in the cache
)

func (k EventKind) String() string {
	switch k {
	case EventCached:
		return "cached"
	case EventStart:
		return "start"
	case EventProgress:
		return "progress"
	case EventRetry:
		return "retry"
	case EventDone:
		return "done"
	}
	return fmt.Sprintf("EventKind(%d)", int(k))
}

// Event reports the progress of one artifact.
type Event struct {
	Kind EventKind
	// URL is the artifact's URL as requested, before mirror rewriting.
	URL string
	// Digest is the expected digest, empty for DownloadDigest.
	Digest manifest.Digest
	// Done counts the bytes on disk for this artifact, including resumed ones.
	Done int64
	// Total is the artifact's size, or -1 while unknown.
	Total int64
	// Err is the transient failure of an EventRetry.
	Err error
}

// New returns a Fetcher.
func New(opts ...Option) (*Fetcher, error) {
	f := &Fetcher{
		parallelism: DefaultParallelism,
		retries:     DefaultRetries,
		timeout:     DefaultTimeout,
		minRate:     DefaultMinRate,
		maxSize:     DefaultMaxDownloadSize,
		backoff:     500 * time.Millisecond,
		maxBackoff:  30 * time.Second,
		log:         slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		if err := o(f); err != nil {
			return nil, fmt.Errorf("fetch: %w", err)
		}
	}
	if f.dir == "" {
		base, err := os.UserCacheDir()
		if err != nil {
			return nil, manifest.HintError(fmt.Errorf("fetch: finding the user cache directory: %w", err),
				"pass --cache DIR")
		}
		f.dir = filepath.Join(base, "satchel")
	}
	if f.client == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.Proxy = http.ProxyFromEnvironment
		// A backstop only: the guard below gives up first, with a clearer message.
		t.ResponseHeaderTimeout = 2 * f.timeout
		f.client = &http.Client{Transport: t}
	}
	// Guard the client's transport (a copy: the caller's client is left alone).
	c := *f.client
	base := c.Transport
	if base == nil {
		base = http.DefaultTransport
	}
	c.Transport = &guardTransport{base: base, limits: f.limits()}
	f.client = &c
	return f, nil
}

func (f *Fetcher) limits() stallLimits { return stallLimits{idle: f.timeout, minRate: f.minRate} }

// CacheDir returns the cache directory.
func (f *Fetcher) CacheDir() string { return f.dir }

// CachePath returns where the artifact with digest d lives in the cache
// (whether or not it is there yet), or "" for a malformed digest.
func (f *Fetcher) CachePath(d manifest.Digest) string {
	if _, err := manifest.ParseDigest(string(d)); err != nil {
		return ""
	}
	return filepath.Join(f.dir, d.Algorithm(), d.Hex())
}

func (f *Fetcher) tmpDir() string { return filepath.Join(f.dir, "tmp") }

// partPath is keyed by digest so an interrupted download, in this run or an
// earlier one, resumes where it stopped.
func (f *Fetcher) partPath(d manifest.Digest) string {
	return filepath.Join(f.tmpDir(), d.Algorithm()+"-"+d.Hex()+".part")
}

func (f *Fetcher) emit(e Event) {
	if f.progress == nil {
		return
	}
	f.progressMu.Lock()
	defer f.progressMu.Unlock()
	f.progress(e)
}

// Request is one artifact to fetch.
type Request struct {
	URL    string
	Digest manifest.Digest
	// Size is the artifact's length in bytes when known (from the lock);
	// 0 means unknown. A known size is enforced: an answer announcing
	// another length, or a body longer or shorter, is refused as a
	// verification failure. An unknown size is capped by
	// WithMaxDownloadSize.
	Size int64
}

// Fetch makes every requested artifact present in the cache and returns
// their cache paths in the order of reqs. Artifacts already cached (and still
// matching their digest) cause no network I/O. Downloads run in parallel;
// every failure is reported, not just the first.
func (f *Fetcher) Fetch(ctx context.Context, reqs []Request) ([]string, error) {
	for _, r := range reqs {
		if _, err := manifest.ParseDigest(string(r.Digest)); err != nil {
			return nil, fmt.Errorf("fetching %s: %w", r.URL, err)
		}
		if r.Size < 0 {
			return nil, fmt.Errorf("fetching %s: negative size %d", r.URL, r.Size)
		}
	}
	paths := make([]string, len(reqs))
	errs := make([]error, len(reqs))
	sem := make(chan struct{}, f.parallelism)
	var wg sync.WaitGroup
	for i, r := range reqs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			select {
			case sem <- struct{}{}:
			case <-ctx.Done():
				errs[i] = fmt.Errorf("fetching %s: %w", r.URL, context.Cause(ctx))
				return
			}
			defer func() { <-sem }()
			paths[i], errs[i] = f.fetchOne(ctx, r)
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return paths, nil
}

// keyedMutex serializes work on one key (a digest) inside this process; a
// file lock does the same across processes that share the cache.
type keyedMutex struct {
	mu sync.Mutex
	m  map[string]*keyedEntry
}

type keyedEntry struct {
	mu   sync.Mutex
	refs int
}

func (k *keyedMutex) lock(key string) (unlock func()) {
	k.mu.Lock()
	if k.m == nil {
		k.m = map[string]*keyedEntry{}
	}
	e := k.m[key]
	if e == nil {
		e = &keyedEntry{}
		k.m[key] = e
	}
	e.refs++
	k.mu.Unlock()
	e.mu.Lock()
	return func() {
		e.mu.Unlock()
		k.mu.Lock()
		e.refs--
		if e.refs == 0 {
			delete(k.m, key)
		}
		k.mu.Unlock()
	}
}

// ParseByteSize reads a size such as "4G", "1500M", "4GiB" or "4294967296".
// The suffixes K, M, G and T (optionally followed by "i", "B" or "iB") are
// powers of 1024.
func ParseByteSize(s string) (int64, error) {
	num := strings.ToUpper(strings.TrimSpace(s))
	num = strings.TrimSuffix(num, "B")
	num = strings.TrimSuffix(num, "I")
	mult := int64(1)
	for i, suf := range []string{"K", "M", "G", "T"} {
		if t, ok := strings.CutSuffix(num, suf); ok {
			num, mult = strings.TrimSpace(t), int64(1)<<(10*(i+1))
			break
		}
	}
	n, err := strconv.ParseInt(num, 10, 64)
	if err != nil || n <= 0 || n > math.MaxInt64/mult {
		return 0, manifest.Hintf("write a positive size such as 4G, 1500M or 4294967296 (K, M, G, T are powers of 1024)",
			"size %q is not valid", s)
	}
	return n * mult, nil
}
