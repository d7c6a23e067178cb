package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log"
	"math/rand"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/satchel-dev/satchel/manifest"
)

// testRegistry is ggcr's in-process registry on a loopback port, with an
// optional handler wrapped around it (to tamper with answers).
type testRegistry struct {
	*httptest.Server
	host string
}

func newTestRegistry(t *testing.T, wrap func(http.Handler) http.Handler) *testRegistry {
	t.Helper()
	var h http.Handler = registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	if wrap != nil {
		h = wrap(h)
	}
	r := &testRegistry{}
	r.Server = httptest.NewServer(h)
	r.host = strings.TrimPrefix(r.URL, "http://")
	t.Cleanup(r.Close)
	return r
}

// platformImage is a random image whose config names platform p.
func platformImage(t *testing.T, p v1.Platform, seed int64) v1.Image {
	t.Helper()
	img, err := random.Image(2048, 2, random.WithSource(rand.NewSource(seed)))
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture, cf.Variant = p.OS, p.Architecture, p.Variant
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}
	return img
}

var (
	amd64   = v1.Platform{OS: "linux", Architecture: "amd64"}
	arm64v8 = v1.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}
	ppc64le = v1.Platform{OS: "linux", Architecture: "ppc64le"}
	unknown = v1.Platform{OS: "unknown", Architecture: "unknown"} // like Docker Hub's attestation entries
)

// multiPlatform pushes an OCI index for the given platforms to ref and
// returns it with its images.
func multiPlatform(t *testing.T, ref string, ps ...v1.Platform) (v1.ImageIndex, []v1.Image) {
	t.Helper()
	var adds []mutate.IndexAddendum
	var imgs []v1.Image
	for i, p := range ps {
		img := platformImage(t, p, int64(100+i))
		imgs = append(imgs, img)
		adds = append(adds, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &p}})
	}
	idx := mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...)
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx); err != nil {
		t.Fatal(err)
	}
	return idx, imgs
}

func push(t *testing.T, ref string, img v1.Image) {
	t.Helper()
	r, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(r, img); err != nil {
		t.Fatal(err)
	}
}

// blobsOf lists an image's manifest, config and layer digests.
func blobsOf(t *testing.T, img v1.Image) []manifest.Digest {
	t.Helper()
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	d, _ := img.Digest()
	out := []manifest.Digest{manifest.Digest(d.String()), manifest.Digest(m.Config.Digest.String())}
	for _, l := range m.Layers {
		out = append(out, manifest.Digest(l.Digest.String()))
	}
	return out
}

// layoutBlobs lists the digests of every file under blobs/.
func layoutBlobs(t *testing.T, dir string) []manifest.Digest {
	t.Helper()
	var out []manifest.Digest
	entries, _ := os.ReadDir(filepath.Join(dir, "blobs", "sha256"))
	for _, e := range entries {
		out = append(out, manifest.Digest("sha256:"+e.Name()))
	}
	return out
}

func sorted(ds []manifest.Digest) []manifest.Digest {
	ds = slices.Clone(ds)
	slices.Sort(ds)
	return ds
}

