// Package bundletest writes small, real bundles for tests of the packages
// that read them (sbom, provenance, diff, audit, the CLI): components whose
// files are given as bytes (real Go binaries, when a test wants their module
// lists), and OCI images built here layer by layer, stored through
// pack.BlobStore and written by pack.WriteFile exactly as the bundler does.
// It does not go through the bundler's pipeline, so tests of the readers do
// not depend on fetching, locking or the catalog.
package bundletest

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	digest "github.com/opencontainers/go-digest"
	specs "github.com/opencontainers/image-spec/specs-go"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/bundler"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sign"
)

// Created is the default creation time of a test bundle.
var Created = time.Date(2025, 4, 1, 0, 0, 0, 0, time.UTC)

// Spec describes a bundle to write.
type Spec struct {
	Name       string
	Version    string
	Sequence   uint64
	Created    time.Time // Created when zero
	Platforms  []string  // from the artifacts and images when empty
	Components []Component
	Images     []Image
	Notes      []manifest.Note
	// Attest makes the bundle carry its SBOM and a provenance signed by the
	// bundle's signer, as the bundler does (bundler.AttachSBOM,
	// bundler.SignProvenance).
	Attest bool
}

// Component is one component with its artifacts.
type Component struct {
	Name, Version, Variant string
	Artifacts              []Artifact
}

// Artifact is one upstream file. Digest defaults to the sha256 of
// "upstream <URL>", standing for the archive's bytes, which a test bundle
// does not carry.
type Artifact struct {
	Platform string
	// Version is the artifact's own release ("": the component's).
	Version string
	URL     string
	Digest  manifest.Digest
	Files   []File
}

// File is one installed file. Content is stored; Glibc is read from the
// content when it is an ELF file (as the bundler does).
type File struct {
	Path    string
	Mode    uint32 // 0755 when zero
	Content []byte
	Symlink string // a symlink's target; Content is ignored
}

// Image is an OCI image with one manifest per platform.
type Image struct {
	Ref       string
	Platforms []string
	// Layers are the layers of every platform's manifest, bottom first;
	// each maps a path to its content. A path ending in "/.wh..wh..opq" or
	// whose base starts with ".wh." is written as that whiteout entry.
	Layers []map[string][]byte
	// Compression of the layers: "gzip" (default), "zstd" or "none".
	Compression string
	// Salt changes the config (and so every digest) without changing the layers.
	Salt string
}

// Keys writes an unencrypted ECDSA P-256 key pair (PKCS#8 and PKIX PEM,
// which LoadSigner and LoadVerifier read; an encrypted key would cost
// seconds of scrypt per test) into dir and returns the signer and the public
// key's path.
func Keys(t testing.TB, dir string) (*sign.Signer, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	pubDER, err := x509.MarshalPKIXPublicKey(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	keyPath, pubPath := filepath.Join(dir, "test.key"), filepath.Join(dir, "test.pub")
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pubPath, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER}), 0o644); err != nil {
		t.Fatal(err)
	}
	s, err := sign.LoadSigner(context.Background(), keyPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s, pubPath
}

// Write writes the bundle described by s to out, signed by signer (unsigned
// when nil), and returns its index.
func Write(t testing.TB, out string, s Spec, signer *sign.Signer) *manifest.Index {
	t.Helper()
	ix, err := write(t.TempDir(), out, s, signer)
	if err != nil {
		t.Fatal(err)
	}
	return ix
}

