package fetch

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

func TestFetchVerifiesCachesAndWarmCacheIsOffline(t *testing.T) {
	srv := newArtifactServer(t)
	a, b, c := randomBytes(300<<10, 1), randomBytes(10, 2), randomBytes(1<<20, 3)
	reqs := []Request{
		{URL: srv.add("/containerd.tar.gz", a), Digest: digestOf(a)},
		{URL: srv.add("/runc.amd64", b), Digest: digestOf(b)},
		{URL: srv.add("/runsc", c), Digest: digest512Of(c)},
	}
	dir := t.TempDir()
	f := newTestFetcher(t, WithCacheDir(dir))
	paths, err := f.Fetch(context.Background(), reqs)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range [][]byte{a, b, c} {
		if paths[i] != filepath.Join(dir, reqs[i].Digest.Algorithm(), reqs[i].Digest.Hex()) || paths[i] != f.CachePath(reqs[i].Digest) {
			t.Errorf("path %d = %s, not the content address of %s", i, paths[i], reqs[i].Digest)
		}
		got, err := os.ReadFile(paths[i])
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("cached file %d differs from the served bytes (err %v)", i, err)
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(dir, "tmp", "*.part")); len(parts) != 0 {
		t.Errorf("part files left behind: %v", parts)
	}
	if n := len(srv.log()); n != 3 {
		t.Errorf("%d requests, want 3", n)
	}

	// With the server gone, a warm cache must still answer, in this
	// Fetcher and in a new one on the same directory.
	srv.Close()
	for _, f := range []*Fetcher{f, newTestFetcher(t, WithCacheDir(dir), WithRetries(0))} {
		again, err := f.Fetch(context.Background(), reqs)
		if err != nil {
			t.Fatalf("warm cache needed the network: %v", err)
		}
		if !slices.Equal(again, paths) {
			t.Errorf("warm paths %v, want %v", again, paths)
		}
	}
	if n := len(srv.log()); n != 3 {
		t.Errorf("%d requests after warm fetches, want 3", n)
	}
}

// A .tar.gz served with Content-Encoding: gzip must be stored as served,
// not transparently decompressed by the HTTP client.
func TestFetchKeepsContentEncodedBytes(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(randomBytes(50000, 5))
	zw.Close()
	srv := newArtifactServer(t)
	url := srv.add("/containerd.tar.gz", gz.Bytes())
	srv.inject("/containerd.tar.gz", fault{encoding: "gzip"})
	paths, err := newTestFetcher(t).Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(gz.Bytes())}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, gz.Bytes()) {
		t.Error("stored bytes differ from the served .tar.gz")
	}
}

func TestFetchParallelismIsBounded(t *testing.T) {
	srv := newArtifactServer(t)
	var reqs []Request
	for i := range 8 {
		b := randomBytes(1000, uint64(i))
		p := "/a" + string(rune('0'+i))
		reqs = append(reqs, Request{URL: srv.add(p, b), Digest: digestOf(b)})
		srv.inject(p, fault{delay: 80 * time.Millisecond})
	}
	f := newTestFetcher(t, WithParallelism(3))
	if _, err := f.Fetch(context.Background(), reqs); err != nil {
		t.Fatal(err)
	}
	if p := srv.peak.Load(); p != 3 {
		t.Errorf("peak concurrent requests %d, want 3", p)
	}
}

