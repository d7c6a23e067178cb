package images

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/internal/fault"
	"github.com/satchel-dev/satchel/manifest"
)

// blobStore is a BlobReader over blobs held in memory, as pack.Bundle's
// OpenBlob gives them (already checked against their digests).
type blobStore map[manifest.Digest][]byte

func (s blobStore) OpenBlob(d manifest.Digest) (io.Reader, error) {
	b, ok := s[d]
	if !ok {
		return nil, fmt.Errorf("blob %s: %w", d, os.ErrNotExist)
	}
	return bytes.NewReader(b), nil
}

// testImage is a real image: a gzipped layer holding one file, its
// config (with the layer's diff ID), a manifest, and an index listing it
// for linux/amd64 and a linux/arm64/v8 manifest the bundle does not carry.
type testImage struct {
	ix                        *manifest.Index
	blobs                     blobStore
	multi, single             manifest.Image
	layer, config, manifest   manifest.Digest
	layerTar                  []byte
	missingArm64, indexDigest manifest.Digest
}

var created = time.Date(2026, 2, 3, 4, 5, 6, 789, time.UTC)

func sha(b []byte) manifest.Digest { return manifest.DigestOf(manifest.SHA256, b) }

func newTestImage(t *testing.T) *testImage {
	t.Helper()
	ti := &testImage{blobs: blobStore{}}
	ix := &manifest.Index{Name: "demo", Created: created}
	add := func(b []byte) manifest.Digest {
		d := sha(b)
		ti.blobs[d] = b
		ix.Blobs = append(ix.Blobs, manifest.Blob{Digest: d, Size: int64(len(b)), Encoding: manifest.EncodingNone})
		return d
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	content := []byte("hello from the layer\n")
	tw.WriteHeader(&tar.Header{Name: "hello.txt", Mode: 0o644, Size: int64(len(content)), ModTime: created, Typeflag: tar.TypeReg})
	tw.Write(content)
	tw.Close()
	ti.layerTar = tb.Bytes()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(ti.layerTar)
	zw.Close()
	ti.layer = add(gz.Bytes())

	cfg := ocispec.Image{
		Platform: ocispec.Platform{OS: "linux", Architecture: "amd64"},
		RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(sha(ti.layerTar))}},
		Config:   ocispec.ImageConfig{Cmd: []string{"/hello"}},
	}
	cb, _ := json.Marshal(cfg)
	ti.config = add(cb)

	m := ocispec.Manifest{
		MediaType: ocispec.MediaTypeImageManifest,
		Config:    ocispec.Descriptor{MediaType: ocispec.MediaTypeImageConfig, Digest: digest.Digest(ti.config), Size: int64(len(cb))},
		Layers:    []ocispec.Descriptor{{MediaType: ocispec.MediaTypeImageLayerGzip, Digest: digest.Digest(ti.layer), Size: int64(len(gz.Bytes()))}},
	}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	ti.manifest = add(mb)

	ti.missingArm64 = sha([]byte("an arm64 manifest left out of the bundle"))
	idx := ocispec.Index{
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(ti.missingArm64), Size: 500, Platform: &ocispec.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}},
			{MediaType: ocispec.MediaTypeImageManifest, Digest: digest.Digest(ti.manifest), Size: int64(len(mb)), Platform: &ocispec.Platform{OS: "linux", Architecture: "amd64"}},
		},
	}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	ti.indexDigest = add(ib)

	ti.multi = manifest.Image{Ref: "registry.example/team/hello:1.0", Digest: ti.indexDigest, MediaType: ocispec.MediaTypeImageIndex,
		Platforms: []string{"linux/amd64"}, Blobs: []manifest.Digest{ti.indexDigest, ti.manifest, ti.config, ti.layer}}
	ti.single = manifest.Image{Ref: "registry.example/team/hello@" + string(ti.manifest), Digest: ti.manifest, MediaType: ocispec.MediaTypeImageManifest,
		Platforms: []string{"linux/amd64"}, Blobs: []manifest.Digest{ti.manifest, ti.config, ti.layer, ti.layer}} // a repeated blob is written once
	ti.ix = ix
	return ti
}