// WriteFile is Write for callers without a testing.TB (testscript commands).
func WriteFile(out string, s Spec, signer *sign.Signer) (*manifest.Index, error) {
	dir, err := os.MkdirTemp("", "bundletest-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	return write(dir, out, s, signer)
}

func write(storeDir, out string, s Spec, signer *sign.Signer) (*manifest.Index, error) {
	store, err := pack.NewBlobStore(storeDir)
	if err != nil {
		return nil, err
	}
	created := s.Created
	if created.IsZero() {
		created = Created
	}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Name:          s.Name,
		Version:       s.Version,
		Sequence:      s.Sequence,
		Created:       created.UTC(),
		Platforms:     s.Platforms,
		Requirements:  manifest.Requirements{Installer: "0.1.0"},
		Notes:         s.Notes,
		Images:        []manifest.Image{},
	}
	blobs := map[manifest.Digest]manifest.Blob{}
	platforms := map[string]bool{}
	for _, c := range s.Components {
		mc := manifest.Component{Name: c.Name, Version: c.Version, Variant: c.Variant}
		for _, a := range c.Artifacts {
			platforms[a.Platform] = true
			d := a.Digest
			if d == "" {
				d = manifest.DigestOf(manifest.SHA256, []byte("upstream "+a.URL))
			}
			ma := manifest.Artifact{Platform: a.Platform, Version: a.Version, URL: a.URL, Digest: d, DigestSource: "spec"}
			for _, f := range a.Files {
				mode := f.Mode
				if mode == 0 {
					mode = 0o755
				}
				if f.Symlink != "" {
					ma.Files = append(ma.Files, manifest.File{Path: f.Path, Type: manifest.TypeSymlink, Mode: 0o777, Target: f.Symlink})
					continue
				}
				content, size, blob, err := store.PutFile(bytes.NewReader(f.Content))
				if err != nil {
					return nil, err
				}
				blobs[blob.Digest] = blob
				mf := manifest.File{Path: f.Path, Mode: mode, Digest: content, Size: size, Blob: blob.Digest, Source: path.Base(f.Path)}
				if bytes.HasPrefix(f.Content, []byte("\x7fELF")) {
					if mf.Glibc, err = pack.GlibcNeed(bytes.NewReader(f.Content)); err != nil {
						return nil, fmt.Errorf("%s: %w", f.Path, err)
					}
				}
				ma.Files = append(ma.Files, mf)
			}
			mc.Artifacts = append(mc.Artifacts, ma)
		}
		ix.Components = append(ix.Components, mc)
	}
	for _, im := range s.Images {
		got, err := putImage(store, im, blobs)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", im.Ref, err)
		}
		for _, p := range im.Platforms {
			platforms[p] = true
		}
		ix.Images = append(ix.Images, got)
	}
	if len(ix.Platforms) == 0 {
		for p := range platforms {
			ix.Platforms = append(ix.Platforms, p)
		}
		sort.Strings(ix.Platforms)
	}
	for _, b := range blobs {
		ix.Blobs = append(ix.Blobs, b)
	}
	slices.SortFunc(ix.Blobs, func(a, b manifest.Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	if s.Attest {
		if err := bundler.AttachSBOM(ix, store); err != nil {
			return nil, err
		}
	}
	indexJSON, err := ix.Encode()
	if err != nil {
		return nil, err
	}
	var sig, prov []byte
	if signer != nil {
		if sig, err = signer.Sign(indexJSON); err != nil {
			return nil, err
		}
	}
	if s.Attest {
		if signer == nil {
			return nil, fmt.Errorf("an attested test bundle needs a signer")
		}
		if prov, err = bundler.SignProvenance(ix, indexJSON, signer, bundler.Input{}, bundler.Input{}); err != nil {
			return nil, err
		}
	}
	if err := pack.WriteFileEntries(out, true, pack.Entries{Index: indexJSON, Signature: sig, Provenance: prov}, ix, store); err != nil {
		return nil, err
	}
	return manifest.DecodeIndex(indexJSON)
}

// putImage stores an image's blobs and returns its index entry.
func putImage(store *pack.BlobStore, im Image, blobs map[manifest.Digest]manifest.Blob) (manifest.Image, error) {
	put := func(b []byte) (ocispec.Descriptor, error) {
		d := manifest.DigestOf(manifest.SHA256, b)
		blob, err := store.PutRaw(d, bytes.NewReader(b))
		if err != nil {
			return ocispec.Descriptor{}, err
		}
		blobs[d] = blob
		return ocispec.Descriptor{Digest: digest.Digest(d), Size: int64(len(b))}, nil
	}
	var layerDescs []ocispec.Descriptor
	var diffIDs []digest.Digest
	for _, files := range im.Layers {
		raw, err := LayerTar(files)
		if err != nil {
			return manifest.Image{}, err
		}
		diffIDs = append(diffIDs, digest.FromBytes(raw))
		comp, mt, err := compress(raw, im.Compression)
		if err != nil {
			return manifest.Image{}, err
		}
		desc, err := put(comp)
		if err != nil {
			return manifest.Image{}, err
		}
		desc.MediaType = mt
		layerDescs = append(layerDescs, desc)
	}
	out := manifest.Image{Ref: im.Ref, Platforms: im.Platforms}
	var manifests []ocispec.Descriptor
	for _, p := range im.Platforms {
		goos, arch, _ := strings.Cut(p, "/")
		cfg := ocispec.Image{
			Created:  &Created,
			Platform: ocispec.Platform{OS: goos, Architecture: arch},
			RootFS:   ocispec.RootFS{Type: "layers", DiffIDs: diffIDs},
			Config:   ocispec.ImageConfig{Labels: map[string]string{"salt": im.Salt}},
		}
		cb, err := json.Marshal(cfg)
		if err != nil {
			return manifest.Image{}, err
		}
		cd, err := put(cb)
		if err != nil {
			return manifest.Image{}, err
		}
		cd.MediaType = ocispec.MediaTypeImageConfig
		m := ocispec.Manifest{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageManifest, Config: cd, Layers: layerDescs}
		mb, err := json.Marshal(m)
		if err != nil {
			return manifest.Image{}, err
		}
		md, err := put(mb)
		if err != nil {
			return manifest.Image{}, err
		}
		md.MediaType = ocispec.MediaTypeImageManifest
		md.Platform = &ocispec.Platform{OS: goos, Architecture: arch}
		manifests = append(manifests, md)
		out.Blobs = append(out.Blobs, manifest.Digest(md.Digest), manifest.Digest(cd.Digest))
	}
	for _, l := range layerDescs {
		out.Blobs = append(out.Blobs, manifest.Digest(l.Digest))
	}
	if len(manifests) == 1 {
		out.Digest, out.MediaType = manifest.Digest(manifests[0].Digest), ocispec.MediaTypeImageManifest
	} else {
		idx := ocispec.Index{Versioned: specs.Versioned{SchemaVersion: 2}, MediaType: ocispec.MediaTypeImageIndex, Manifests: manifests}
		ib, err := json.Marshal(idx)
		if err != nil {
			return manifest.Image{}, err
		}
		id, err := put(ib)
		if err != nil {
			return manifest.Image{}, err
		}
		out.Digest, out.MediaType = manifest.Digest(id.Digest), ocispec.MediaTypeImageIndex
		out.Blobs = append([]manifest.Digest{out.Digest}, out.Blobs...)
	}
	return out, nil
}

func compress(raw []byte, how string) ([]byte, string, error) {
	var buf bytes.Buffer
	switch how {
	case "", "gzip":
		zw := gzip.NewWriter(&buf)
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ocispec.MediaTypeImageLayerGzip, nil
	case "zstd":
		zw, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1))
		if err != nil {
			return nil, "", err
		}
		zw.Write(raw)
		if err := zw.Close(); err != nil {
			return nil, "", err
		}
		return buf.Bytes(), ocispec.MediaTypeImageLayerZstd, nil
	case "none":
		return raw, ocispec.MediaTypeImageLayer, nil
	}
	return nil, "", fmt.Errorf("unknown compression %q", how)
}

// LayerTar packs files (sorted, fixed times) into a layer tar.
func LayerTar(files map[string][]byte) ([]byte, error) {
	names := make([]string, 0, len(files))
	for n := range files {
		names = append(names, n)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, n := range names {
		b := files[n]
		h := &tar.Header{Name: n, Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(b)), ModTime: Created, Format: tar.FormatPAX}
		if err := tw.WriteHeader(h); err != nil {
			return nil, err
		}
		if _, err := tw.Write(b); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