func TestFetchRetriesTransientFailures(t *testing.T) {
	content := randomBytes(200<<10, 7)
	tests := []struct {
		name      string
		f         fault
		wantRange string // Range header of the retry
	}{
		{"500", fault{status: 500}, ""},
		{"502", fault{status: 502}, ""},
		{"503 with Retry-After", fault{status: 503, retryAfter: "0"}, ""},
		{"429", fault{status: 429, retryAfter: "0"}, ""},
		{"408", fault{status: 408}, ""},
		{"body cut short", fault{cutAfter: 70000}, "bytes=70000-"},
		{"connection reset", fault{cutAfter: 50000, reset: true}, "bytes=50000-"},
		{"reset before any byte", fault{cutAfter: noneYet, reset: true}, ""},
		{"stalled body (idle timeout)", fault{stallAfter: 90000}, "bytes=90000-"},
		{"stalled headers (idle timeout)", fault{delay: 600 * time.Millisecond}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newArtifactServer(t)
			url := srv.add("/f", content)
			srv.inject("/f", tc.f)
			f := newTestFetcher(t, WithTimeout(300*time.Millisecond))
			var retries []error
			f.progress = func(e Event) {
				if e.Kind == EventRetry {
					retries = append(retries, e.Err)
				}
			}
			paths, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(content)}})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, content) {
				t.Fatal("cached bytes differ")
			}
			log := srv.log()
			if len(log) != 2 || len(retries) != 1 {
				t.Fatalf("%d requests and %d retry events, want 2 and 1 (%v)", len(log), len(retries), retries)
			}
			if log[1].rng != tc.wantRange {
				t.Errorf("retry asked Range %q, want %q", log[1].rng, tc.wantRange)
			}
		})
	}
}

func TestFetchResumeTransfersOnlyMissingBytes(t *testing.T) {
	content := randomBytes(1<<20, 11)
	const cut = 600_000
	for _, reset := range []bool{false, true} {
		srv := newArtifactServer(t)
		url := srv.add("/kata-static.tar.xz", content)
		srv.inject("/kata-static.tar.xz", fault{cutAfter: cut, reset: reset})
		var starts []Event
		f := newTestFetcher(t, WithProgress(func(e Event) {
			if e.Kind == EventStart {
				starts = append(starts, e)
			}
		}))
		if _, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(content)}}); err != nil {
			t.Fatal(err)
		}
		log := srv.log()
		if len(log) != 2 || len(starts) != 2 {
			t.Fatalf("reset=%v: %d requests, %d starts; want 2", reset, len(log), len(starts))
		}
		// The retry asks for exactly what the client lacks and gets only that.
		// (A TCP reset may destroy bytes the server wrote but the client never
		// read, so the offset is what the client kept, not what was sent.)
		have := starts[1].Done
		if log[1].rng != "bytes="+itoa(have)+"-" || log[1].sent != int64(len(content))-have || starts[1].Total != int64(len(content)) {
			t.Errorf("reset=%v: client had %d bytes, asked %q, got %d more bytes", reset, have, log[1].rng, log[1].sent)
		}
		if !reset {
			if have != cut {
				t.Errorf("clean cut after %d bytes, client kept %d", cut, have)
			}
			if sent := srv.sent.Load(); sent != int64(len(content)) {
				t.Errorf("server sent %d body bytes in all for a %d-byte file", sent, len(content))
			}
		}
		if have == 0 {
			t.Errorf("reset=%v: nothing was kept to resume from", reset)
		}
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// An interrupted run leaves its .part file; the next run, in a new
// process (a new Fetcher), continues it.
func TestFetchResumesPartFileOfInterruptedRun(t *testing.T) {
	content := randomBytes(512<<10, 12)
	d := digestOf(content)
	srv := newArtifactServer(t)
	url := srv.add("/docker-27.5.1.tgz", content)
	const stall = 200_000
	srv.inject("/docker-27.5.1.tgz", fault{stallAfter: stall})
	dir := t.TempDir()

	ctx, cancel := context.WithCancel(context.Background())
	f1 := newTestFetcher(t, WithCacheDir(dir))
	go func() {
		for {
			if st, err := os.Stat(f1.partPath(d)); err == nil && st.Size() == stall {
				cancel()
				return
			}
			time.Sleep(5 * time.Millisecond)
		}
	}()
	if _, err := f1.Fetch(ctx, []Request{{URL: url, Digest: d}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted fetch: %v, want context.Canceled", err)
	}
	if len(srv.log()) != 1 {
		t.Fatalf("a cancelled fetch was retried: %d requests", len(srv.log()))
	}
	if _, err := os.Stat(f1.CachePath(d)); !os.IsNotExist(err) {
		t.Fatal("an incomplete download is in the cache")
	}

	f2 := newTestFetcher(t, WithCacheDir(dir))
	paths, err := f2.Fetch(context.Background(), []Request{{URL: url, Digest: d}})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, content) {
		t.Fatal("resumed file differs")
	}
	if log := srv.log(); len(log) != 2 || log[1].rng != "bytes=200000-" {
		t.Errorf("requests %+v, want a second one with Range bytes=200000-", log)
	}
	if sent := srv.sent.Load(); sent != int64(len(content)) {
		t.Errorf("server sent %d bytes, want %d", sent, len(content))
	}
}

