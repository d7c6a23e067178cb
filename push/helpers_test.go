package push

import (
	"bytes"
	"context"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sign"
	"github.com/satchel-dev/satchel/verify"
)

// testImage is an image for a test bundle.
type testImage struct {
	ref  string
	root remote.Taggable // v1.ImageIndex or v1.Image
}

// multiArch is an OCI index over linux/amd64 and linux/arm64 images that
// share their first layer.
func multiArch(t testing.TB, layerSize int64) v1.ImageIndex {
	t.Helper()
	shared, err := random.Layer(layerSize, types.OCILayer)
	if err != nil {
		t.Fatal(err)
	}
	idx := mutate.IndexMediaType(empty.Index, types.OCIImageIndex)
	for _, arch := range []string{"amd64", "arm64"} {
		own, err := random.Layer(layerSize/2, types.OCILayer)
		if err != nil {
			t.Fatal(err)
		}
		img, err := mutate.AppendLayers(mutate.MediaType(mutate.ConfigMediaType(empty.Image, types.OCIConfigJSON), types.OCIManifestSchema1), shared, own)
		if err != nil {
			t.Fatal(err)
		}
		cf, err := img.ConfigFile()
		if err != nil {
			t.Fatal(err)
		}
		cf = cf.DeepCopy()
		cf.OS, cf.Architecture = "linux", arch
		if img, err = mutate.ConfigFile(img, cf); err != nil {
			t.Fatal(err)
		}
		idx = mutate.AppendManifests(idx, mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: arch}}})
	}
	return idx
}

// single is a Docker schema 2 image with one layer.
func single(t testing.TB, layerSize int64) v1.Image {
	t.Helper()
	img, err := random.Image(layerSize, 1)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// testKey is one signing key for every test bundle: generating and
// unlocking a cosign-encrypted key takes seconds.
type testKey struct {
	signer  *sign.Signer
	pub     []byte
	pubFile string
}

var (
	keyOnce sync.Once
	key     *testKey
	keyErr  error
	keyDir  string
)

func TestMain(m *testing.M) {
	code := m.Run()
	if keyDir != "" {
		os.RemoveAll(keyDir)
	}
	os.Exit(code)
}

func loadTestKey(t testing.TB) *testKey {
	t.Helper()
	keyOnce.Do(func() {
		dir, err := os.MkdirTemp("", "satchel-push-key")
		keyDir = dir
		if err != nil {
			keyErr = err
			return
		}
		priv, pub, err := sign.GenerateKeyPair(sign.ECDSAP256, nil)
		if err != nil {
			keyErr = err
			return
		}
		keyFile, pubFile := filepath.Join(dir, "k.key"), filepath.Join(dir, "k.pub")
		os.WriteFile(keyFile, priv, 0o600)
		os.WriteFile(pubFile, pub, 0o644)
		s, err := sign.LoadSigner(context.Background(), keyFile, func(bool) ([]byte, error) { return nil, nil })
		key, keyErr = &testKey{signer: s, pub: pub, pubFile: pubFile}, err
	})
	if keyErr != nil {
		t.Fatal(keyErr)
	}
	return key
}

// testBundle is a signed bundle on disk and its key.
type testBundle struct {
	path string
	ix   *manifest.Index
	keys []*verify.Verifier
	pub  string
}

// writeBundle packs the images into a signed bundle.
func writeBundle(t testing.TB, dir string, images ...testImage) *testBundle {
	t.Helper()
	store, err := pack.NewBlobStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Name:          "push-test", Version: "1.0.0", Sequence: 1,
		Created:      time.Unix(1_743_465_600, 0).UTC(),
		Profile:      "test",
		Platforms:    []string{"linux/amd64", "linux/arm64"},
		Requirements: manifest.Requirements{Installer: "0.1.0", MinKernel: "3.10"},
	}
	inBundle := map[manifest.Digest]bool{}
	put := func(im *manifest.Image, d v1.Hash, data []byte) {
		dg := manifest.Digest(d.String())
		if !inBundle[dg] {
			inBundle[dg] = true
			b, err := store.PutRaw(dg, bytes.NewReader(data))
			if err != nil {
				t.Fatal(err)
			}
			ix.Blobs = append(ix.Blobs, b)
		}
		for _, x := range im.Blobs {
			if x == dg {
				return
			}
		}
		im.Blobs = append(im.Blobs, dg)
	}
	addImage := func(im *manifest.Image, img v1.Image) {
		raw, _ := img.RawManifest()
		d, _ := img.Digest()
		put(im, d, raw)
		cfg, _ := img.RawConfigFile()
		cd, _ := img.ConfigName()
		put(im, cd, cfg)
		ls, _ := img.Layers()
		for _, l := range ls {
			ld, _ := l.Digest()
			rc, _ := l.Compressed()
			data, _ := io.ReadAll(rc)
			rc.Close()
			put(im, ld, data)
		}
	}
	for _, ti := range images {
		im := manifest.Image{Ref: ti.ref, Platforms: []string{"linux/amd64"}}
		switch r := ti.root.(type) {
		case v1.ImageIndex:
			raw, _ := r.RawManifest()
			d, _ := r.Digest()
			mt, _ := r.MediaType()
			im.Digest, im.MediaType = manifest.Digest(d.String()), string(mt)
			im.Platforms = []string{"linux/amd64", "linux/arm64"}
			put(&im, d, raw)
			m, _ := r.IndexManifest()
			for _, desc := range m.Manifests {
				img, err := r.Image(desc.Digest)
				if err != nil {
					t.Fatal(err)
				}
				addImage(&im, img)
			}
		case v1.Image:
			d, _ := r.Digest()
			mt, _ := r.MediaType()
			im.Digest, im.MediaType = manifest.Digest(d.String()), string(mt)
			addImage(&im, r)
		}
		ix.Images = append(ix.Images, im)
	}
	js, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	k := loadTestKey(t)
	s, pub, pubFile := k.signer, k.pub, k.pubFile
	sig, err := s.Sign(js)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "test.satchel")
	if err := pack.WriteFile(out, true, js, sig, ix, store); err != nil {
		t.Fatal(err)
	}
	v, err := verify.LoadVerifier(pub, pubFile)
	if err != nil {
		t.Fatal(err)
	}
	return &testBundle{path: out, ix: ix, keys: []*verify.Verifier{v}, pub: pubFile}
}

