package push

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/partial"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/satchel-dev/satchel/manifest"
)

// BlobReader gives a blob's stored bytes after checking its digest
// (pack.Bundle.OpenBlob does).
type BlobReader interface {
	OpenBlob(d manifest.Digest) (io.Reader, error)
}

// maxManifestSize bounds the index and manifest documents read into memory.
const maxManifestSize = 4 << 20

// imageBlobs serves one bundled image's blobs to go-containerregistry:
// only blobs the index lists for that image, with the sizes it records.
type imageBlobs struct {
	ix    *manifest.Index
	im    *manifest.Image
	r     BlobReader
	repo  string
	owned map[manifest.Digest]bool
	// opened wraps a blob's reader as it is uploaded (progress).
	opened func(repo string, d manifest.Digest, size int64, r io.Reader) io.Reader
}

func newImageBlobs(ix *manifest.Index, im *manifest.Image, r BlobReader, repo string, opened func(string, manifest.Digest, int64, io.Reader) io.Reader) *imageBlobs {
	owned := map[manifest.Digest]bool{im.Digest: true}
	for _, d := range im.Blobs {
		owned[d] = true
	}
	return &imageBlobs{ix: ix, im: im, r: r, repo: repo, owned: owned, opened: opened}
}

func (s *imageBlobs) blob(h v1.Hash) (manifest.Blob, error) {
	d := manifest.Digest(h.String())
	if !s.owned[d] {
		return manifest.Blob{}, manifest.VerificationError(fmt.Errorf("image %s refers to blob %s, which the bundle does not list for it", s.im.Ref, d))
	}
	b, ok := s.ix.Blob(d)
	if !ok {
		return manifest.Blob{}, manifest.VerificationError(fmt.Errorf("image %s: blob %s is not in the bundle", s.im.Ref, d))
	}
	if b.Encoding != manifest.EncodingNone {
		return manifest.Blob{}, manifest.VerificationError(fmt.Errorf("image %s: blob %s is stored %s; image blobs are stored as they are", s.im.Ref, d, b.Encoding))
	}
	return b, nil
}

// read returns a small JSON document (index, manifest, config).
func (s *imageBlobs) read(h v1.Hash) ([]byte, error) {
	b, err := s.blob(h)
	if err != nil {
		return nil, err
	}
	if b.Size > maxManifestSize {
		return nil, fmt.Errorf("image %s: %s is %d bytes, more than an image document may have", s.im.Ref, b.Digest, b.Size)
	}
	r, err := s.r.OpenBlob(b.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", s.im.Ref, err)
	}
	data, err := io.ReadAll(io.LimitReader(r, b.Size+1))
	if err != nil {
		return nil, fmt.Errorf("image %s: blob %s: %w", s.im.Ref, b.Digest, err)
	}
	if int64(len(data)) != b.Size {
		return nil, manifest.VerificationError(fmt.Errorf("image %s: blob %s has %d bytes, the index says %d", s.im.Ref, b.Digest, len(data), b.Size))
	}
	return data, nil
}

// taggable returns the image's root (index or manifest) for go-containerregistry.
func (s *imageBlobs) taggable() (remote.Taggable, error) {
	h, err := v1.NewHash(string(s.im.Digest))
	if err != nil {
		return nil, err
	}
	raw, err := s.read(h)
	if err != nil {
		return nil, err
	}
	mt := mediaTypeOf(raw, types.MediaType(s.im.MediaType))
	switch {
	case mt.IsIndex():
		return &bundleIndex{s: s, digest: h, raw: raw, mt: mt}, nil
	case mt.IsImage():
		return s.image(h, raw, mt)
	}
	return nil, fmt.Errorf("image %s: media type %q is neither an image index nor a manifest", s.im.Ref, mt)
}

// manifests returns the image's index and manifests (the rest of its
// blobs are configs and layers), walking nested indexes.
func (s *imageBlobs) manifests() (map[manifest.Digest]bool, error) {
	out := map[manifest.Digest]bool{}
	var walk func(d manifest.Digest, fallback types.MediaType, depth int) error
	walk = func(d manifest.Digest, fallback types.MediaType, depth int) error {
		if out[d] {
			return nil
		}
		out[d] = true
		h, err := v1.NewHash(string(d))
		if err != nil {
			return err
		}
		raw, err := s.read(h)
		if err != nil {
			return err
		}
		if !mediaTypeOf(raw, fallback).IsIndex() {
			return nil
		}
		if depth > 8 {
			return fmt.Errorf("image %s: indexes nested more than 8 deep", s.im.Ref)
		}
		im, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return fmt.Errorf("image %s: index %s: %w", s.im.Ref, d, err)
		}
		for _, c := range im.Manifests {
			if err := walk(manifest.Digest(c.Digest.String()), c.MediaType, depth+1); err != nil {
				return err
			}
		}
		return nil
	}
	return out, walk(s.im.Digest, types.MediaType(s.im.MediaType), 0)
}

// mediaTypeOf prefers the document's own mediaType field, which a
// registry checks against the Content-Type of the upload.
func mediaTypeOf(raw []byte, fallback types.MediaType) types.MediaType {
	var doc struct {
		MediaType types.MediaType `json:"mediaType"`
	}
	if json.Unmarshal(raw, &doc) == nil && doc.MediaType != "" {
		return doc.MediaType
	}
	return fallback
}