// seedPart writes a part file as an earlier run would have left it.
func seedPart(t *testing.T, f *Fetcher, d manifest.Digest, b []byte) {
	t.Helper()
	if err := os.MkdirAll(f.tmpDir(), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(f.partPath(d), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestFetchResumeEdgeCases(t *testing.T) {
	content := randomBytes(100<<10, 13)
	d := digestOf(content)
	tests := []struct {
		name      string
		part      []byte
		f         fault
		wantRange []string // Range header of each request
	}{
		{"server ignores Range", content[:40000], fault{ignoreRange: true}, []string{"bytes=40000-"}},
		{"server answers the wrong range", content[:40000], fault{badRange: true}, []string{"bytes=40000-", ""}},
		{"stale part from other bytes", randomBytes(40000, 99), fault{}, []string{"bytes=40000-", ""}},
		{"part already complete", content, fault{}, []string{"bytes=102400-"}},
		{"part longer than the file", append(slices.Clone(content), 1, 2, 3), fault{}, []string{"bytes=102403-", ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			srv := newArtifactServer(t)
			url := srv.add("/f", content)
			srv.inject("/f", tc.f)
			f := newTestFetcher(t, WithRetries(0)) // none of these may cost a retry
			seedPart(t, f, d, tc.part)
			paths, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: d}})
			if err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, content) {
				t.Fatal("cached bytes differ")
			}
			var rng []string
			for _, r := range srv.log() {
				rng = append(rng, r.rng)
			}
			if !slices.Equal(rng, tc.wantRange) {
				t.Errorf("Range headers %q, want %q", rng, tc.wantRange)
			}
		})
	}
}

func TestFetchFailsAtOnceOn404And403(t *testing.T) {
	for _, code := range []int{404, 403} {
		t.Run(http.StatusText(code), func(t *testing.T) {
			srv := newArtifactServer(t)
			srv.inject("/gh/containerd/v2.0.4/containerd.tar.gz", fault{status: code})
			m := Mirror{From: "https://github.com", To: srv.URL + "/gh"}
			f := newTestFetcher(t, WithMirrors([]Mirror{m}))
			orig := "https://github.com/containerd/v2.0.4/containerd.tar.gz"
			_, err := f.Fetch(context.Background(), []Request{{URL: orig, Digest: digestOf([]byte("x"))}})
			if err == nil {
				t.Fatal("no error")
			}
			if n := len(srv.log()); n != 1 {
				t.Errorf("%d requests, want 1 (no retry on %d)", n, code)
			}
			msg := err.Error()
			for _, want := range []string{orig, srv.URL + "/gh/containerd/v2.0.4/containerd.tar.gz", m.String(), http.StatusText(code)} {
				if !strings.Contains(msg, want) {
					t.Errorf("error does not mention %q:\n%s", want, msg)
				}
			}
			if h := manifest.Hint(err); !strings.Contains(h, m.String()) {
				t.Errorf("hint %q does not name the mirror in use", h)
			}
		})
	}
}

