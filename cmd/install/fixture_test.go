package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sign"
)

// standIn is a tool stand-in: a shell script that prints a completion,
// and, like the real client, fails when its -a/--address socket is absent.
func standIn(name string) string {
	return "#!/bin/sh\n" +
		"if [ \"$1 $2\" = \"completion bash\" ]; then echo 'complete -F _" + name + " " + name + "'; exit 0; fi\n" +
		"if [ \"$1\" = -a ] && [ ! -S \"$2\" ]; then echo \"" + name + ": dial unix $2: connect: no such file or directory\" >&2; exit 1; fi\n" +
		"echo '" + name + " stand-in'\n"
}

// bundleSpec says what fixture bundle to build.
type bundleSpec struct {
	seq    uint64
	arch   string // GOARCH of the files; default the host's
	signer *sign.Signer
	// attest makes the bundle carry its SBOM and provenance, as the bundler
	// does; the provenance is signed by provSigner when set, else signer.
	attest     bool
	provSigner *sign.Signer
	// versions overrides component versions by name.
	versions map[string]string
}

var fixtureComponents = []struct {
	name, version string
	files         []string // /usr/local/bin names; "kata" adds its tree
}{
	{"containerd", "2.0.4", []string{"containerd", "ctr", "containerd-shim-runc-v2"}},
	{"runc", "1.2.5", []string{"runc"}},
	{"gvisor", "20250331.0", []string{"runsc", "containerd-shim-runsc-v1"}},
	{"kata", "3.1.3", nil},
	{"docker", "27.5.1", []string{"docker", "dockerd"}},
	{"nerdctl", "2.0.4", []string{"nerdctl"}},
	{"crictl", "1.32.0", []string{"crictl"}},
}

// buildBundle writes a small bundle of stand-in tools and one image.
func buildBundle(dir, out string, s bundleSpec) error {
	arch := s.arch
	if arch == "" {
		arch = runtime.GOARCH
	}
	platform := "linux/" + arch
	store, err := pack.NewBlobStore(filepath.Join(dir, ".store"))
	if err != nil {
		return err
	}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion, Name: "kylin-runtimes", Version: fmt.Sprintf("2025.04.%d", s.seq), Sequence: s.seq,
		Created: time.Unix(1_743_465_600, 0).UTC(), Platforms: []string{platform},
		Requirements: manifest.Requirements{Installer: "0.1.0"},
	}
	seen := map[manifest.Digest]bool{}
	add := func(b manifest.Blob) {
		if !seen[b.Digest] {
			seen[b.Digest] = true
			ix.Blobs = append(ix.Blobs, b)
		}
	}
	file := func(path, content string, mode uint32) (manifest.File, error) {
		d, size, blob, err := store.PutFile(strings.NewReader(content))
		if err != nil {
			return manifest.File{}, err
		}
		add(blob)
		return manifest.File{Path: path, Mode: mode, Digest: d, Size: size, Blob: blob.Digest}, nil
	}
	for _, c := range fixtureComponents {
		art := manifest.Artifact{Platform: platform, URL: "https://example.invalid/" + c.name, Digest: manifest.DigestOf("sha256", []byte(c.name)), DigestSource: "profile"}
		for _, n := range c.files {
			f, err := file("/usr/local/bin/"+n, standIn(n), 0o755)
			if err != nil {
				return err
			}
			art.Files = append(art.Files, f)
		}
		if c.name == "kata" {
			for _, n := range []string{"kata-runtime", "containerd-shim-kata-v2"} {
				f, err := file("/opt/kata/bin/"+n, standIn(n), 0o755)
				if err != nil {
					return err
				}
				art.Files = append(art.Files, f, manifest.File{Path: "/usr/local/bin/" + n, Type: manifest.TypeSymlink, Mode: 0o777, Target: "/opt/kata/bin/" + n})
			}
		}
		v := c.version
		if o, ok := s.versions[c.name]; ok {
			v = o
		}
		ix.Components = append(ix.Components, manifest.Component{Name: c.name, Version: v, Artifacts: []manifest.Artifact{art}})
	}
	im, err := image(store, add, "docker.io/library/nginx:1.27.4", arch)
	if err != nil {
		return err
	}
	ix.Images = []manifest.Image{im}
	if s.attest {
		if err := bundler.AttachSBOM(ix, store); err != nil {
			return err
		}
	}
	js, err := ix.Encode()
	if err != nil {
		return err
	}
	var sig, prov []byte
	if s.signer != nil {
		if sig, err = s.signer.Sign(js); err != nil {
			return err
		}
	}
	if s.attest {
		ps := s.provSigner
		if ps == nil {
			ps = s.signer
		}
		if prov, err = bundler.SignProvenance(ix, js, ps, bundler.Input{}, bundler.Input{}); err != nil {
			return err
		}
	}
	return pack.WriteFileEntries(out, true, pack.Entries{Index: js, Signature: sig, Provenance: prov}, ix, store)
}

// image makes a one-layer image for arch and stores its blobs.
func image(store *pack.BlobStore, add func(manifest.Blob), ref, arch string) (manifest.Image, error) {
	var blobs []manifest.Digest
	put := func(b []byte, mt string) (ocispec.Descriptor, error) {
		d := manifest.DigestOf("sha256", b)
		bl, err := store.PutRaw(d, bytes.NewReader(b))
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		add(bl)
		blobs = append(blobs, d)
		return ocispec.Descriptor{MediaType: mt, Digest: digest.Digest(d), Size: int64(len(b))}, nil
	}
	var tb bytes.Buffer
	tw := tar.NewWriter(&tb)
	tw.WriteHeader(&tar.Header{Name: "hello", Mode: 0o644, Size: 5, ModTime: time.Unix(0, 0)})
	tw.Write([]byte("hello"))
	tw.Close()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(tb.Bytes())
	zw.Close()
	layer, err := put(gz.Bytes(), ocispec.MediaTypeImageLayerGzip)
	if err != nil {
		return manifest.Image{}, err
	}
	cfg, _ := json.Marshal(ocispec.Image{Platform: ocispec.Platform{OS: "linux", Architecture: arch},
		RootFS: ocispec.RootFS{Type: "layers", DiffIDs: []digest.Digest{digest.Digest(manifest.DigestOf("sha256", tb.Bytes()))}}})
	cd, err := put(cfg, ocispec.MediaTypeImageConfig)
	if err != nil {
		return manifest.Image{}, err
	}
	m := ocispec.Manifest{MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: []ocispec.Descriptor{layer}}
	m.SchemaVersion = 2
	mb, _ := json.Marshal(m)
	md, err := put(mb, ocispec.MediaTypeImageManifest)
	if err != nil {
		return manifest.Image{}, err
	}
	// The manifest is the image: blobs listed root first.
	blobs = append([]manifest.Digest{manifest.Digest(md.Digest)}, blobs[:len(blobs)-1]...)
	return manifest.Image{Ref: ref, Digest: manifest.Digest(md.Digest), MediaType: ocispec.MediaTypeImageManifest,
		Platforms: []string{"linux/" + arch}, Blobs: blobs}, nil
}

// writeKey writes a key pair NAME.key/NAME.pub and returns its signer.
func writeKey(dir, name string) (*sign.Signer, error) {
	priv, pub, err := sign.GenerateKeyPair(sign.ECDSAP256, nil)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".key"), priv, 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, name+".pub"), pub, 0o644); err != nil {
		return nil, err
	}
	return sign.LoadSigner(context.Background(), filepath.Join(dir, name+".key"), func(bool) ([]byte, error) { return nil, nil })
}