func TestPullImageKeepsOnlyRequestedPlatforms(t *testing.T) {
	reg := newTestRegistry(t, nil)
	ref := reg.host + "/library/multi:1"
	idx, imgs := multiPlatform(t, ref, amd64, arm64v8, ppc64le, unknown)
	h, _ := idx.Digest()
	upstream := manifest.Digest(h.String())
	o := ImageOptions{Platforms: []string{"linux/amd64", "linux/arm64"}}
	ctx := context.Background()

	d, err := ResolveImage(ctx, ref, o)
	if err != nil {
		t.Fatal(err)
	}
	if d != upstream {
		t.Fatalf("resolved %s, pushed index is %s", d, upstream)
	}

	dir := t.TempDir()
	img, err := PullImage(ctx, ref, d, o, dir)
	if err != nil {
		t.Fatal(err)
	}

	// The stored index is the filtered one; its digest is what we report.
	raw, err := os.ReadFile(filepath.Join(dir, "blobs", "sha256", img.Digest.Hex()))
	if err != nil {
		t.Fatalf("stored index: %v", err)
	}
	if img.Digest == upstream || digestOf(raw) != img.Digest {
		t.Errorf("Digest %s: want the digest of the stored (filtered) index, not upstream %s", img.Digest, upstream)
	}
	stored, err := v1.ParseIndexManifest(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	if stored.Annotations[AnnotationUpstreamDigest] != string(upstream) {
		t.Errorf("stored index annotations %v lack the upstream digest", stored.Annotations)
	}
	amdD, _ := imgs[0].Digest()
	armD, _ := imgs[1].Digest()
	if len(stored.Manifests) != 2 || stored.Manifests[0].Digest != amdD || stored.Manifests[1].Digest != armD {
		t.Errorf("stored index lists %v, want the amd64 and arm64 manifests", stored.Manifests)
	}
	// Kept entries are upstream's bytes.
	upRaw, _ := idx.RawManifest()
	var up, got struct{ Manifests []json.RawMessage }
	json.Unmarshal(upRaw, &up)
	json.Unmarshal(raw, &got)
	if len(got.Manifests) != 2 || !bytes.Equal(got.Manifests[0], up.Manifests[0]) || !bytes.Equal(got.Manifests[1], up.Manifests[1]) {
		t.Errorf("kept entries differ from upstream's:\n%s\n%s", got.Manifests, up.Manifests[:2])
	}
	if img.MediaType != string(types.OCIImageIndex) || !slices.Equal(img.Platforms, []string{"linux/amd64", "linux/arm64"}) || img.Ref != ref {
		t.Errorf("image %+v", img)
	}

	// Blobs: exactly the index and the two platforms' blobs; none of
	// ppc64le's or the attestation's.
	want := append([]manifest.Digest{img.Digest}, blobsOf(t, imgs[0])...)
	want = append(want, blobsOf(t, imgs[1])...)
	if !slices.Equal(img.Blobs, want) {
		t.Errorf("Image.Blobs\n%v\nwant\n%v", img.Blobs, want)
	}
	if !slices.Equal(layoutBlobs(t, dir), sorted(want)) {
		t.Errorf("layout holds %v, want %v", layoutBlobs(t, dir), sorted(want))
	}
	for _, other := range imgs[2:] {
		for _, b := range blobsOf(t, other) {
			if _, err := os.Stat(filepath.Join(dir, "blobs", "sha256", b.Hex())); err == nil {
				t.Errorf("blob %s of an unrequested platform is in the layout", b)
			}
		}
	}

	// The layout is a valid OCI layout whose entry is the filtered index.
	lp, err := layout.FromPath(dir)
	if err != nil {
		t.Fatal(err)
	}
	ii, err := lp.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	im, _ := ii.IndexManifest()
	if len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != string(img.Digest) ||
		im.Manifests[0].Annotations[AnnotationImageName] != ref || im.Manifests[0].Annotations[AnnotationUpstreamDigest] != string(upstream) ||
		im.Manifests[0].Annotations["org.opencontainers.image.ref.name"] != "1" {
		t.Errorf("index.json: %+v", im.Manifests)
	}
	fi, err := ii.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Index(fi); err != nil {
		t.Errorf("stored image does not validate: %v", err)
	}

	// Pulled again with the registry gone: served from the layout.
	reg.Close()
	again, err := PullImage(ctx, ref, d, o, dir)
	if err != nil {
		t.Fatalf("complete layout needed the network: %v", err)
	}
	if again.Digest != img.Digest || !slices.Equal(again.Blobs, img.Blobs) || !slices.Equal(again.Platforms, img.Platforms) {
		t.Errorf("second pull %+v, first %+v", again, img)
	}
}

func TestPullImageUnfilteredStoresUpstreamIndex(t *testing.T) {
	reg := newTestRegistry(t, nil)
	tests := []struct {
		name          string
		ps            []v1.Platform
		request, want []string
	}{
		{"every platform requested", []v1.Platform{amd64, arm64v8}, []string{"linux/arm64", "linux/amd64"}, []string{"linux/arm64", "linux/amd64"}},
		{"no platform requested", []v1.Platform{amd64, arm64v8, unknown}, nil, []string{"linux/amd64", "linux/arm64/v8"}},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ref := reg.host + "/pause:3.1" + strconv.Itoa(i)
			idx, _ := multiPlatform(t, ref, tc.ps...)
			h, _ := idx.Digest()
			dir := t.TempDir()
			img, err := PullImage(context.Background(), ref, manifest.Digest(h.String()), ImageOptions{Platforms: tc.request}, dir)
			if err != nil {
				t.Fatal(err)
			}
			if img.Digest != manifest.Digest(h.String()) {
				t.Errorf("nothing filtered, yet digest %s != upstream %s", img.Digest, h)
			}
			raw, _ := idx.RawManifest()
			if got, _ := os.ReadFile(filepath.Join(dir, "blobs", "sha256", h.Hex)); !bytes.Equal(got, raw) {
				t.Error("stored index is not upstream's bytes")
			}
			if !slices.Equal(img.Platforms, tc.want) {
				t.Errorf("platforms %v, want %v", img.Platforms, tc.want)
			}
		})
	}
}