func TestFetchDigestMismatch(t *testing.T) {
	good, evil := randomBytes(50000, 21), randomBytes(50000, 22)
	srv := newArtifactServer(t)
	url := srv.add("/runc.amd64", good)
	srv.inject("/runc.amd64", fault{body: evil})
	f := newTestFetcher(t)
	_, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(good)}})
	if err == nil {
		t.Fatal("bytes with another digest were accepted")
	}
	if manifest.ExitCode(err) != manifest.ExitVerification {
		t.Errorf("exit code %d, want %d", manifest.ExitCode(err), manifest.ExitVerification)
	}
	for _, want := range []string{url, string(digestOf(good)), string(digestOf(evil))} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %s:\n%v", want, err)
		}
	}
	if h := manifest.Hint(err); !strings.Contains(h, "pinned digest is wrong") {
		t.Errorf("hint %q", h)
	}
	if n := len(srv.log()); n != 1 {
		t.Errorf("%d requests: a digest mismatch must not be retried", n)
	}
	assertNothingKept(t, f)
}

// assertNothingKept checks that the cache holds no file but lock files.
func assertNothingKept(t *testing.T, f *Fetcher) {
	t.Helper()
	filepath.WalkDir(f.CacheDir(), func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".lock") {
			t.Errorf("left in the cache: %s", p)
		}
		return nil
	})
}

func TestFetchGivesUpAfterRetries(t *testing.T) {
	srv := newArtifactServer(t)
	url := srv.add("/f", []byte("x"))
	for range 10 {
		srv.inject("/f", fault{status: 503})
	}
	f := newTestFetcher(t, WithRetries(2))
	_, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf([]byte("x"))}})
	if err == nil {
		t.Fatal("no error")
	}
	if n := len(srv.log()); n != 3 {
		t.Errorf("%d requests, want 1 + 2 retries", n)
	}
	if !strings.Contains(err.Error(), "after 3 attempts") || manifest.Hint(err) == "" {
		t.Errorf("error: %v", err)
	}
}

func TestIdleTimeoutIsNotATotalCap(t *testing.T) {
	content := randomBytes(400<<10, 31) // 25 chunks of 16 KiB, 30 ms apart: ~750 ms
	srv := newArtifactServer(t)
	url := srv.add("/slow", content)
	srv.inject("/slow", fault{slow: 30 * time.Millisecond})
	f := newTestFetcher(t, WithTimeout(200*time.Millisecond), WithRetries(0))
	start := time.Now()
	if _, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(content)}}); err != nil {
		t.Fatal(err)
	}
	if el := time.Since(start); el < 500*time.Millisecond {
		t.Fatalf("download took %v: the server was not slow, the test proves nothing", el)
	}
}

func TestFetchCorruptCacheEntryIsFetchedAgain(t *testing.T) {
	content := randomBytes(1000, 41)
	srv := newArtifactServer(t)
	url := srv.add("/f", content)
	f := newTestFetcher(t)
	p := f.CachePath(digestOf(content))
	os.MkdirAll(filepath.Dir(p), 0o755)
	os.WriteFile(p, []byte("bit rot"), 0o644)
	if _, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(content)}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, content) {
		t.Error("damaged cache entry was kept")
	}
	if len(srv.log()) != 1 {
		t.Errorf("%d requests, want 1", len(srv.log()))
	}
}

func TestFetchSameDigestTwiceDownloadsOnce(t *testing.T) {
	content := randomBytes(100000, 51)
	srv := newArtifactServer(t)
	u1, u2 := srv.add("/a", content), srv.add("/b", content)
	f := newTestFetcher(t)
	paths, err := f.Fetch(context.Background(), []Request{{URL: u1, Digest: digestOf(content)}, {URL: u2, Digest: digestOf(content)}})
	if err != nil {
		t.Fatal(err)
	}
	if paths[0] != paths[1] || len(srv.log()) != 1 {
		t.Errorf("paths %v, %d requests; want one download", paths, len(srv.log()))
	}
}