func (s *imageBlobs) image(h v1.Hash, raw []byte, mt types.MediaType) (v1.Image, error) {
	m, err := v1.ParseManifest(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("image %s: manifest %s: %w", s.im.Ref, h, err)
	}
	return partial.CompressedToImage(&bundleImage{s: s, digest: h, raw: raw, mt: mt, m: m})
}

// bundleIndex is an image index whose children come from the bundle.
type bundleIndex struct {
	s      *imageBlobs
	digest v1.Hash
	raw    []byte
	mt     types.MediaType
}

var _ v1.ImageIndex = (*bundleIndex)(nil)

func (x *bundleIndex) MediaType() (types.MediaType, error) { return x.mt, nil }
func (x *bundleIndex) Digest() (v1.Hash, error)            { return x.digest, nil }
func (x *bundleIndex) Size() (int64, error)                { return int64(len(x.raw)), nil }
func (x *bundleIndex) RawManifest() ([]byte, error)        { return x.raw, nil }

func (x *bundleIndex) IndexManifest() (*v1.IndexManifest, error) {
	return v1.ParseIndexManifest(bytes.NewReader(x.raw))
}

// child finds a descriptor of the index; nothing the index does not name
// is served.
func (x *bundleIndex) child(h v1.Hash) (v1.Descriptor, []byte, error) {
	im, err := x.IndexManifest()
	if err != nil {
		return v1.Descriptor{}, nil, fmt.Errorf("image %s: index %s: %w", x.s.im.Ref, x.digest, err)
	}
	for _, d := range im.Manifests {
		if d.Digest == h {
			raw, err := x.s.read(h)
			if err != nil {
				return v1.Descriptor{}, nil, err
			}
			return d, raw, nil
		}
	}
	return v1.Descriptor{}, nil, fmt.Errorf("image %s: index %s has no manifest %s", x.s.im.Ref, x.digest, h)
}

func (x *bundleIndex) Image(h v1.Hash) (v1.Image, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return x.s.image(h, raw, mediaTypeOf(raw, d.MediaType))
}

func (x *bundleIndex) ImageIndex(h v1.Hash) (v1.ImageIndex, error) {
	d, raw, err := x.child(h)
	if err != nil {
		return nil, err
	}
	return &bundleIndex{s: x.s, digest: h, raw: raw, mt: mediaTypeOf(raw, d.MediaType)}, nil
}

// bundleImage is a manifest whose config and layers come from the bundle
// (partial.CompressedImageCore; ConfigLayer streams the config as a blob).
type bundleImage struct {
	s      *imageBlobs
	digest v1.Hash
	raw    []byte
	mt     types.MediaType
	m      *v1.Manifest
}

func (i *bundleImage) MediaType() (types.MediaType, error) { return i.mt, nil }
func (i *bundleImage) RawManifest() ([]byte, error)        { return i.raw, nil }
func (i *bundleImage) RawConfigFile() ([]byte, error)      { return i.s.read(i.m.Config.Digest) }

func (i *bundleImage) ConfigLayer() (v1.Layer, error) {
	return i.layer(i.m.Config)
}

func (i *bundleImage) LayerByDigest(h v1.Hash) (partial.CompressedLayer, error) {
	for _, l := range i.m.Layers {
		if l.Digest == h {
			return i.layerCore(l)
		}
	}
	if i.m.Config.Digest == h {
		return i.layerCore(i.m.Config)
	}
	return nil, fmt.Errorf("image %s: manifest %s has no layer %s", i.s.im.Ref, i.digest, h)
}

func (i *bundleImage) layerCore(d v1.Descriptor) (*bundleLayer, error) {
	b, err := i.s.blob(d.Digest)
	if err != nil {
		return nil, err
	}
	if b.Size != d.Size {
		return nil, manifest.VerificationError(fmt.Errorf("image %s: manifest %s says blob %s has %d bytes, the bundle holds %d", i.s.im.Ref, i.digest, d.Digest, d.Size, b.Size))
	}
	return &bundleLayer{s: i.s, desc: d}, nil
}

func (i *bundleImage) layer(d v1.Descriptor) (v1.Layer, error) {
	l, err := i.layerCore(d)
	if err != nil {
		return nil, err
	}
	return partial.CompressedToLayer(l)
}

// bundleLayer is a blob (layer or config) streamed from the bundle as it
// is uploaded.
type bundleLayer struct {
	s    *imageBlobs
	desc v1.Descriptor
}

func (l *bundleLayer) Digest() (v1.Hash, error)            { return l.desc.Digest, nil }
func (l *bundleLayer) Size() (int64, error)                { return l.desc.Size, nil }
func (l *bundleLayer) MediaType() (types.MediaType, error) { return l.desc.MediaType, nil }

func (l *bundleLayer) Compressed() (io.ReadCloser, error) {
	d := manifest.Digest(l.desc.Digest.String())
	r, err := l.s.r.OpenBlob(d)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", l.s.im.Ref, err)
	}
	if l.s.opened != nil {
		r = l.s.opened(l.s.repo, d, l.desc.Size, r)
	}
	if c, ok := r.(io.ReadCloser); ok {
		return c, nil
	}
	return io.NopCloser(r), nil
}
