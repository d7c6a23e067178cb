package fetch

import (
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/layout"

	"github.com/satchel-dev/satchel/fetch/internal/faultserver"
	fl "github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/manifest"
)

// registryFaultCase is one fault on a registry request and what must come
// of the pull.
type registryFaultCase struct {
	name     string
	target   string // "layer" (GET of a layer blob), "manifest" (GET of the image manifest), "tag" (manifest GETs of ResolveImage)
	faults   []faultserver.Fault
	always   *faultserver.Fault
	ok       bool
	errHas   []string
	errAny   []string
	exit     int
	requests int // GETs of the target the registry must have seen; 0: not checked (ggcr's retries decide)
}

func registryFaultCases() []registryFaultCase {
	trickle := faultserver.Fault{Kind: faultserver.Trickle, Interval: 10 * time.Millisecond}
	slow := []string{"below the minimum of 8.0 KiB/s", "no data for 500ms"} // as in fetchFaultCases
	return []registryFaultCase{
		// Bodies longer than the descriptor: never stored.
		{name: "endless body", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.Endless}},
			errHas: []string{"server sent more than the", "bytes the descriptor of"}, exit: manifest.ExitVerification, requests: 1},
		{name: "10 GiB announced", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.EndlessAnnounced, N: 10 << 30}},
			errHas: []string{"server announced 10737418240 bytes (Content-Length) for a blob of"}, exit: manifest.ExitVerification, requests: 1},
		{name: "body runs past its Content-Length", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.EndlessAnnounced, N: -1}}, ok: true, requests: 1},
		// Too slow: abandoned within a window, retried, reported.
		{name: "trickle", target: "layer", always: &trickle, errHas: []string{"too slowly"}, errAny: slow, exit: manifest.ExitFailure, requests: 3},
		{name: "stall before any byte", target: "layer", always: &faultserver.Fault{Kind: faultserver.Stall},
			errHas: []string{"no data for 500ms"}, exit: manifest.ExitFailure, requests: 3},
		{name: "slow headers", target: "layer", always: &faultserver.Fault{Kind: faultserver.SlowHeaders, Interval: 2 * time.Second},
			errHas: []string{"no response headers for 500ms"}, exit: manifest.ExitFailure},
		{name: "trickle once, then healthy", target: "layer", faults: []faultserver.Fault{trickle}, ok: true, requests: 2},
		{name: "manifest trickle", target: "manifest", always: &trickle, errHas: []string{"too slowly"}, errAny: slow, exit: manifest.ExitFailure},
		{name: "tag trickle at lock", target: "tag", always: &trickle, errHas: []string{"too slowly"}, errAny: slow, exit: manifest.ExitFailure},
		// Resets and statuses: retried to success.
		{name: "reset mid-body, then healthy", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.Reset, N: 500}}, ok: true, requests: 2},
		{name: "5xx twice, then healthy", target: "layer", faults: []faultserver.Fault{status(503), status(500)}, ok: true, requests: 3},
		{name: "429 with Retry-After, then healthy", target: "layer",
			faults: []faultserver.Fault{{Kind: faultserver.Status, Code: 429, RetryAfter: "1"}}, ok: true, requests: 2},
		{name: "5xx every time", target: "layer", always: &faultserver.Fault{Kind: faultserver.Status, Code: 503},
			errHas: []string{"503"}, exit: manifest.ExitFailure},
		// Wrong bytes and lying lengths: verification failures, not retried.
		{name: "wrong bytes", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.WrongBytes}},
			errHas: []string{"blob: expected sha256:"}, exit: manifest.ExitVerification, requests: 1},
		{name: "Content-Length too large", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.WrongLength, Delta: 100}},
			errHas: []string{"(Content-Length) for a blob of"}, exit: manifest.ExitVerification, requests: 1},
		{name: "Content-Length too small", target: "layer", faults: []faultserver.Fault{{Kind: faultserver.WrongLength, Delta: -100}},
			errHas: []string{"(Content-Length) for a blob of"}, exit: manifest.ExitVerification, requests: 1},
		{name: "redirect loop", target: "layer", always: fk(faultserver.RedirectLoop),
			errHas: []string{"stopped after 10 redirects", "redirects in a loop"}, exit: manifest.ExitFailure, requests: 10},
	}
}