func TestFetchReportsEveryFailure(t *testing.T) {
	srv := newArtifactServer(t)
	ok := randomBytes(10, 61)
	reqs := []Request{
		{URL: srv.URL + "/missing-1", Digest: digestOf([]byte("1"))},
		{URL: srv.add("/ok", ok), Digest: digestOf(ok)},
		{URL: srv.URL + "/missing-2", Digest: digestOf([]byte("2"))},
	}
	_, err := newTestFetcher(t).Fetch(context.Background(), reqs)
	if err == nil || !strings.Contains(err.Error(), "/missing-1") || !strings.Contains(err.Error(), "/missing-2") {
		t.Errorf("error %v does not name both failures", err)
	}
}

func TestFetchRejectsMalformedDigestBeforeNetwork(t *testing.T) {
	srv := newArtifactServer(t)
	url := srv.add("/f", []byte("x"))
	for _, d := range []manifest.Digest{"", "md5:abc", "sha256:../../etc/passwd", manifest.Digest("sha256:" + strings.Repeat("A", 64))} {
		if _, err := newTestFetcher(t).Fetch(context.Background(), []Request{{URL: url, Digest: d}}); err == nil {
			t.Errorf("digest %q accepted", d)
		}
	}
	if len(srv.log()) != 0 {
		t.Error("network used for a malformed request")
	}
	if (&Fetcher{dir: "/c"}).CachePath("sha256:../x") != "" {
		t.Error("CachePath accepted a malformed digest")
	}
}

func TestProgressEvents(t *testing.T) {
	content := randomBytes(3<<19, 71)
	srv := newArtifactServer(t)
	url := srv.add("/big", content)
	srv.inject("/big", fault{slow: 5 * time.Millisecond})
	var mu sync.Mutex
	var events []Event
	f := newTestFetcher(t, WithProgress(func(e Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	}))
	req := []Request{{URL: url, Digest: digestOf(content)}}
	if _, err := f.Fetch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	size := int64(len(content))
	if events[0].Kind != EventStart || events[0].Total != size {
		t.Errorf("first event %+v", events[0])
	}
	last := events[len(events)-1]
	if last.Kind != EventDone || last.Done != size || last.Total != size || last.URL != url || last.Digest != req[0].Digest {
		t.Errorf("last event %+v", last)
	}
	var progress int
	for i := 1; i < len(events); i++ {
		if events[i].Done < events[i-1].Done {
			t.Errorf("Done went backwards: %d then %d", events[i-1].Done, events[i].Done)
		}
		if events[i].Kind == EventProgress && events[i].Done < size {
			progress++
		}
	}
	if progress == 0 {
		t.Error("no intermediate progress event during a ~1 s download")
	}
	events = nil
	if _, err := f.Fetch(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	if len(events) != 1 || events[0].Kind != EventCached || events[0].Done != size {
		t.Errorf("warm fetch events %+v, want one cached event", events)
	}
}

func TestGet(t *testing.T) {
	srv := newArtifactServer(t)
	sums := []byte(hexA + "  runc.amd64\n")
	srv.add("/mirror/opencontainers/runc/releases/download/v1.2.5/runc.sha256sum", sums)
	srv.inject("/mirror/opencontainers/runc/releases/download/v1.2.5/runc.sha256sum", fault{status: 502})
	f := newTestFetcher(t, WithMirrors([]Mirror{
		{From: "https://github.com", To: "http://127.0.0.1:1/wrong"},
		{From: "https://github.com/opencontainers", To: srv.URL + "/mirror/opencontainers"},
	}))
	got, err := f.Get(context.Background(), "https://github.com/opencontainers/runc/releases/download/v1.2.5/runc.sha256sum")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, sums) {
		t.Errorf("got %q", got)
	}
	if len(srv.log()) != 2 {
		t.Errorf("%d requests, want 2 (one 502, one retry)", len(srv.log()))
	}

	_, err = f.Get(context.Background(), "https://github.com/opencontainers/runc/releases/download/v9.9.9/runc.sha256sum")
	if err == nil || !strings.Contains(err.Error(), "v9.9.9") || manifest.Hint(err) == "" {
		t.Errorf("404: %v", err)
	}

	big := srv.add("/big", make([]byte, maxChecksumFile+1))
	if _, err := newTestFetcher(t).Get(context.Background(), big); err == nil || !strings.Contains(err.Error(), "not a checksum file") {
		t.Errorf("oversized file: %v", err)
	}
}

