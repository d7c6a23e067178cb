package install

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/install/images"
)

func TestImageRefNames(t *testing.T) {
	for _, c := range []struct{ ref, oci, docker string }{
		{"docker.io/library/nginx:1.27.4", "1.27.4", "docker.io/library/nginx:1.27.4"},
		{"reg.example:5000/team/app:v1", "v1", "reg.example:5000/team/app:v1"},
		{"reg.example:5000/team/app", "reg.example:5000/team/app", ""},
		{"registry.k8s.io/pause:3.10@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a", "3.10", "registry.k8s.io/pause:3.10"},
		{"example.com/app@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a", "example.com/app@sha256:ee6521f290b2168b6e0935a181d4cff9be1ac3f505666ef0e3c98fae8199917a", ""},
	} {
		full, oci, docker := images.RefNames(c.ref)
		if full != c.ref || oci != c.oci || docker != c.docker {
			t.Errorf("%s: got (%s, %s, %s), want (%s, %s)", c.ref, full, oci, docker, c.oci, c.docker)
		}
	}
}

// TestImageArchive: the stream is an OCI layout naming the image, with a
// Docker manifest.json for the platform, every blob, and the same bytes
// every time (so a staged archive compares equal across runs).
func TestImageArchive(t *testing.T) {
	e := newEnv(t, defaultFixture())
	in := e.installer()
	src, err := in.Open(context.Background(), e.bundle)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	im := e.ix.Images[1]
	var a, b bytes.Buffer
	if err := images.WriteArchive(&a, e.ix, im, src.bundle, hostPlatform, nil); err != nil {
		t.Fatal(err)
	}
	images.WriteArchive(&b, e.ix, im, src.bundle, hostPlatform, nil)
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Error("archive is not deterministic")
	}
	if n := int64(a.Len()); n > images.ArchiveSize(e.ix, im) || n < images.ArchiveSize(e.ix, im)/2 {
		t.Errorf("archive %d bytes, estimate %d", n, images.ArchiveSize(e.ix, im))
	}
	files := untar(t, a.Bytes())
	if string(files["oci-layout"]) != `{"imageLayoutVersion":"1.0.0"}` {
		t.Errorf("oci-layout: %s", files["oci-layout"])
	}
	var idx ocispec.Index
	json.Unmarshal(files["index.json"], &idx)
	if len(idx.Manifests) != 1 || idx.Manifests[0].Annotations["io.containerd.image.name"] != im.Ref ||
		idx.Manifests[0].Annotations[ocispec.AnnotationRefName] != "1.27.4" || string(idx.Manifests[0].Digest) != string(im.Digest) {
		t.Errorf("index.json: %s", files["index.json"])
	}
	var mf []struct {
		Config   string
		RepoTags []string
		Layers   []string
	}
	json.Unmarshal(files["manifest.json"], &mf)
	if len(mf) != 1 || len(mf[0].RepoTags) != 1 || mf[0].RepoTags[0] != im.Ref || len(mf[0].Layers) != 1 || files[mf[0].Config] == nil || files[mf[0].Layers[0]] == nil {
		t.Errorf("manifest.json: %s", files["manifest.json"])
	}
	// For a platform the bundle lacks, there is no Docker manifest (docker load is skipped).
	var c bytes.Buffer
	if err := images.WriteArchive(&c, e.ix, im, src.bundle, "linux/s390x", nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := untar(t, c.Bytes())["manifest.json"]; ok {
		t.Error("manifest.json for a platform the image lacks")
	}
}