type entry struct {
	hdr  tar.Header
	body []byte
}

func readTar(t *testing.T, b []byte) []entry {
	t.Helper()
	var out []entry
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, entry{*h, body})
	}
}

func archive(t *testing.T, ti *testImage, im manifest.Image, platform string) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := WriteArchive(&buf, ti.ix, im, ti.blobs, platform, nil); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestWriteArchiveLayout checks the stream's entries one by one: order,
// names, types, times and contents.
func TestWriteArchiveLayout(t *testing.T) {
	ti := newTestImage(t)
	var progress int64
	var buf bytes.Buffer
	if err := WriteArchive(&buf, ti.ix, ti.multi, ti.blobs, "linux/amd64", func(n int64) { progress += n }); err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, buf.Bytes())
	var names []string
	for _, e := range entries {
		names = append(names, e.hdr.Name)
		if !e.hdr.ModTime.Equal(created.Truncate(time.Second)) {
			t.Errorf("%s: mtime %v, want the bundle's creation time %v", e.hdr.Name, e.hdr.ModTime, created.Truncate(time.Second))
		}
	}
	want := []string{"oci-layout", "index.json", "manifest.json", "blobs/", "blobs/sha256/",
		"blobs/sha256/" + ti.indexDigest.Hex(), "blobs/sha256/" + ti.manifest.Hex(), "blobs/sha256/" + ti.config.Hex(), "blobs/sha256/" + ti.layer.Hex()}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("entries\n got %v\nwant %v", names, want)
	}
	if string(entries[0].body) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", entries[0].body)
	}
	var idx ocispec.Index
	if err := json.Unmarshal(entries[1].body, &idx); err != nil {
		t.Fatal(err)
	}
	if idx.SchemaVersion != 2 || len(idx.Manifests) != 1 {
		t.Fatalf("index.json: %s", entries[1].body)
	}
	d := idx.Manifests[0]
	if d.Digest != digest.Digest(ti.indexDigest) || d.MediaType != ocispec.MediaTypeImageIndex || d.Size != int64(len(ti.blobs[ti.indexDigest])) ||
		d.Annotations["io.containerd.image.name"] != ti.multi.Ref || d.Annotations[ocispec.AnnotationRefName] != "1.0" {
		t.Errorf("index.json descriptor: %+v", d)
	}
	var dm []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	if err := json.Unmarshal(entries[2].body, &dm); err != nil {
		t.Fatal(err)
	}
	if len(dm) != 1 || dm[0].Config != "blobs/sha256/"+ti.config.Hex() || len(dm[0].RepoTags) != 1 || dm[0].RepoTags[0] != "registry.example/team/hello:1.0" ||
		len(dm[0].Layers) != 1 || dm[0].Layers[0] != "blobs/sha256/"+ti.layer.Hex() {
		t.Errorf("manifest.json: %s", entries[2].body)
	}
	for _, e := range entries[3:5] {
		if e.hdr.Typeflag != tar.TypeDir {
			t.Errorf("%s is not a directory", e.hdr.Name)
		}
	}
	var total int64
	for _, e := range entries[5:] {
		d := manifest.Digest("sha256:" + strings.TrimPrefix(e.hdr.Name, "blobs/sha256/"))
		if !bytes.Equal(e.body, ti.blobs[d]) {
			t.Errorf("%s does not hold the blob's bytes", e.hdr.Name)
		}
		total += int64(len(e.body))
	}
	if progress != total {
		t.Errorf("progress reported %d bytes, blobs are %d", progress, total)
	}
	if n := int64(buf.Len()); n > ArchiveSize(ti.ix, ti.multi) {
		t.Errorf("ArchiveSize %d is below the archive's %d bytes", ArchiveSize(ti.ix, ti.multi), n)
	}
	// Deterministic, and ArchiveDigest is the digest of those bytes.
	again := archive(t, ti, ti.multi, "linux/amd64")
	if !bytes.Equal(again, buf.Bytes()) {
		t.Error("two archives of the same image differ")
	}
	ad, err := ArchiveDigest(ti.ix, ti.multi, ti.blobs, "linux/amd64")
	if err != nil || ad != sha(buf.Bytes()) {
		t.Errorf("ArchiveDigest = %s, %v; want %s", ad, err, sha(buf.Bytes()))
	}
}