func TestDownloadDigest(t *testing.T) {
	content := randomBytes(200<<10, 81)
	srv := newArtifactServer(t)
	url := srv.add("/docker-27.5.1.tgz", content)
	f := newTestFetcher(t)
	for _, alg := range []string{manifest.SHA256, manifest.SHA512} {
		d, path, err := f.DownloadDigest(context.Background(), url, alg)
		if err != nil {
			t.Fatal(err)
		}
		want := digestOf(content)
		if alg == manifest.SHA512 {
			want = digest512Of(content)
		}
		if d != want || path != f.CachePath(d) {
			t.Errorf("%s: got %s at %s, want %s at %s", alg, d, path, want, f.CachePath(want))
		}
	}
	if parts, _ := filepath.Glob(filepath.Join(f.tmpDir(), "*.part")); len(parts) != 0 {
		t.Errorf("temp files left: %v", parts)
	}
	srv.Close()
	if _, err := f.Fetch(context.Background(), []Request{{URL: url, Digest: digestOf(content)}}); err != nil {
		t.Errorf("a trusted-on-first-use download is not served from the cache: %v", err)
	}
	if _, _, err := f.DownloadDigest(context.Background(), url, "md5"); err == nil {
		t.Error("md5 accepted")
	}
}

// Without an expected digest, a broken transfer may resume only when the
// server offers a validator (If-Range): two versions must never be stitched.
func TestDownloadDigestResumesOnlyWithValidator(t *testing.T) {
	content := randomBytes(100<<10, 91)
	for _, etags := range []bool{false, true} {
		srv := newArtifactServer(t)
		srv.etags = etags
		url := srv.add("/f", content)
		srv.inject("/f", fault{cutAfter: 30000})
		d, _, err := newTestFetcher(t).DownloadDigest(context.Background(), url, manifest.SHA256)
		if err != nil {
			t.Fatal(err)
		}
		if d != digestOf(content) {
			t.Errorf("etags=%v: digest %s, want %s", etags, d, digestOf(content))
		}
		log := srv.log()
		if len(log) != 2 {
			t.Fatalf("etags=%v: %d requests", etags, len(log))
		}
		if etags && (log[1].rng != "bytes=30000-" || log[1].ifRange == "") {
			t.Errorf("with an ETag the retry should resume with If-Range: %+v", log[1])
		}
		if !etags && log[1].rng != "" {
			t.Errorf("without a validator the retry resumed: %+v", log[1])
		}
	}
}

