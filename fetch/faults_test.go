package fetch

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/fetch/internal/faultserver"
	fl "github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/manifest"
)

// Limits used by the fault tests: short, so that every case ends within a
// few seconds, yet far from what a healthy loopback transfer needs, so that
// no healthy case trips them even on a loaded machine.
const (
	// faultTimeout is the stall timeout of cases whose fault is slowness;
	// calmTimeout that of the others, long enough never to fire on a
	// loaded machine, so that they test only what they are about.
	faultTimeout = 500 * time.Millisecond
	calmTimeout  = 5 * time.Second
	faultMinRate = 8 << 10 // 4 KiB per 500 ms window; a trickle sends ~50 bytes
	faultMaxSize = 1 << 20
	faultRetries = 2
	// faultBound is how long any case may take, success or failure.
	faultBound = 10 * time.Second
)

// How a fault case downloads: as `build` does with a lock (digest and size
// known), with a digest but no size (pinned in the spec only), as `lock`
// does for an artifact without a checksum (nothing known), or a checksum
// file.
type fetchMode string

const (
	modeBuild    fetchMode = "build"
	modePinned   fetchMode = "pinned"
	modeLock     fetchMode = "lock"
	modeChecksum fetchMode = "checksum"
)

// fileHandler serves fixed files with Range support, like a release site.
type fileHandler map[string][]byte

func (h fileHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := h[r.URL.Path]
	if !ok {
		http.NotFound(w, r)
		return
	}
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(b))
}

// faultCase is one fault and what must come of it.
type faultCase struct {
	name   string
	mode   fetchMode
	faults []faultserver.Fault // queued, in order, for the artifact's path
	always *faultserver.Fault  // or applied to every request
	// The outcome: ok, or an error containing every string of errHas and
	// one of errAny (when set), with exit code exit.
	ok     bool
	errHas []string
	errAny []string
	exit   int
	// requests, when set, is how many requests the server must have seen.
	requests int
}

var (
	status = func(code int) faultserver.Fault { return faultserver.Fault{Kind: faultserver.Status, Code: code} }
	fk     = func(k faultserver.Kind) *faultserver.Fault { return &faultserver.Fault{Kind: k} }
)