func TestPullImageSinglePlatform(t *testing.T) {
	reg := newTestRegistry(t, nil)
	ref := reg.host + "/app:v1"
	img := platformImage(t, amd64, 7)
	push(t, ref, img)
	h, _ := img.Digest()
	d := manifest.Digest(h.String())
	ctx := context.Background()

	dir := t.TempDir()
	got, err := PullImage(ctx, ref, d, ImageOptions{Platforms: []string{"linux/amd64"}}, dir)
	if err != nil {
		t.Fatal(err)
	}
	if got.Digest != d || !slices.Equal(got.Blobs, blobsOf(t, img)) || !slices.Equal(layoutBlobs(t, dir), sorted(blobsOf(t, img))) {
		t.Errorf("pulled %+v", got)
	}
	mt, _ := img.MediaType()
	if got.MediaType != string(mt) {
		t.Errorf("media type %s, want %s", got.MediaType, mt)
	}

	for _, ps := range [][]string{{"linux/arm64"}, {"linux/amd64", "linux/arm64"}} {
		_, err := PullImage(ctx, ref, d, ImageOptions{Platforms: ps}, t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "single-platform image for linux/amd64") || manifest.Hint(err) == "" {
			t.Errorf("platforms %v: %v", ps, err)
		}
		if _, err := ResolveImage(ctx, ref, ImageOptions{Platforms: ps}); err == nil {
			t.Errorf("ResolveImage accepted platforms %v", ps)
		}
	}
}

func TestPullImageMissingPlatform(t *testing.T) {
	reg := newTestRegistry(t, nil)
	ref := reg.host + "/library/nginx:1.27.4"
	idx, _ := multiPlatform(t, ref, amd64, ppc64le, unknown)
	h, _ := idx.Digest()
	o := ImageOptions{Platforms: []string{"linux/amd64", "linux/arm64"}}
	dir := t.TempDir()
	_, err := PullImage(context.Background(), ref, manifest.Digest(h.String()), o, dir)
	if err == nil {
		t.Fatal("an image without linux/arm64 was accepted")
	}
	for _, want := range []string{"linux/arm64", "it has: linux/amd64, linux/ppc64le)", ref} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "unknown/unknown") {
		t.Errorf("error lists attestation entries as platforms: %v", err)
	}
	if manifest.Hint(err) == "" {
		t.Errorf("no hint: %v", err)
	}
	if n := layoutBlobs(t, dir); len(n) != 0 {
		t.Errorf("blobs written for a failed pull: %v", n)
	}
	if _, err := ResolveImage(context.Background(), ref, o); err == nil || !strings.Contains(err.Error(), "linux/arm64") {
		t.Errorf("ResolveImage: %v", err)
	}
}

func TestRegistryMirror(t *testing.T) {
	reg := newTestRegistry(t, nil)
	img := platformImage(t, amd64, 9)
	push(t, reg.host+"/dockerhub/library/busybox:1.36", img)
	h, _ := img.Digest()
	want := manifest.Digest(h.String())
	mirrors := []Mirror{
		{From: "docker.io", To: "unreachable.invalid/dockerhub"},
		{From: "docker.io/library", To: reg.host + "/dockerhub/library"}, // longer: wins
		{From: "ghcr.io", To: reg.host + "/ghcr"},
	}
	ctx := context.Background()
	for _, ref := range []string{"busybox:1.36", "docker.io/library/busybox:1.36", "index.docker.io/library/busybox:1.36", "docker.io/busybox:1.36"} {
		d, err := ResolveImage(ctx, ref, ImageOptions{RegistryMirrors: mirrors})
		if err != nil {
			t.Errorf("%s: %v", ref, err)
			continue
		}
		if d != want {
			t.Errorf("%s resolved to %s, want %s", ref, d, want)
		}
	}
	dir := t.TempDir()
	got, err := PullImage(ctx, "docker.io/library/busybox:1.36", want, ImageOptions{RegistryMirrors: mirrors}, dir)
	if err != nil {
		t.Fatal(err)
	}
	lp, _ := layout.FromPath(dir)
	ii, _ := lp.ImageIndex()
	im, _ := ii.IndexManifest()
	if got.Ref != "docker.io/library/busybox:1.36" || im.Manifests[0].Annotations[AnnotationImageName] != "docker.io/library/busybox:1.36" {
		t.Errorf("the layout names the mirror, not the image: %+v", im.Manifests[0].Annotations)
	}

	_, err = ResolveImage(ctx, "docker.io/library/busybox:9.9", ImageOptions{RegistryMirrors: mirrors})
	if err == nil {
		t.Fatal("missing tag resolved")
	}
	for _, s := range []string{"docker.io/library/busybox:9.9", reg.host + "/dockerhub/library/busybox:9.9", mirrors[1].String()} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error lacks %q: %v", s, err)
		}
	}
	if !strings.Contains(manifest.Hint(err), mirrors[1].String()) {
		t.Errorf("hint %q does not name the mirror", manifest.Hint(err))
	}
}