func (tb *testBundle) open(t testing.TB) *pack.Bundle {
	t.Helper()
	b, err := pack.OpenPath(tb.path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// request is one request a test registry answered.
type request struct {
	Method, Path, Query string
	Status              int
	BodyBytes           int64
}

// testRegistry is go-containerregistry's in-process registry behind a
// recorder: every request, its status and the body bytes it carried.
type testRegistry struct {
	srv  *httptest.Server
	host string
	mu   sync.Mutex
	log  []request
	// fail, when set, answers a request instead of the registry.
	fail func(r *http.Request) int
	// user and password, when set, are required (HTTP basic auth).
	user, password string
}

func newTestRegistry(t testing.TB, tlsServer bool) *testRegistry {
	t.Helper()
	tr := &testRegistry{}
	reg := registry.New(registry.Logger(log.New(io.Discard, "", 0)))
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var n int64
		if r.Body != nil {
			body, _ := io.ReadAll(r.Body)
			n = int64(len(body))
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		tr.mu.Lock()
		fail, user, pass := tr.fail, tr.user, tr.password
		tr.mu.Unlock()
		switch {
		case user != "" && !checkBasic(r, user, pass):
			rec.Header().Set("WWW-Authenticate", `Basic realm="test"`)
			rec.WriteHeader(http.StatusUnauthorized)
			io.WriteString(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
		case fail != nil && fail(r) != 0:
			rec.WriteHeader(fail(r))
		default:
			reg.ServeHTTP(rec, r)
		}
		tr.mu.Lock()
		tr.log = append(tr.log, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Status: rec.status, BodyBytes: n})
		tr.mu.Unlock()
	})
	tr.srv = httptest.NewUnstartedServer(h)
	tr.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	if tlsServer {
		tr.srv.StartTLS()
	} else {
		tr.srv.Start()
	}
	t.Cleanup(tr.srv.Close)
	tr.host = strings.TrimPrefix(strings.TrimPrefix(tr.srv.URL, "http://"), "https://")
	return tr
}

func checkBasic(r *http.Request, user, pass string) bool {
	u, p, ok := r.BasicAuth()
	return ok && u == user && p == pass
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) { s.status = code; s.ResponseWriter.WriteHeader(code) }

// requests returns the log so far and clears it.
func (tr *testRegistry) requests() []request {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	out := tr.log
	tr.log = nil
	return out
}

func bodyBytes(rs []request) int64 {
	var n int64
	for _, r := range rs {
		n += r.BodyBytes
	}
	return n
}

// fastRetry keeps failing tests short.
var fastRetry = &remote.Backoff{Duration: 10 * time.Millisecond, Factor: 1, Steps: 1}