func runRegistryFault(t *testing.T, tc registryFaultCase) {
	inj := faultserver.New(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	var matcher atomic.Pointer[func(*http.Request) bool]
	var requests atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if m := matcher.Load(); m != nil && (*m)(r) {
			requests.Add(1)
		}
		inj.ServeHTTP(w, r)
	}))
	t.Cleanup(func() { inj.Close(); srv.Close() })
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/app:v1"
	img := platformImage(t, amd64, 5)
	push(t, ref, img)
	m, _ := img.Manifest()
	h, _ := img.Digest()
	layer := m.Layers[0]

	get := func(suffix string) func(*http.Request) bool {
		return func(r *http.Request) bool { return r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, suffix) }
	}
	var match func(*http.Request) bool
	switch tc.target {
	case "layer":
		match = faultserver.BlobGET(layer.Digest.String())
	case "manifest":
		match = get("/manifests/" + h.String())
	case "tag":
		match = func(r *http.Request) bool {
			return r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/manifests/")
		}
	}
	matcher.Store(&match)
	faults := slices.Clone(tc.faults)
	for i, f := range faults {
		if f.Kind == faultserver.EndlessAnnounced && f.N == -1 {
			faults[i].N = layer.Size // honest length, then more bytes
		}
	}
	inj.Inject(match, faults...)
	if tc.always != nil {
		inj.Always(match, *tc.always)
	}

	opts := ImageOptions{Timeout: stallTimeout(slowness(tc.faults, tc.always)), MinRate: faultMinRate, fastRetry: true}
	ctx, cancel := context.WithTimeout(context.Background(), 4*faultBound)
	defer cancel()
	dir := t.TempDir()
	start := time.Now()
	var err error
	var got *manifest.Image
	if tc.target == "tag" {
		opts.Platforms = []string{"linux/amd64"} // makes ResolveImage GET the manifest
		_, err = ResolveImage(ctx, ref, opts)
	} else {
		got, err = PullImage(ctx, ref, manifest.Digest(h.String()), opts, dir)
	}
	elapsed := time.Since(start)

	if elapsed > faultBound {
		t.Errorf("took %v, more than %v", elapsed, faultBound)
	}
	if tc.requests > 0 && int(requests.Load()) != tc.requests {
		t.Errorf("%d requests for the %s, want %d", requests.Load(), tc.target, tc.requests)
	}
	if tc.ok {
		if err != nil {
			t.Fatalf("want success, got %v", err)
		}
		if !slices.Equal(layoutBlobs(t, dir), sorted(got.Blobs)) {
			t.Errorf("layout holds %v, want %v", layoutBlobs(t, dir), got.Blobs)
		}
		return
	}
	if err == nil {
		t.Fatal("want an error, got success")
	}
	if ctx.Err() != nil {
		t.Fatalf("ran into the test's own deadline: %v", err)
	}
	msg := fl.Text(err)
	for _, want := range append([]string{host + "/app"}, tc.errHas...) {
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
	if tc.target == "tag" {
		return
	}
	// Nothing half-written: no temporary file, not the faulty blob, and
	// no index entry for a failed pull.
	if tmp, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".tmp-*")); len(tmp) > 0 {
		t.Errorf("temporary files left: %v", tmp)
	}
	if slices.Contains(layoutBlobs(t, dir), manifest.Digest(layer.Digest.String())) {
		t.Errorf("the faulty layer is in the layout")
	}
	lp, _ := layout.FromPath(dir)
	ii, _ := lp.ImageIndex()
	if im, _ := ii.IndexManifest(); im != nil && len(im.Manifests) != 0 {
		t.Errorf("index.json names a failed pull: %v", im.Manifests)
	}
}

// TestHardeningRegistryFaults is issue 7 findings 8 and 9 for images: the
// same faults on go-containerregistry's registry, on blob and manifest
// GETs, end in the expected success or a specific error within
// faultBound, with nothing half-written in the layout.
func TestHardeningRegistryFaults(t *testing.T) {
	tally := &hardeningTally{class: "registry-faults"}
	t.Run("cases", func(t *testing.T) {
		for _, tc := range registryFaultCases() {
			t.Run(tc.target+"/"+tc.name, func(t *testing.T) {
				t.Parallel()
				tally.track(t)
				runRegistryFault(t, tc)
			})
		}
	})
	tally.report(t)
}