func TestResolveRef(t *testing.T) {
	o := ImageOptions{RegistryMirrors: []Mirror{
		{From: "docker.io", To: "harbor.internal/dockerhub"},
		{From: "registry.k8s.io", To: "harbor.internal/k8s/"},
		{From: "quay.io/org", To: "127.0.0.1:5000/quay-org"},
	}}
	tests := []struct{ in, want, scheme string }{
		{"nginx:1.27.4", "harbor.internal/dockerhub/library/nginx:1.27.4", "https"},
		{"docker.io/library/nginx@sha256:" + hexA, "harbor.internal/dockerhub/library/nginx@sha256:" + hexA, "https"},
		{"grafana/grafana:11", "harbor.internal/dockerhub/grafana/grafana:11", "https"},
		{"registry.k8s.io/pause:3.10", "harbor.internal/k8s/pause:3.10", "https"},
		{"quay.io/org/app:1", "127.0.0.1:5000/quay-org/app:1", "http"},
		{"quay.io/orgx/app:1", "quay.io/orgx/app:1", "https"},
		{"ghcr.io/a/b:1", "ghcr.io/a/b:1", "https"},
		{"localhost:5000/a:1", "localhost:5000/a:1", "http"},
	}
	for _, tc := range tests {
		r, err := o.resolveRef(tc.in)
		if err != nil {
			t.Errorf("%s: %v", tc.in, err)
			continue
		}
		if r.target.String() != tc.want || r.target.Context().Scheme() != tc.scheme {
			t.Errorf("%s → %s (%s), want %s (%s)", tc.in, r.target, r.target.Context().Scheme(), tc.want, tc.scheme)
		}
	}
	for _, m := range []Mirror{{From: "https://docker.io", To: "https://harbor"}, {From: "docker.io", To: "harbor/dockerhub"}} {
		if _, err := (&ImageOptions{RegistryMirrors: []Mirror{m}}).resolveRef("nginx:1"); err == nil || manifest.Hint(err) == "" {
			t.Errorf("mirror %v accepted: %v", m, err)
		}
	}
}

func TestPlainHTTPOnlyForLoopbackOrInsecure(t *testing.T) {
	var reached []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		reached = append(reached, r.URL.String())
		return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader("")), Request: r}, nil
	})
	g := &plainHTTPGuard{base: base, insecure: []string{"registry.internal:5000", "nexus.lan"}}
	tests := []struct {
		url string
		ok  bool
	}{
		{"http://127.0.0.1:5000/v2/", true},
		{"http://127.9.9.9/v2/", true},
		{"http://[::1]:5000/v2/", true},
		{"http://localhost:5000/v2/", true},
		{"http://registry.internal:5000/v2/", true},
		{"http://nexus.lan:8082/v2/", true},
		{"https://10.0.0.1/v2/", true},
		{"http://10.0.0.1:5000/v2/", false}, // ggcr itself would fall back to HTTP here
		{"http://192.168.1.10/v2/", false},
		{"http://registry.internal:5001/v2/", false},
		{"http://registry-1.docker.io/v2/", false},
		{"http://auth.docker.io/token", false},
	}
	for _, tc := range tests {
		reached = nil
		req, _ := http.NewRequest("GET", tc.url, nil)
		_, err := g.RoundTrip(req)
		if (err == nil) != tc.ok || (len(reached) == 1) != tc.ok {
			t.Errorf("%s: err %v, reached %v; want allowed=%v", tc.url, err, reached, tc.ok)
		}
		var pe *plainHTTPError
		if !tc.ok && !errors.As(err, &pe) {
			t.Errorf("%s: error %v is not a plainHTTPError", tc.url, err)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

type brokenKeychain struct{}

func (brokenKeychain) Resolve(authn.Resource) (authn.Authenticator, error) {
	return nil, errors.New("docker-credential-desktop: executable file not found")
}

func TestKeychainFallsBackToAnonymous(t *testing.T) {
	reg, _ := name.NewRegistry("registry.example")
	a, err := fallbackKeychain{brokenKeychain{}}.Resolve(reg)
	if err != nil || a != authn.Anonymous {
		t.Errorf("got %v, %v; want anonymous", a, err)
	}
}

// tamper rewrites the body of the answers match selects.
func tamper(match func(*http.Request) bool, mod func([]byte) []byte) func(http.Handler) http.Handler {
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Method != http.MethodGet || !match(r) {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := mod(rec.Body.Bytes())
			for k, v := range rec.Header() {
				w.Header()[k] = v
			}
			w.Header().Del("Content-Length")
			w.WriteHeader(rec.Code)
			w.Write(body)
		})
	}
}

