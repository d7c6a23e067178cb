package push

import (
	"context"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/authn"
	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/satchel-dev/satchel/manifest"
)

// standardBundle: a multi-arch index (Docker Hub), a single Docker schema 2
// manifest (registry.k8s.io) and an image named by digest only (quay.io).
func standardBundle(t *testing.T) (*testBundle, v1.ImageIndex, v1.Image, v1.Image) {
	idx := multiArch(t, 64<<10)
	pause := single(t, 8<<10)
	app := single(t, 4<<10)
	appDigest, _ := app.Digest()
	tb := writeBundle(t, t.TempDir(),
		testImage{"docker.io/library/nginx:1.27.4", idx},
		testImage{"registry.k8s.io/pause:3.10", pause},
		testImage{"quay.io/org/app@" + appDigest.String(), app},
	)
	return tb, idx, pause, app
}

func TestPushMapsPushesAndSkips(t *testing.T) {
	tb, idx, pause, app := standardBundle(t)
	reg := newTestRegistry(t, false)
	dst, err := ParseDestination(reg.host + "/satchel")
	if err != nil {
		t.Fatal(err)
	}
	var events []Event
	res, err := Run(context.Background(), tb.open(t), tb.keys, dst, Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain(), Progress: func(e Event) { events = append(events, e) }})
	if err != nil {
		t.Fatal(err)
	}
	first := reg.requests()

	// The mapping: the source registry dropped, the repository path kept.
	want := map[string]string{
		"docker.io/library/nginx:1.27.4": reg.host + "/satchel/library/nginx:1.27.4",
		"registry.k8s.io/pause:3.10":     reg.host + "/satchel/pause:3.10",
	}
	appDigest, _ := app.Digest()
	want["quay.io/org/app@"+appDigest.String()] = reg.host + "/satchel/org/app@" + appDigest.String()
	for _, im := range res.Images {
		if want[im.Source] != im.Target {
			t.Errorf("%s -> %s, want %s", im.Source, im.Target, want[im.Source])
		}
	}
	wantMirrors := []string{"docker.io=http://" + reg.host + "/satchel", "quay.io=http://" + reg.host + "/satchel", "registry.k8s.io=http://" + reg.host + "/satchel"}
	if !slices.Equal(res.Mirrors, wantMirrors) {
		t.Errorf("mirrors %v, want %v", res.Mirrors, wantMirrors)
	}

	// What arrived is what the bundle holds, by digest and by tag.
	check := func(ref string, wantDigest v1.Hash) {
		t.Helper()
		r, err := name.ParseReference(ref, name.Insecure)
		if err != nil {
			t.Fatal(err)
		}
		desc, err := remote.Get(r)
		if err != nil {
			t.Fatalf("%s: %v", ref, err)
		}
		if desc.Digest != wantDigest {
			t.Errorf("%s is %s, want %s", ref, desc.Digest, wantDigest)
		}
	}
	idxDigest, _ := idx.Digest()
	pauseDigest, _ := pause.Digest()
	check(reg.host+"/satchel/library/nginx:1.27.4", idxDigest)
	check(reg.host+"/satchel/library/nginx@"+idxDigest.String(), idxDigest)
	check(reg.host+"/satchel/pause:3.10", pauseDigest)
	check(reg.host+"/satchel/org/app@"+appDigest.String(), appDigest)
	im, _ := idx.IndexManifest()
	for _, m := range im.Manifests {
		ref, _ := name.ParseReference(reg.host+"/satchel/library/nginx@"+m.Digest.String(), name.Insecure)
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		if err := validateLayers(img); err != nil {
			t.Errorf("pushed %s: %v", m.Digest, err)
		}
	}

	// Counts: nginx = index + 2 manifests, 2 configs + 3 layers (one shared).
	var nginx ImageResult
	for _, im := range res.Images {
		if strings.Contains(im.Source, "nginx") {
			nginx = im
		}
	}
	if nginx.Manifests != 3 || nginx.Blobs != 5 || nginx.BlobsPushed != 5 || nginx.ManifestsPushed != 3 || !nginx.Tagged {
		t.Errorf("nginx counts: %+v", nginx)
	}
	if res.BlobsExisting != 0 || res.ManifestsExisting != 0 || res.TagsPushed != 2 || res.BlobsPushed != 5+2+2 {
		t.Errorf("first push totals: %+v", res)
	}
	if got := bodyBytes(first); res.BytesSent != got || got < res.BytesPushed || res.BytesPushed < 64<<10 {
		t.Errorf("bytes: sent %d, registry received %d, pushed %d", res.BytesSent, got, res.BytesPushed)
	}
	// Progress: every uploaded blob reported done, and committed.
	pushedEv := 0
	for _, e := range events {
		if e.Kind == EventBlobPushed {
			pushedEv++
		}
	}
	if pushedEv != res.BlobsPushed {
		t.Errorf("%d blob-pushed events, %d blobs pushed", pushedEv, res.BlobsPushed)
	}

	// Tags last: every tag PUT comes after every blob upload and every
	// manifest PUT by digest.
	lastContent, firstTag := -1, len(first)
	for i, r := range first {
		isTag := r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/") && !strings.Contains(r.Path, "/manifests/sha256:")
		switch {
		case isTag:
			firstTag = min(firstTag, i)
		case r.Method == http.MethodPut || r.Method == http.MethodPatch || r.Method == http.MethodPost:
			lastContent = i
		}
	}
	if firstTag < lastContent {
		t.Errorf("a tag was pushed (request %d) before the last blob or manifest (request %d)", firstTag, lastContent)
	}

	// Second push: HEAD requests only, nothing sent.
	res2, err := Run(context.Background(), tb.open(t), tb.keys, dst, Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	second := reg.requests()
	for _, r := range second {
		if r.Method != http.MethodHead && r.Method != http.MethodGet {
			t.Errorf("second push sent %s %s", r.Method, r.Path)
		}
	}
	if n := bodyBytes(second); n != 0 || res2.BytesSent != 0 || res2.BytesPushed != 0 {
		t.Errorf("second push: registry received %d body bytes, sent %d, pushed %d", n, res2.BytesSent, res2.BytesPushed)
	}
	if res2.BlobsPushed != 0 || res2.ManifestsPushed != 0 || res2.TagsPushed != 0 || res2.TagsExisting != 2 || res2.BlobsExisting != 9 || res2.ManifestsExisting != 5 {
		t.Errorf("second push totals: %+v", res2)
	}
	t.Logf("first push: %d requests, %d bytes; second: %d requests, %d bytes", len(first), bodyBytes(first), len(second), bodyBytes(second))
}