func TestMirrorRewrite(t *testing.T) {
	ms := []Mirror{
		{From: "https://github.com", To: "http://nexus.internal/github"},
		{From: "https://github.com/containerd/", To: "http://nexus.internal/containerd/"},
		{From: "https://storage.googleapis.com/gvisor", To: "http://nexus.internal/gvisor"},
		{From: "docker.io", To: "harbor.internal/dockerhub"}, // registry mirror: ignored for URLs
	}
	tests := []struct{ in, want string }{
		{"https://github.com/opencontainers/runc/releases/download/v1.2.5/runc.amd64", "http://nexus.internal/github/opencontainers/runc/releases/download/v1.2.5/runc.amd64"},
		{"https://github.com/containerd/containerd/releases/download/v2.0.4/x.tar.gz", "http://nexus.internal/containerd/containerd/releases/download/v2.0.4/x.tar.gz"},
		{"https://github.com/containerdx/y", "http://nexus.internal/github/containerdx/y"},
		{"https://github.com.evil.example/x", "https://github.com.evil.example/x"},
		{"https://github.com", "http://nexus.internal/github"},
		{"https://github.com?x=1", "http://nexus.internal/github?x=1"},
		{"https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/runsc", "http://nexus.internal/gvisor/releases/release/20250331.0/x86_64/runsc"},
		{"https://storage.googleapis.com/gvisorx/y", "https://storage.googleapis.com/gvisorx/y"},
		{"https://download.docker.com/linux/static/stable/x86_64/docker-27.5.1.tgz", "https://download.docker.com/linux/static/stable/x86_64/docker-27.5.1.tgz"},
	}
	for _, tc := range tests {
		got, _ := rewriteURL(ms, tc.in)
		if got != tc.want {
			t.Errorf("rewrite(%s) = %s, want %s", tc.in, got, tc.want)
		}
	}
}

func TestParseMirror(t *testing.T) {
	good := map[string]Mirror{
		"https://github.com=http://127.0.0.1:8080/github.com": {"https://github.com", "http://127.0.0.1:8080/github.com"},
		"docker.io=harbor.internal/dockerhub":                 {"docker.io", "harbor.internal/dockerhub"},
		"https://x.example/a?b=c=http://y.example":            {}, // query: rejected below
	}
	for s, want := range good {
		m, err := ParseMirror(s)
		if want == (Mirror{}) {
			if err == nil {
				t.Errorf("ParseMirror(%q) accepted %v", s, m)
			}
			continue
		}
		if err != nil || m != want {
			t.Errorf("ParseMirror(%q) = %v, %v; want %v", s, m, err, want)
		}
		if m.String() != s {
			t.Errorf("String() = %q, want %q", m.String(), s)
		}
	}
	for _, s := range []string{"", "=", "https://github.com", "https://github.com=", "=http://x", "https://github.com=harbor.internal", "docker.io=http://harbor", "ftp://a=ftp://b", "a b=c"} {
		if m, err := ParseMirror(s); err == nil {
			t.Errorf("ParseMirror(%q) accepted %v", s, m)
		} else if manifest.Hint(err) == "" {
			t.Errorf("ParseMirror(%q): no hint: %v", s, err)
		}
	}
}

func TestNewRejectsBadOptions(t *testing.T) {
	for _, o := range []Option{WithParallelism(0), WithRetries(-1), WithTimeout(0), WithCacheDir(""), WithHTTPClient(nil), WithLogger(nil),
		WithMirrors([]Mirror{{From: "https://a", To: ""}})} {
		if _, err := New(o); err == nil {
			t.Error("bad option accepted")
		}
	}
}

// http.ProxyFromEnvironment reads the environment once per process, so the
// check runs in a child process started with HTTP_PROXY set.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("SATCHEL_FETCH_PROXY_CHILD") == "1" {
		content := []byte(os.Getenv("SATCHEL_FETCH_CONTENT"))
		f := newTestFetcher(t, WithRetries(0))
		paths, err := f.Fetch(context.Background(), []Request{{URL: "http://artifacts.example.invalid/runc.amd64", Digest: digestOf(content)}})
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := os.ReadFile(paths[0]); !bytes.Equal(got, content) {
			t.Fatal("content differs")
		}
		return
	}
	content := "served by the proxy"
	var mu sync.Mutex
	var seen []string
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		seen = append(seen, r.URL.String())
		mu.Unlock()
		w.Write([]byte(content))
	}))
	defer proxy.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.count=1")
	cmd.Env = []string{"SATCHEL_FETCH_PROXY_CHILD=1", "SATCHEL_FETCH_CONTENT=" + content, "HTTP_PROXY=" + proxy.URL, "HOME=" + t.TempDir()}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{"http://artifacts.example.invalid/runc.amd64"}) {
		t.Errorf("proxy saw %v", seen)
	}
}