func fetchFaultCases() []faultCase {
	const size = 64 << 10
	trickle := faultserver.Fault{Kind: faultserver.Trickle, Interval: 10 * time.Millisecond}
	slowHeaders := faultserver.Fault{Kind: faultserver.SlowHeaders, Interval: 2 * time.Second}
	endless := faultserver.Fault{Kind: faultserver.Endless}
	announced := func(n int64) faultserver.Fault { return faultserver.Fault{Kind: faultserver.EndlessAnnounced, N: n} }
	wrongLength := func(d int64) faultserver.Fault { return faultserver.Fault{Kind: faultserver.WrongLength, Delta: d} }
	// A trickle is caught by the minimum rate; on a loaded machine the
	// client may read nothing in a window, which then says "no data".
	slow := []string{"below the minimum of 8.0 KiB/s", "no data for 500ms"}
	return []faultCase{
		// Endless bodies: cut off at the locked size, or at the maximum.
		{name: "endless body, size locked", mode: modeBuild, faults: []faultserver.Fault{endless},
			errHas: []string{"more than the 65536 bytes expected", "other bytes than when the lock was made"}, exit: manifest.ExitVerification, requests: 1},
		{name: "endless body, digest pinned", mode: modePinned, faults: []faultserver.Fault{endless},
			errHas: []string{"more than the maximum download size of 1.0 MiB"}, exit: manifest.ExitFailure, requests: 1},
		{name: "endless body, first lock", mode: modeLock, faults: []faultserver.Fault{endless},
			errHas: []string{"more than the maximum download size of 1.0 MiB"}, exit: manifest.ExitFailure, requests: 1},
		{name: "endless body, checksum file", mode: modeChecksum, faults: []faultserver.Fault{endless},
			errHas: []string{"not a checksum file"}, exit: manifest.ExitFailure, requests: 1},
		// A huge Content-Length is refused before any byte is read.
		{name: "10 GiB announced, size locked", mode: modeBuild, faults: []faultserver.Fault{announced(10 << 30)},
			errHas: []string{"announced 10737418240 bytes, but 65536 bytes were expected"}, exit: manifest.ExitVerification, requests: 1},
		{name: "10 GiB announced, first lock", mode: modeLock, faults: []faultserver.Fault{announced(10 << 30)},
			errHas: []string{"announced 10737418240 bytes", "more than the maximum download size"}, exit: manifest.ExitFailure, requests: 1},
		{name: "10 GiB announced, checksum file", mode: modeChecksum, faults: []faultserver.Fault{announced(10 << 30)},
			errHas: []string{"announced 10737418240 bytes", "not a checksum file"}, exit: manifest.ExitFailure, requests: 1},
		// Bytes past an honest Content-Length are never read.
		{name: "body runs past its Content-Length", mode: modeBuild, faults: []faultserver.Fault{announced(size)}, ok: true, requests: 1},
		{name: "body runs past its Content-Length, first lock", mode: modeLock, faults: []faultserver.Fault{announced(size)}, ok: true, requests: 1},
		// Trickles, stalls and slow headers: each attempt is abandoned
		// within one window, retried, then reported.
		{name: "trickle, size locked", mode: modeBuild, always: &trickle,
			errHas: []string{"after 3 attempts", "too slowly"}, errAny: slow, exit: manifest.ExitFailure, requests: 3},
		{name: "trickle, first lock", mode: modeLock, always: &trickle,
			errHas: []string{"after 3 attempts"}, errAny: slow, exit: manifest.ExitFailure, requests: 3},
		// For a checksum file the minimum rate and the whole-file deadline
		// (twice the timeout) race; either ends the attempt.
		{name: "trickle, checksum file", mode: modeChecksum, always: &trickle,
			errHas: []string{"after 3 attempts", "too slowly"}, exit: manifest.ExitFailure, requests: 3},
		{name: "stall mid-body", mode: modeBuild, always: &faultserver.Fault{Kind: faultserver.Stall, N: 16000},
			errHas: []string{"no data for 500ms", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "stall before any byte", mode: modePinned, always: &faultserver.Fault{Kind: faultserver.Stall},
			errHas: []string{"no data for 500ms", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "slow headers", mode: modeBuild, always: &slowHeaders,
			errHas: []string{"no response headers for 500ms", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "slow headers, checksum file", mode: modeChecksum, always: &slowHeaders,
			errHas: []string{"no response headers for 500ms", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "trickle once, then healthy", mode: modeBuild, faults: []faultserver.Fault{trickle}, ok: true, requests: 2},
		{name: "slow headers once, then healthy", mode: modeChecksum, faults: []faultserver.Fault{slowHeaders}, ok: true, requests: 2},
		// Resets and error statuses: retried to success.
		{name: "reset mid-body, then healthy", mode: modeBuild, faults: []faultserver.Fault{{Kind: faultserver.Reset, N: 20000}}, ok: true, requests: 2},
		{name: "reset mid-body, then healthy, first lock", mode: modeLock, faults: []faultserver.Fault{{Kind: faultserver.Reset, N: 20000}}, ok: true, requests: 2},
		{name: "reset every time", mode: modeBuild, always: &faultserver.Fault{Kind: faultserver.Reset, N: 100},
			errHas: []string{"after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "5xx twice, then healthy", mode: modeBuild, faults: []faultserver.Fault{status(503), status(500)}, ok: true, requests: 3},
		{name: "5xx, then healthy, checksum file", mode: modeChecksum, faults: []faultserver.Fault{status(502)}, ok: true, requests: 2},
		{name: "429 with Retry-After, then healthy", mode: modeBuild,
			faults: []faultserver.Fault{{Kind: faultserver.Status, Code: 429, RetryAfter: "1"}}, ok: true, requests: 2},
		{name: "5xx every time", mode: modeBuild, always: &faultserver.Fault{Kind: faultserver.Status, Code: 503},
			errHas: []string{"503", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		// Wrong bytes and lying lengths.
		{name: "wrong bytes", mode: modeBuild, faults: []faultserver.Fault{{Kind: faultserver.WrongBytes}},
			errHas: []string{"digest mismatch"}, exit: manifest.ExitVerification, requests: 1},
		{name: "wrong bytes, digest pinned", mode: modePinned, faults: []faultserver.Fault{{Kind: faultserver.WrongBytes}},
			errHas: []string{"digest mismatch"}, exit: manifest.ExitVerification, requests: 1},
		{name: "Content-Length too large, size locked", mode: modeBuild, faults: []faultserver.Fault{wrongLength(100)},
			errHas: []string{"announced 65636 bytes, but 65536 bytes were expected"}, exit: manifest.ExitVerification, requests: 1},
		{name: "Content-Length too small, size locked", mode: modeBuild, faults: []faultserver.Fault{wrongLength(-100)},
			errHas: []string{"announced 65436 bytes, but 65536 bytes were expected"}, exit: manifest.ExitVerification, requests: 1},
		// The body ends short of its Content-Length: retried with a
		// Range, whose answer (416) shows the part file already complete.
		{name: "Content-Length too large, digest pinned", mode: modePinned, always: &faultserver.Fault{Kind: faultserver.WrongLength, Delta: 100},
			ok: true, requests: 2},
		// Without a digest or validator nothing can be resumed: every
		// attempt ends short, and the lock fails.
		{name: "Content-Length too large, first lock", mode: modeLock, always: &faultserver.Fault{Kind: faultserver.WrongLength, Delta: 100},
			errHas: []string{"body ended after 65536 of 65636 bytes", "after 3 attempts"}, exit: manifest.ExitFailure, requests: 3},
		{name: "Content-Length too small, digest pinned", mode: modePinned, faults: []faultserver.Fault{wrongLength(-100)},
			errHas: []string{"digest mismatch"}, exit: manifest.ExitVerification, requests: 1},
		// Redirect loops are not retried.
		{name: "redirect loop", mode: modeBuild, always: fk(faultserver.RedirectLoop),
			errHas: []string{"stopped after 10 redirects", "redirects in a loop"}, exit: manifest.ExitFailure, requests: 10},
		{name: "redirect loop, checksum file", mode: modeChecksum, always: fk(faultserver.RedirectLoop),
			errHas: []string{"stopped after 10 redirects"}, exit: manifest.ExitFailure, requests: 10},
	}
}

// slowness reports whether any of the faults is about time.
func slowness(faults []faultserver.Fault, always *faultserver.Fault) bool {
	if always != nil {
		faults = append(slices.Clone(faults), *always)
	}
	return slices.ContainsFunc(faults, func(f faultserver.Fault) bool {
		switch f.Kind {
		case faultserver.Trickle, faultserver.Stall, faultserver.SlowHeaders, faultserver.Slow:
			return true
		}
		return false
	})
}

func stallTimeout(slow bool) time.Duration {
	if slow {
		return faultTimeout
	}
	return calmTimeout
}

func newFaultFetcher(t *testing.T, timeout time.Duration) *Fetcher {
	t.Helper()
	return newTestFetcher(t, WithTimeout(timeout), WithMinRate(faultMinRate), WithMaxDownloadSize(faultMaxSize), WithRetries(faultRetries))
}

// runFetchFault runs one case against a fresh server and cache.
func runFetchFault(t *testing.T, tc faultCase) {
	content := randomBytes(64<<10, 0xfa)
	const path = "/releases/download/v1.0.0/artifact.tar.gz"
	if tc.mode == modeChecksum {
		content = []byte(string(digestOf(randomBytes(10, 1)))[len("sha256:"):] + "  artifact.tar.gz\n")
	}
	inj := faultserver.New(fileHandler{path: content})
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { requests.Add(1); inj.ServeHTTP(w, r) }))
	t.Cleanup(func() { inj.Close(); srv.Close() })
	inj.Inject(faultserver.Path(path), tc.faults...)
	if tc.always != nil {
		inj.Always(faultserver.Path(path), *tc.always)
	}
	url := srv.URL + path
	f := newFaultFetcher(t, stallTimeout(slowness(tc.faults, tc.always)))
	ctx, cancel := context.WithTimeout(context.Background(), 4*faultBound)
	defer cancel()

	start := time.Now()
	var got []byte
	var err error
	switch tc.mode {
	case modeBuild, modePinned:
		req := Request{URL: url, Digest: digestOf(content)}
		if tc.mode == modeBuild {
			req.Size = int64(len(content))
		}
		var paths []string
		if paths, err = f.Fetch(ctx, []Request{req}); err == nil {
			got, _ = os.ReadFile(paths[0])
		}
	case modeLock:
		var d manifest.Digest
		var p string
		if d, p, err = f.DownloadDigest(ctx, url, manifest.SHA256); err == nil {
			got, _ = os.ReadFile(p)
			if d != digestOf(content) {
				t.Errorf("digest %s, want %s", d, digestOf(content))
			}
		}
	case modeChecksum:
		got, err = f.Get(ctx, url)
	}
	elapsed := time.Since(start)

	if elapsed > faultBound {
		t.Errorf("took %v, more than %v", elapsed, faultBound)
	}
	if tc.requests > 0 && int(requests.Load()) != tc.requests {
		t.Errorf("%d requests, want %d", requests.Load(), tc.requests)
	}
	if tc.ok {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		if !bytes.Equal(got, content) {
			t.Fatalf("got %d bytes, not the %d served", len(got), len(content))
		}
		assertOnlyCached(t, f, digestOf(content), tc.mode != modeChecksum)
		return
	}
	if err == nil {
		t.Fatal("want an error, got success")
	}
	if ctx.Err() != nil {
		t.Fatalf("ran into the test's own deadline: %v", err)
	}
	msg := fl.Text(err)
	for _, want := range append([]string{url}, tc.errHas...) {
		if !strings.Contains(msg, want) {
			t.Errorf("error does not say %q:\n%s", want, msg)
		}
	}
	if len(tc.errAny) > 0 && !slices.ContainsFunc(tc.errAny, func(s string) bool { return strings.Contains(msg, s) }) {
		t.Errorf("error says none of %q:\n%s", tc.errAny, msg)
	}
	if code := manifest.ExitCode(err); code != tc.exit {
		t.Errorf("exit code %d, want %d (%v)", code, tc.exit, err)
	}
	if manifest.Hint(err) == "" {
		t.Errorf("no hint: %v", err)
	}
	assertNothingKept(t, f)
}

// assertOnlyCached checks that the cache holds the verified artifact (when
// want) and nothing else but lock files.
func assertOnlyCached(t *testing.T, f *Fetcher, d manifest.Digest, want bool) {
	t.Helper()
	final := f.CachePath(d)
	found := false
	filepath.WalkDir(f.CacheDir(), func(p string, e os.DirEntry, err error) error {
		switch {
		case err != nil || e.IsDir() || strings.HasSuffix(p, ".lock"):
		case p == final && want:
			found = true
		default:
			t.Errorf("left in the cache: %s", p)
		}
		return nil
	})
	if want && !found {
		t.Errorf("%s is not in the cache", d)
	}
}

// hardeningTally counts the cases of one class and prints the line
// `make hardening` collects.
type hardeningTally struct {
	class       string
	tried, held atomic.Int32
}

func (h *hardeningTally) track(t *testing.T) {
	h.tried.Add(1)
	t.Cleanup(func() {
		if !t.Failed() {
			h.held.Add(1)
		}
	})
}

func (h *hardeningTally) report(t *testing.T) {
	line := fmt.Sprintf("hardening: %s tried=%d held=%d", h.class, h.tried.Load(), h.held.Load())
	t.Log(line)
}

// TestHardeningFetchFaults is issue 7 findings 8 and 9 for artifacts and
// checksum files: every fault of the fault server, in each way the builder
// downloads, ends in the expected success or a specific error within
// faultBound, with nothing half-written left in the cache.
func TestHardeningFetchFaults(t *testing.T) {
	tally := &hardeningTally{class: "fetch-faults"}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range fetchFaultCases() {
			t.Run(string(tc.mode)+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				tally.track(t)
				runFetchFault(t, tc)
			})
		}
	})
	tally.report(t)
}

// The watchdog's messages, driven by hand (timers far away): headers
// missing, a body stopped, a body below the minimum rate.
func TestWatchdogSaysWhatHappened(t *testing.T) {
	l := stallLimits{idle: time.Hour, minRate: 1 << 10}
	cause := func(drive func(w *watchdog)) string {
		ctx, cancel := context.WithCancelCause(context.Background())
		w := startWatchdog(l, cancel)
		defer w.stop()
		drive(w)
		if c := context.Cause(ctx); c != nil {
			return c.Error()
		}
		return ""
	}
	tests := []struct {
		name  string
		drive func(w *watchdog)
		want  string
	}{
		{"no headers", func(w *watchdog) { w.onIdle() }, "no response headers for 1h0m0s"},
		{"body stopped", func(w *watchdog) { w.body(); w.add(10); w.onIdle() }, "no data for 1h0m0s"},
		{"fast enough", func(w *watchdog) { w.body(); w.add(4 << 20); w.onWindow() }, ""},
		{"trickle after a fast window", func(w *watchdog) { w.body(); w.add(4 << 20); w.onWindow(); w.add(12); w.onWindow() },
			"server sent 12 bytes in 1h0m0s (0 B/s), below the minimum of 1.0 KiB/s"},
		{"slow", func(w *watchdog) { w.body(); w.add(1 << 20); w.onWindow() },
			"server sent 1048576 bytes in 1h0m0s (291 B/s), below the minimum of 1.0 KiB/s"},
		{"nothing in a window", func(w *watchdog) { w.body(); w.onWindow() }, "no data for 1h0m0s"},
		{"stopped watchdog stays quiet", func(w *watchdog) { w.body(); w.stop(); w.onIdle(); w.onWindow() }, ""},
	}
	for _, tc := range tests {
		if got := cause(tc.drive); got != tc.want {
			t.Errorf("%s: %q, want %q", tc.name, got, tc.want)
		}
	}
}

// A checksum file arriving steadily, above the minimum rate, must still be
// complete within twice the stall timeout: it is small.
func TestGetChecksumFileDeadline(t *testing.T) {
	// 400 KiB at 100 KiB/s: far above the minimum rate, and 4 s long.
	inj := faultserver.New(fileHandler{"/SHA256SUMS": randomBytes(400<<10, 5)})
	inj.Always(faultserver.Path("/SHA256SUMS"), faultserver.Fault{Kind: faultserver.Slow, N: 2 << 10, Interval: 20 * time.Millisecond})
	srv := httptest.NewServer(inj)
	t.Cleanup(func() { inj.Close(); srv.Close() })
	f := newTestFetcher(t, WithTimeout(time.Second), WithMinRate(faultMinRate), WithRetries(0))
	start := time.Now()
	_, err := f.Get(context.Background(), srv.URL+"/SHA256SUMS")
	if err == nil || !strings.Contains(err.Error(), "not complete after 2s") || !strings.Contains(err.Error(), "after 1 attempts") {
		t.Fatalf("slow checksum file: %v", err)
	}
	if el := time.Since(start); el > faultBound {
		t.Errorf("took %v", el)
	}
	if n := inj.Hits(); n != 1 {
		t.Errorf("%d requests, want 1", n)
	}
}

// The size recorded in the lock is checked against a cached artifact too:
// a lock whose size was edited fails even on a warm cache.
func TestFetchCachedArtifactOfWrongLockedSize(t *testing.T) {
	content := randomBytes(5000, 3)
	srv := httptest.NewServer(fileHandler{"/a": content})
	defer srv.Close()
	f := newTestFetcher(t)
	req := Request{URL: srv.URL + "/a", Digest: digestOf(content), Size: int64(len(content))}
	if _, err := f.Fetch(context.Background(), []Request{req}); err != nil {
		t.Fatal(err)
	}
	req.Size++
	_, err := f.Fetch(context.Background(), []Request{req})
	if err == nil || manifest.ExitCode(err) != manifest.ExitVerification || !strings.Contains(err.Error(), "5001 bytes were expected") {
		t.Fatalf("wrong locked size on a warm cache: %v", err)
	}
	if _, err := os.Stat(f.CachePath(req.Digest)); err != nil {
		t.Errorf("the verified cache entry was removed: %v", err)
	}
	if _, err := f.Fetch(context.Background(), []Request{{URL: req.URL, Digest: req.Digest, Size: -1}}); err == nil {
		t.Error("negative size accepted")
	}
}

// A part file longer than the locked size cannot be a prefix of the
// artifact: it is dropped without asking the server for a range.
func TestFetchPartLongerThanLockedSize(t *testing.T) {
	content := randomBytes(10000, 4)
	var ranges []string
	var mu sync.Mutex
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		ranges = append(ranges, r.Header.Get("Range"))
		mu.Unlock()
		fileHandler{"/a": content}.ServeHTTP(w, r)
	}))
	defer srv.Close()
	f := newTestFetcher(t, WithRetries(0))
	d := digestOf(content)
	seedPart(t, f, d, append(content, 1, 2, 3))
	if _, err := f.Fetch(context.Background(), []Request{{URL: srv.URL + "/a", Digest: d, Size: int64(len(content))}}); err != nil {
		t.Fatal(err)
	}
	if len(ranges) != 1 || ranges[0] != "" {
		t.Errorf("Range headers %q, want one request from the start", ranges)
	}
}

func TestNewRejectsBadLimits(t *testing.T) {
	for _, o := range []Option{WithMinRate(-1), WithMaxDownloadSize(0), WithMaxDownloadSize(-5)} {
		if _, err := New(o); err == nil {
			t.Error("bad option accepted")
		}
	}
}

func TestParseByteSize(t *testing.T) {
	good := map[string]int64{"4G": 4 << 30, "4GiB": 4 << 30, "4gb": 4 << 30, "1500M": 1500 << 20, "4294967296": 4 << 30, "512K": 512 << 10, "1T": 1 << 40, "10B": 10}
	for s, want := range good {
		if got, err := ParseByteSize(s); err != nil || got != want {
			t.Errorf("ParseByteSize(%q) = %d, %v; want %d", s, got, err, want)
		}
	}
	for _, s := range []string{"", "0", "-1G", "G", "4X", "1.5G", "9999999999T"} {
		if n, err := ParseByteSize(s); err == nil {
			t.Errorf("ParseByteSize(%q) accepted: %d", s, n)
		} else if manifest.Hint(err) == "" {
			t.Errorf("ParseByteSize(%q): no hint", s)
		}
	}
}
