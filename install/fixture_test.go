package install

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sign"
)

// hostPlatform is the platform the fixtures install for.
var hostPlatform = "linux/" + runtime.GOARCH

// fixFile is one file of a fixture component.
type fixFile struct {
	path    string
	mode    uint32
	content string
	link    string // symlink target
}

type fixComponent struct {
	name, version string
	files         []fixFile
}

// fixImage is a small random single-layer image.
type fixImage struct {
	ref, role string
	seed      uint64
}

// fixture describes a bundle to build.
type fixture struct {
	name       string
	version    string
	seq        uint64
	components []fixComponent
	images     []fixImage
	// platform is the bundle's platform (default: this host's); urls
	// gives a component's upstream URL (default example.invalid/<name>).
	platform string
	urls     map[string]string
	// tamper, if set, changes the index before it is signed (a bundle
	// signed broken).
	tamper func(ix *manifest.Index)
}

// script is a stand-in tool: a shell script that prints a bash completion
// when asked, so completion generation runs a real installed "binary".
func script(name string) string {
	return "#!/bin/sh\n" +
		"if [ \"$1 $2\" = \"completion bash\" ]; then echo '# bash completion for " + name + "'; echo 'complete -F _" + name + " " + name + "'; exit 0; fi\n" +
		"echo '" + name + " stand-in'\n"
}

func bin(name string) fixFile {
	return fixFile{path: "/usr/local/bin/" + name, mode: 0o755, content: script(name)}
}

// defaultFixture is every component satchel knows, with stand-in files.
func defaultFixture() fixture {
	return fixture{
		name: "test-runtimes", version: "2025.04.0", seq: 7,
		components: []fixComponent{
			{"containerd", "2.0.4", []fixFile{bin("containerd"), bin("ctr"), bin("containerd-shim-runc-v2")}},
			{"runc", "1.2.5", []fixFile{bin("runc")}},
			{"gvisor", "20250331.0", []fixFile{bin("runsc"), bin("containerd-shim-runsc-v1")}},
			{"kata", "3.1.3", []fixFile{
				{path: "/opt/kata/bin/kata-runtime", mode: 0o755, content: script("kata-runtime")},
				{path: "/opt/kata/bin/containerd-shim-kata-v2", mode: 0o755, content: script("containerd-shim-kata-v2")},
				{path: "/opt/kata/share/defaults/kata-containers/configuration.toml", mode: 0o644, content: "[hypervisor.qemu]\npath = \"/opt/kata/bin/qemu-system-x86_64\"\n"},
				{path: "/usr/local/bin/kata-runtime", link: "/opt/kata/bin/kata-runtime"},
				{path: "/usr/local/bin/containerd-shim-kata-v2", link: "../../../opt/kata/bin/containerd-shim-kata-v2"},
			}},
			{"docker", "27.5.1", []fixFile{bin("docker"), bin("dockerd"), bin("docker-init"), bin("docker-proxy")}},
			{"nerdctl", "2.0.4", []fixFile{bin("nerdctl")}},
			{"crictl", "1.32.0", []fixFile{bin("crictl")}},
		},
		images: []fixImage{
			{ref: "registry.k8s.io/pause:3.10", role: "sandbox", seed: 1},
			{ref: "docker.io/library/nginx:1.27.4", seed: 2},
		},
	}
}

// testKey is a signing key pair on disk.
type testKey struct {
	priv, pub string
	signer    *sign.Signer
}