// TestArchiveReadByGGCR reads the stream with go-containerregistry, an
// independent implementation: as `docker load` sees it (manifest.json) and
// as `ctr images import` sees it (the OCI layout), and validates the image
// it finds both ways (digests, diff IDs, sizes).
func TestArchiveReadByGGCR(t *testing.T) {
	ti := newTestImage(t)
	b := archive(t, ti, ti.multi, "linux/amd64")

	img, err := tarball.Image(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }, nil)
	if err != nil {
		t.Fatalf("reading as a docker archive: %v", err)
	}
	if err := validate.Image(img); err != nil {
		t.Errorf("docker archive image does not validate: %v", err)
	}
	if name, err := img.ConfigName(); err != nil || name.String() != string(ti.config) {
		t.Errorf("docker archive config %v, %v; want %s", name, err, ti.config)
	}

	dir := t.TempDir()
	for _, e := range readTar(t, b) {
		p := filepath.Join(dir, e.hdr.Name)
		if e.hdr.Typeflag == tar.TypeDir {
			os.MkdirAll(p, 0o755)
			continue
		}
		if err := os.WriteFile(p, e.body, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	top, err := layout.ImageIndexFromPath(dir)
	if err != nil {
		t.Fatalf("reading as an OCI layout: %v", err)
	}
	im, err := top.IndexManifest()
	if err != nil || len(im.Manifests) != 1 || im.Manifests[0].Digest.String() != string(ti.indexDigest) {
		t.Fatalf("layout index: %+v, %v", im, err)
	}
	child, err := top.ImageIndex(im.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	amd64, err := child.Image(v1.Hash{Algorithm: "sha256", Hex: ti.manifest.Hex()})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(amd64); err != nil {
		t.Errorf("layout image does not validate: %v", err)
	}
}

// TestArchivePlatforms: manifest.json is written for the platform the
// bundle holds a manifest for, and left out (the OCI layout only) when the
// platform's manifest is not in the bundle.
func TestArchivePlatforms(t *testing.T) {
	ti := newTestImage(t)
	has := func(b []byte) bool {
		for _, e := range readTar(t, b) {
			if e.hdr.Name == "manifest.json" {
				return true
			}
		}
		return false
	}
	if !has(archive(t, ti, ti.multi, "linux/amd64")) {
		t.Error("linux/amd64: no manifest.json")
	}
	if has(archive(t, ti, ti.multi, "linux/arm64")) {
		t.Error("linux/arm64: manifest.json for a manifest the bundle does not hold")
	}
	if has(archive(t, ti, ti.multi, "windows/amd64")) {
		t.Error("windows/amd64 matched a linux manifest")
	}
	// A single manifest is the platform's, whatever the platform.
	if !has(archive(t, ti, ti.single, "linux/arm64")) {
		t.Error("single manifest: no manifest.json")
	}
	cd, err := ConfigDigest(ti.ix, ti.blobs, ti.multi, "linux/amd64")
	if err != nil || cd != ti.config {
		t.Errorf("ConfigDigest(amd64) = %s, %v", cd, err)
	}
	if cd, err := ConfigDigest(ti.ix, ti.blobs, ti.multi, "linux/arm64/v8"); err != nil || cd != "" {
		t.Errorf("ConfigDigest(arm64, not in the bundle) = %s, %v; want none", cd, err)
	}
}

// TestArchiveUntaggedRef: an image named by digest gets no Docker tag
// (Docker would invent "latest") and the whole reference as its OCI name;
// a blob listed twice is written once.
func TestArchiveUntaggedRef(t *testing.T) {
	ti := newTestImage(t)
	entries := readTar(t, archive(t, ti, ti.single, "linux/amd64"))
	for _, e := range entries {
		switch e.hdr.Name {
		case "manifest.json":
			var dm []struct{ RepoTags []string }
			if err := json.Unmarshal(e.body, &dm); err != nil || len(dm) != 1 || len(dm[0].RepoTags) != 0 {
				t.Errorf("manifest.json names a tag: %s", e.body)
			}
		case "index.json":
			var idx ocispec.Index
			json.Unmarshal(e.body, &idx)
			if got := idx.Manifests[0].Annotations[ocispec.AnnotationRefName]; got != ti.single.Ref {
				t.Errorf("ref.name %q, want %q", got, ti.single.Ref)
			}
		}
	}
	if len(entries) != 8 {
		t.Errorf("%d entries, want 8 (the layer once)", len(entries))
	}
}

func TestArchiveRefusesBadBlobs(t *testing.T) {
	for _, c := range []struct {
		name   string
		mutate func(ti *testImage) manifest.Image
		want   string
		verify bool // a verification failure (exit code class), not a plain error
	}{
		{"root not in the bundle", func(ti *testImage) manifest.Image {
			im := ti.multi
			im.Digest = ti.missingArm64
			return im
		}, "is not in the bundle", true},
		{"layer not in the index", func(ti *testImage) manifest.Image {
			ti.ix.Blobs = ti.ix.Blobs[1:] // the layer was added first
			return ti.multi
		}, "is not in the bundle", true},
		{"layer stored compressed", func(ti *testImage) manifest.Image {
			ti.ix.Blobs[0].Encoding = manifest.EncodingZstd
			return ti.multi
		}, "stored zstd", true},
		{"short blob", func(ti *testImage) manifest.Image {
			ti.blobs[ti.layer] = ti.blobs[ti.layer][:10]
			return ti.multi
		}, "10 bytes, index says", true},
		{"blob unreadable", func(ti *testImage) manifest.Image {
			delete(ti.blobs, ti.layer)
			return ti.multi
		}, "file does not exist", false},
		{"not sha256", func(ti *testImage) manifest.Image {
			d := manifest.DigestOf(manifest.SHA512, []byte("x"))
			ti.ix.Blobs = append(ti.ix.Blobs, manifest.Blob{Digest: d, Size: 1, Encoding: manifest.EncodingNone})
			im := ti.multi
			im.Blobs = append(im.Blobs, d)
			return im
		}, "sha256 blobs only", false},
	} {
		t.Run(c.name, func(t *testing.T) {
			ti := newTestImage(t)
			im := c.mutate(ti)
			err := WriteArchive(io.Discard, ti.ix, im, ti.blobs, "linux/amd64", nil)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("WriteArchive = %v; want an error with %q", err, c.want)
			}
			if got := fault.ClassOf(err) == fault.Verification; got != c.verify {
				t.Errorf("verification class = %v, want %v (%v)", got, c.verify, err)
			}
		})
	}
}

func TestPlatformMatches(t *testing.T) {
	p := func(os, arch, variant string) *ocispec.Platform {
		return &ocispec.Platform{OS: os, Architecture: arch, Variant: variant}
	}
	for _, c := range []struct {
		want string
		p    *ocispec.Platform
		ok   bool
	}{
		{"linux/amd64", p("linux", "amd64", ""), true},
		{"linux/arm64", p("linux", "arm64", "v8"), true},
		{"linux/arm64/v8", p("linux", "arm64", "v8"), true},
		{"linux/arm64/v8", p("linux", "arm64", ""), true},
		{"linux/arm/v7", p("linux", "arm", "v6"), false},
		{"linux/amd64", p("linux", "arm64", ""), false},
		{"linux/amd64", p("windows", "amd64", ""), false},
		{"linux", p("linux", "amd64", ""), false},
	} {
		if got := platformMatches(c.want, c.p); got != c.ok {
			t.Errorf("platformMatches(%q, %+v) = %v", c.want, *c.p, got)
		}
	}
}

func TestRefNames(t *testing.T) {
	for _, c := range []struct{ ref, oci, docker string }{
		{"docker.io/library/nginx:1.27.4", "1.27.4", "docker.io/library/nginx:1.27.4"},
		{"localhost:5000/app", "localhost:5000/app", ""},
		{"localhost:5000/app:v2@sha256:" + strings.Repeat("a", 64), "v2", "localhost:5000/app:v2"},
	} {
		full, oci, docker := RefNames(c.ref)
		if full != c.ref || oci != c.oci || docker != c.docker {
			t.Errorf("RefNames(%s) = %s, %s, %s", c.ref, full, oci, docker)
		}
	}
}

func TestStream(t *testing.T) {
	// The consumer gets every byte.
	var got []byte
	err := Stream(func(w io.Writer) error {
		_, err := w.Write([]byte("payload"))
		return err
	}, func(r io.Reader) error {
		var err error
		got, err = io.ReadAll(r)
		return err
	})
	if err != nil || string(got) != "payload" {
		t.Errorf("Stream = %q, %v", got, err)
	}
	// A producer's error wins over the consumer's complaint about a cut stream.
	bad := errors.New("blob digest mismatch")
	err = Stream(func(w io.Writer) error {
		w.Write([]byte("half"))
		return bad
	}, func(r io.Reader) error {
		io.ReadAll(r)
		return errors.New("ctr: unexpected EOF in the archive")
	})
	if !errors.Is(err, bad) {
		t.Errorf("producer error lost: %v", err)
	}
	// A consumer that stops early does not hang the producer, and its error is the result.
	stop := errors.New("ctr exited")
	done := make(chan error, 1)
	go func() {
		done <- Stream(func(w io.Writer) error {
			for {
				if _, err := w.Write(make([]byte, 4096)); err != nil {
					return err
				}
			}
		}, func(r io.Reader) error {
			io.ReadFull(r, make([]byte, 100))
			return stop
		})
	}()
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Errorf("early consumer: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Stream hung after the consumer stopped")
	}
	// A consumer that stops early without error: the producer's closed pipe is not an error.
	err = Stream(func(w io.Writer) error {
		for {
			if _, err := w.Write(make([]byte, 4096)); err != nil {
				return err
			}
		}
	}, func(r io.Reader) error { return nil })
	if err != nil {
		t.Errorf("consumer done early: %v", err)
	}
}