func validateLayers(img v1.Image) error {
	ls, err := img.Layers()
	if err != nil {
		return err
	}
	for _, l := range ls {
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		rc.Close()
	}
	return nil
}

// A blob the registry holds in the target repository is not uploaded again.
func TestPushSkipsExistingBlob(t *testing.T) {
	reg := newTestRegistry(t, false)
	layer, err := random.Layer(32<<10, types.DockerLayer)
	if err != nil {
		t.Fatal(err)
	}
	img := single(t, 1<<10)
	img, err = mutate.AppendLayers(img, layer)
	if err != nil {
		t.Fatal(err)
	}
	tb := writeBundle(t, t.TempDir(), testImage{"registry.k8s.io/pause:3.10", img})
	repo, _ := name.NewRepository(reg.host+"/pause", name.Insecure)
	if err := remote.WriteLayer(repo, layer); err != nil {
		t.Fatal(err)
	}
	reg.requests()
	dst, _ := ParseDestination(reg.host)
	res, err := Run(context.Background(), tb.open(t), tb.keys, dst, Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain()})
	if err != nil {
		t.Fatal(err)
	}
	if res.BlobsExisting != 1 || res.BlobsPushed != 2 {
		t.Errorf("counts: %+v", res)
	}
	if got := bodyBytes(reg.requests()); got >= 32<<10 {
		t.Errorf("the existing 32 KiB layer was sent again (%d bytes arrived)", got)
	}
}

// A failure leaves every tag unpushed, also those of images already
// complete, and says which kind of failure it was.
func TestPushFailureTagsNothing(t *testing.T) {
	tb, _, _, _ := standardBundle(t)
	reg := newTestRegistry(t, false)
	reg.fail = func(r *http.Request) int {
		if r.Method == http.MethodPatch && strings.Contains(r.URL.Path, "/org/app/") {
			return http.StatusInternalServerError
		}
		return 0
	}
	dst, _ := ParseDestination(reg.host + "/satchel")
	res, err := Run(context.Background(), tb.open(t), tb.keys, dst, Options{PlainHTTP: true, Keychain: authn.NewMultiKeychain(), Retry: fastRetry})
	var pe *Error
	if !errors.As(err, &pe) || pe.Kind != ErrRegistry {
		t.Fatalf("error %v (%T), want a registry error", err, err)
	}
	for _, r := range reg.requests() {
		if r.Method == http.MethodPut && strings.Contains(r.Path, "/manifests/") && !strings.Contains(r.Path, "sha256:") {
			t.Errorf("tag pushed although the push failed: %s", r.Path)
		}
	}
	for _, im := range res.Images {
		if im.Tagged {
			t.Errorf("%s reported tagged", im.Source)
		}
	}
}