func newKey(t testing.TB, dir, name string) *testKey {
	t.Helper()
	priv, pub, err := sign.GenerateKeyPair(sign.ECDSAP256, nil)
	if err != nil {
		t.Fatal(err)
	}
	k := &testKey{priv: filepath.Join(dir, name+".key"), pub: filepath.Join(dir, name+".pub")}
	if err := os.WriteFile(k.priv, priv, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(k.pub, pub, 0o644); err != nil {
		t.Fatal(err)
	}
	k.signer, err = sign.LoadSigner(context.Background(), k.priv, func(bool) ([]byte, error) { return nil, nil })
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// build writes the fixture as a bundle signed with key (unsigned when key
// is nil) and returns its path and index.
func (fx fixture) build(t testing.TB, dir string, key *testKey) (string, *manifest.Index) {
	t.Helper()
	platform := fx.platform
	if platform == "" {
		platform = hostPlatform
	}
	store, err := pack.NewBlobStore(filepath.Join(dir, "store"))
	if err != nil {
		t.Fatal(err)
	}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Name:          fx.name, Version: fx.version, Sequence: fx.seq,
		Created:      time.Unix(1_743_465_600, 0).UTC(),
		Profile:      "test",
		Platforms:    []string{platform},
		Requirements: manifest.Requirements{Installer: "0.1.0", MinKernel: "3.10"},
	}
	seen := map[manifest.Digest]bool{}
	addBlob := func(b manifest.Blob) {
		if !seen[b.Digest] {
			seen[b.Digest] = true
			ix.Blobs = append(ix.Blobs, b)
		}
	}
	for _, c := range fx.components {
		url := "https://example.invalid/" + c.name + ".tar.gz"
		if u, ok := fx.urls[c.name]; ok {
			url = u
		}
		art := manifest.Artifact{Platform: platform, URL: url,
			Digest: manifest.DigestOf("sha256", []byte(c.name)), DigestSource: manifest.DigestFromProfile}
		var arts []manifest.Artifact
		for _, f := range c.files {
			// gVisor ships runsc and its shim as two plain files: two
			// artifacts for one platform, as the bundler records them.
			if c.name == "gvisor" && len(art.Files) > 0 {
				arts = append(arts, art)
				art = manifest.Artifact{Platform: platform, URL: "https://example.invalid/" + filepath.Base(f.path),
					Digest: manifest.DigestOf("sha256", []byte(f.path)), DigestSource: manifest.DigestFromChecksumFile}
			}
			if f.link != "" {
				art.Files = append(art.Files, manifest.File{Path: f.path, Type: manifest.TypeSymlink, Mode: 0o777, Target: f.link})
				continue
			}
			d, size, blob, err := store.PutFile(strings.NewReader(f.content))
			if err != nil {
				t.Fatal(err)
			}
			addBlob(blob)
			art.Files = append(art.Files, manifest.File{Path: f.path, Mode: f.mode, Digest: d, Size: size, Blob: blob.Digest, Source: filepath.Base(f.path)})
		}
		ix.Components = append(ix.Components, manifest.Component{Name: c.name, Version: c.version, Artifacts: append(arts, art)})
	}
	for _, im := range fx.images {
		img := buildImage(t, store, im)
		for _, d := range img.Blobs {
			b, err := store.PutRaw(d, mustOpen(t, store, d))
			if err != nil {
				t.Fatal(err)
			}
			addBlob(b)
		}
		ix.Images = append(ix.Images, img)
	}
	if fx.tamper != nil {
		fx.tamper(ix)
	}
	js, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	var sig []byte
	if key != nil {
		if sig, err = key.signer.Sign(js); err != nil {
			t.Fatal(err)
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("%s-%d.satchel", fx.name, fx.seq))
	if err := pack.WriteFile(out, true, js, sig, ix, store); err != nil {
		t.Fatal(err)
	}
	return out, ix
}

func mustOpen(t testing.TB, s *pack.BlobStore, d manifest.Digest) io.Reader {
	rc, err := s.Open(d)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(rc)
	rc.Close()
	if err != nil {
		t.Fatal(err)
	}
	return bytes.NewReader(b)
}

// buildImage makes a one-layer image (layer: a gzipped tar with one random
// file) as an index over one manifest for the host platform, and puts its
// blobs in the store.
func buildImage(t testing.TB, store *pack.BlobStore, im fixImage) manifest.Image {
	t.Helper()
	put := func(b []byte) ocispec.Descriptor {
		d := manifest.DigestOf("sha256", b)
		if _, err := store.PutRaw(d, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		return ocispec.Descriptor{Digest: digest.Digest(d), Size: int64(len(b))}
	}
	r := rand.New(rand.NewPCG(im.seed, 42))
	content := make([]byte, 4096)
	for i := range content {
		content[i] = byte(r.Uint32())
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "data", Mode: 0o644, Size: int64(len(content)), ModTime: time.Unix(0, 0)})
	tw.Write(content)
	tw.Close()
	diffID := manifest.DigestOf("sha256", tb.Bytes())
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	layer := put(gz.Bytes())
	layer.MediaType = ocispec.MediaTypeImageLayerGzip
	arch := runtime.GOARCH
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(diffID)}}})
	cfgDesc := put(cfg)
	cfgDesc.MediaType = ocispec.MediaTypeImageConfig
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cfgDesc, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	mDesc := put(mb)
	mDesc.MediaType = ocispec.MediaTypeImageManifest
	mDesc.Platform = &ocispec.Platform{OS: "linux", Architecture: arch}
	idx := ocispec.Index{MediaType: ocispec.MediaTypeImageIndex, Manifests: []ocispec.Descriptor{mDesc}}
	idx.SchemaVersion = 2
	ib, _ := json.Marshal(idx)
	iDesc := put(ib)
	return manifest.Image{
		Ref: im.ref, Digest: manifest.Digest(iDesc.Digest), MediaType: ocispec.MediaTypeImageIndex,
		Platforms: []string{hostPlatform}, Role: im.role,
		Blobs: []manifest.Digest{manifest.Digest(iDesc.Digest), manifest.Digest(mDesc.Digest), manifest.Digest(cfgDesc.Digest), manifest.Digest(layer.Digest)},
	}
}

// snapshot records a tree: every file's mode and content, every symlink's
// target, every directory's mode. Equal snapshots mean byte-identical trees.
func snapshot(t testing.TB, root string, skip ...rootfs.Path) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := strings.TrimPrefix(p, root)
		if rel == "" {
			return nil
		}
		for _, s := range skip {
			if rel == string(s) {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			tg, _ := os.Readlink(p)
			out[rel] = "symlink " + tg
		case fi.IsDir():
			out[rel] = fmt.Sprintf("dir %v", fi.Mode())
		case !fi.Mode().IsRegular():
			out[rel] = fmt.Sprintf("special %v", fi.Mode()) // a FIFO would block a read
		default:
			b, _ := os.ReadFile(p)
			out[rel] = fmt.Sprintf("file %v %s", fi.Mode(), manifest.DigestOf("sha256", b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots lists the differences between two snapshots, sorted.
func diffSnapshots(a, b map[string]string) []string {
	var d []string
	for k, v := range a {
		if w, ok := b[k]; !ok {
			d = append(d, "- "+k+" ("+v+")")
		} else if w != v {
			d = append(d, "~ "+k+" ("+v+" -> "+w+")")
		}
	}
	for k, v := range b {
		if _, ok := a[k]; !ok {
			d = append(d, "+ "+k+" ("+v+")")
		}
	}
	sort.Strings(d)
	return d
}

func requireSameTree(t testing.TB, before, after map[string]string) {
	t.Helper()
	if d := diffSnapshots(before, after); len(d) > 0 {
		t.Fatalf("tree changed:\n%s", strings.Join(d, "\n"))
	}
}