func TestStagedName(t *testing.T) {
	d := manifest.Digest("sha256:" + strings.Repeat("ab", 32))
	for ref, want := range map[string]string{
		"registry.k8s.io/pause:3.10":                           "registry.k8s.io_pause_3.10-abababababab.tar",
		"localhost:5000/a/b@sha256:" + strings.Repeat("c", 64): "localhost_5000_a_b-abababababab.tar",
		"../../etc/passwd":                                     ".._.._etc_passwd-abababababab.tar",
		"ÜNICODE/x":                                            "_NICODE_x-abababababab.tar",
	} {
		got := StagedName(ref, d)
		if got != want {
			t.Errorf("StagedName(%q) = %q, want %q", ref, got, want)
		}
		if strings.ContainsAny(got, "/\x00") || got == "." || got == ".." {
			t.Errorf("StagedName(%q) = %q is not one file name", ref, got)
		}
	}
	other := manifest.Digest("sha256:" + strings.Repeat("cd", 32))
	if StagedName("a:1", d) == StagedName("a:1", other) {
		t.Error("the same ref at two digests gets one name")
	}
	if got := StagedName("a:1", "sha256:abc"); got != "a_1-abc.tar" {
		t.Errorf("short digest: %q", got)
	}
}

// A staged list survives JSON as the file staged.json is.
func TestStagedListJSON(t *testing.T) {
	l := StagedList{Version: 1, Images: []StagedImage{{Ref: "a:1", Digest: sha([]byte("a")), File: "a_1.tar", Namespaces: []string{"k8s.io", "default"}, Docker: true}}}
	b, err := json.Marshal(l)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{`"version":1`, `"ref":"a:1"`, `"file":"a_1.tar"`, `"namespaces":["k8s.io","default"]`, `"docker":true`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("staged.json lacks %s: %s", k, b)
		}
	}
	var back StagedList
	if err := json.Unmarshal(b, &back); err != nil || back.Images[0].Digest != l.Images[0].Digest || !back.Images[0].Docker {
		t.Errorf("round trip: %+v, %v", back, err)
	}
}