func TestPullImageDigestMismatch(t *testing.T) {
	imgArm := platformImage(t, arm64v8, 101) // same seed as multiPlatform's second image
	armD, _ := imgArm.Digest()
	m, _ := imgArm.Manifest()
	layer := m.Layers[1].Digest
	tests := []struct {
		name  string
		match func(*http.Request) bool
		mod   func([]byte) []byte
	}{
		{"manifest", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/manifests/"+armD.String()) },
			func(b []byte) []byte { return append(b, '\n') }},
		{"layer", func(r *http.Request) bool { return strings.HasSuffix(r.URL.Path, "/blobs/"+layer.String()) },
			func(b []byte) []byte { b = slices.Clone(b); b[len(b)/2] ^= 1; return b }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			reg := newTestRegistry(t, tamper(tc.match, tc.mod))
			ref := reg.host + "/library/multi:1"
			idx, imgs := multiPlatform(t, ref, amd64, arm64v8, ppc64le)
			if d, _ := imgs[1].Digest(); d != armD {
				t.Fatal("test images are not reproducible")
			}
			h, _ := idx.Digest()
			dir := t.TempDir()
			mirror := Mirror{From: "mirror.example", To: reg.host}
			_, err := PullImage(context.Background(), "mirror.example/library/multi:1", manifest.Digest(h.String()),
				ImageOptions{Platforms: []string{"linux/amd64", "linux/arm64"}, RegistryMirrors: []Mirror{mirror}}, dir)
			if err == nil {
				t.Fatal("tampered image accepted")
			}
			if manifest.ExitCode(err) != manifest.ExitVerification {
				t.Errorf("exit code %d for %v", manifest.ExitCode(err), err)
			}
			if !strings.Contains(manifest.Hint(err), mirror.String()) {
				t.Errorf("hint %q does not name the mirror", manifest.Hint(err))
			}
			bad := manifest.Digest(armD.String())
			if tc.name == "layer" {
				bad = manifest.Digest(layer.String())
			}
			for _, b := range layoutBlobs(t, dir) {
				if b == bad {
					t.Errorf("tampered blob %s is in the layout", b)
				}
			}
			if tmp, _ := filepath.Glob(filepath.Join(dir, "blobs", "sha256", ".tmp-*")); len(tmp) > 0 {
				t.Errorf("temporary files left: %v", tmp)
			}
			lp, _ := layout.FromPath(dir)
			ii, _ := lp.ImageIndex()
			if im, _ := ii.IndexManifest(); len(im.Manifests) != 0 {
				t.Errorf("index.json names a failed pull: %v", im.Manifests)
			}
		})
	}
}

func TestPullImageWrongPin(t *testing.T) {
	reg := newTestRegistry(t, nil)
	ref := reg.host + "/app:v1"
	push(t, ref, platformImage(t, amd64, 3))
	_, err := PullImage(context.Background(), ref, digestOf([]byte("not this image")), ImageOptions{}, t.TempDir())
	if err == nil || manifest.Hint(err) == "" {
		t.Errorf("pinned digest the registry does not have: %v", err)
	}
	_, err = PullImage(context.Background(), ref, "", ImageOptions{}, t.TempDir())
	if err == nil || !strings.Contains(manifest.Hint(err), "lock") {
		t.Errorf("no digest: %v", err)
	}
}