func TestPushErrors(t *testing.T) {
	tb, _, _, _ := standardBundle(t)
	run := func(dst string, o Options) error {
		d, err := ParseDestination(dst)
		if err != nil {
			t.Fatal(err)
		}
		if o.Keychain == nil && o.Auth == nil {
			o.Keychain = authn.NewMultiKeychain()
		}
		o.Retry = fastRetry
		_, err = Run(context.Background(), tb.open(t), tb.keys, d, o)
		return err
	}
	kind := func(err error) ErrorKind {
		var pe *Error
		if errors.As(err, &pe) {
			return pe.Kind
		}
		return ""
	}

	t.Run("plain HTTP refused unless allowed", func(t *testing.T) {
		reg := newTestRegistry(t, false)
		err := run(reg.host+"/satchel", Options{})
		if kind(err) != ErrPlainHTTP {
			t.Errorf("got %v, want plain HTTP refused", err)
		}
		for _, r := range reg.requests() {
			if r.Method != http.MethodGet || r.Path != "/v2/" {
				t.Errorf("refused push still sent %s %s", r.Method, r.Path)
			}
		}
	})
	t.Run("TLS: unknown CA, then the CA given", func(t *testing.T) {
		reg := newTestRegistry(t, true)
		if err := run(reg.host+"/satchel", Options{}); kind(err) != ErrTLS {
			t.Errorf("unknown CA: got %v (%s)", err, kind(err))
		}
		pool := x509.NewCertPool()
		pool.AddCert(reg.srv.Certificate())
		if err := run(reg.host+"/satchel", Options{RootCAs: pool}); err != nil {
			t.Errorf("with the CA: %v", err)
		}
	})
	t.Run("credentials", func(t *testing.T) {
		reg := newTestRegistry(t, false)
		reg.user, reg.password = "admin", "s3cret"
		if err := run(reg.host+"/satchel", Options{PlainHTTP: true, Auth: &authn.Basic{Username: "admin", Password: "wrong"}}); kind(err) != ErrUnauthorized {
			t.Errorf("wrong password: got %v (%s)", err, kind(err))
		}
		if err := run(reg.host+"/satchel", Options{PlainHTTP: true}); kind(err) != ErrUnauthorized {
			t.Errorf("no credentials: got %v (%s)", err, kind(err))
		}
		if err := run(reg.host+"/satchel", Options{PlainHTTP: true, Auth: &authn.Basic{Username: "admin", Password: "s3cret"}}); err != nil {
			t.Errorf("right password: %v", err)
		}
	})
	t.Run("registry down", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		if err := run(addr+"/satchel", Options{PlainHTTP: true}); kind(err) != ErrUnreachable {
			t.Errorf("got %v (%s)", err, kind(err))
		}
	})
	t.Run("denied", func(t *testing.T) {
		reg := newTestRegistry(t, false)
		reg.fail = func(r *http.Request) int {
			if r.Method == http.MethodPost {
				return http.StatusForbidden
			}
			return 0
		}
		if err := run(reg.host+"/satchel", Options{PlainHTTP: true}); kind(err) != ErrDenied {
			t.Errorf("got %v (%s)", err, kind(err))
		}
	})
}

// A bundle that fails verification sends nothing at all.
func TestPushTamperedSendsNothing(t *testing.T) {
	tb, _, _, _ := standardBundle(t)
	data, err := os.ReadFile(tb.path)
	if err != nil {
		t.Fatal(err)
	}
	data[len(data)-2048] ^= 1 // inside the last blob
	if err := os.WriteFile(tb.path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	reg := newTestRegistry(t, false)
	dst, _ := ParseDestination(reg.host + "/satchel")
	_, err = Run(context.Background(), tb.open(t), tb.keys, dst, Options{PlainHTTP: true})
	if manifest.ExitCode(err) != manifest.ExitVerification {
		t.Errorf("tampered bundle: %v (exit %d), want exit 3", err, manifest.ExitCode(err))
	}
	if rs := reg.requests(); len(rs) != 0 {
		t.Errorf("tampered bundle: %d requests reached the registry", len(rs))
	}
}

func TestPushDryRun(t *testing.T) {
	tb, _, _, _ := standardBundle(t)
	dst, _ := ParseDestination("harbor.internal/satchel")
	res, err := Run(context.Background(), tb.open(t), tb.keys, dst, Options{DryRun: true, Transport: failTransport{t}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Images) != 3 || res.Images[0].Target != "harbor.internal/satchel/library/nginx:1.27.4" || !res.DryRun {
		t.Errorf("dry run: %+v", res)
	}
	if !slices.Contains(res.Mirrors, "docker.io=harbor.internal/satchel") {
		t.Errorf("mirrors %v", res.Mirrors)
	}
}

type failTransport struct{ t *testing.T }

func (f failTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	f.t.Errorf("dry run sent %s %s", r.Method, r.URL)
	return nil, errors.New("no network in a dry run")
}
