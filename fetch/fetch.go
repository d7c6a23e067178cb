package fetch

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// Defaults for a Fetcher.
const (
	DefaultParallelism = 4
	DefaultRetries     = 5
	DefaultTimeout     = 60 * time.Second // idle: no byte for this long
)

// maxSmallFile bounds what Get reads into memory: checksum files are tiny,
// and a mirror answering with a release asset must not exhaust memory.
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
// http.ProxyFromEnvironment and a response-header timeout equal to the idle
// timeout. The idle timeout applies to any client.
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

// WithTimeout sets the idle timeout: a request fails (and is retried) when no
// response header or body byte arrives for d. It does not cap the total
// duration of a download (default 60s).
func WithTimeout(d time.Duration) Option {
	return func(f *Fetcher) error {
		if d <= 0 {
			return fmt.Errorf("timeout %v: must be positive", d)
		}
		f.timeout = d
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
		t.ResponseHeaderTimeout = f.timeout
		f.client = &http.Client{Transport: t}
	}
	return f, nil
}

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