func TestPlatformMatches(t *testing.T) {
	tests := []struct {
		have *v1.Platform
		want string
		ok   bool
	}{
		{&amd64, "linux/amd64", true},
		{&arm64v8, "linux/arm64", true},
		{&v1.Platform{OS: "linux", Architecture: "arm64"}, "linux/arm64/v8", true},
		{&arm64v8, "linux/arm64/v8", true},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm/v6", false},
		{&v1.Platform{OS: "linux", Architecture: "arm", Variant: "v7"}, "linux/arm", true},
		{&amd64, "linux/arm64", false},
		{&v1.Platform{OS: "windows", Architecture: "amd64"}, "linux/amd64", false},
		{&unknown, "linux/amd64", false},
		{nil, "linux/amd64", false},
	}
	for _, tc := range tests {
		p, _ := v1.ParsePlatform(tc.want)
		if got := platformMatches(tc.have, *p); got != tc.ok {
			t.Errorf("platformMatches(%v, %s) = %v", tc.have, tc.want, got)
		}
	}
}

func TestFilterIndexIsDeterministicAndKeepsEntries(t *testing.T) {
	raw := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexA + `","size":1,"platform":{"architecture":"amd64","os":"linux"},"x-extra":true},` +
		`{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:` + hexB + `","size":2,"platform":{"architecture":"s390x","os":"linux"}}],` +
		`"annotations":{"org.opencontainers.image.created":"2025-03-31"}}`)
	a, err := filterIndex(raw, []int{0}, "sha256:"+hexB)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := filterIndex(raw, []int{0}, "sha256:"+hexB)
	if !bytes.Equal(a, b) {
		t.Error("not deterministic")
	}
	var got map[string]json.RawMessage
	if err := json.Unmarshal(a, &got); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(got["manifests"]), `"x-extra":true`) || strings.Contains(string(got["manifests"]), hexB) {
		t.Errorf("manifests %s", got["manifests"])
	}
	var ann map[string]string
	json.Unmarshal(got["annotations"], &ann)
	if ann["org.opencontainers.image.created"] != "2025-03-31" || ann[AnnotationUpstreamDigest] != "sha256:"+hexB {
		t.Errorf("annotations %v", ann)
	}
	if string(got["mediaType"]) != `"application/vnd.oci.image.index.v1+json"` || string(got["schemaVersion"]) != "2" {
		t.Errorf("top-level fields lost: %s", a)
	}
}

// interrupt breaks the first GET of a blob: half the body, then a cut
// connection or a stall; later requests pass.
func interrupt(blob v1.Hash, stall bool, release <-chan struct{}, hits *atomic.Int32) func(http.Handler) http.Handler {
	var once sync.Once
	return func(h http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			first := false
			if r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/blobs/"+blob.String()) {
				hits.Add(1)
				once.Do(func() { first = true })
			}
			if !first {
				h.ServeHTTP(w, r)
				return
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, r)
			body := rec.Body.Bytes()
			w.Header().Set("Content-Length", strconv.Itoa(len(body)))
			w.WriteHeader(rec.Code)
			w.Write(body[:len(body)/2])
			w.(http.Flusher).Flush()
			if stall {
				select {
				case <-r.Context().Done():
				case <-release:
				}
				return
			}
			panic(http.ErrAbortHandler)
		})
	}
}

func TestPullImageRetriesBrokenBlobTransfer(t *testing.T) {
	img := platformImage(t, amd64, 5)
	m, _ := img.Manifest()
	for _, stall := range []bool{false, true} {
		release := make(chan struct{})
		var hits atomic.Int32
		reg := newTestRegistry(t, interrupt(m.Layers[0].Digest, stall, release, &hits))
		t.Cleanup(func() { close(release) })
		ref := reg.host + "/app:v1"
		push(t, ref, img)
		h, _ := img.Digest()
		dir := t.TempDir()
		got, err := PullImage(context.Background(), ref, manifest.Digest(h.String()), ImageOptions{Timeout: 300 * time.Millisecond}, dir)
		if err != nil {
			t.Fatalf("stall=%v: %v", stall, err)
		}
		if n := hits.Load(); n != 2 {
			t.Errorf("stall=%v: the layer was requested %d times, want 2 (broken, then retried)", stall, n)
		}
		if !slices.Equal(layoutBlobs(t, dir), sorted(got.Blobs)) {
			t.Errorf("stall=%v: layout %v, want %v", stall, layoutBlobs(t, dir), got.Blobs)
		}
	}
}
