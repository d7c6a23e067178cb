// Package images moves the bundle's OCI images into containerd and Docker:
// deterministic image archives streamed from the bundle's blobs, `ctr images
// import` and pinning, `docker load`, and archives staged for import at
// first start.
package images

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	digest "github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/manifest"
)

// BlobReader gives the stored bytes of a blob after checking its digest
// (pack.Bundle.OpenBlob does).
type BlobReader interface {
	OpenBlob(d manifest.Digest) (io.Reader, error)
}

// Media types of image indexes and manifests, OCI and Docker.
const (
	mediaDockerList     = "application/vnd.docker.distribution.manifest.list.v2+json"
	mediaDockerManifest = "application/vnd.docker.distribution.manifest.v2+json"
)

func isIndexMedia(mt string) bool {
	return mt == ocispec.MediaTypeImageIndex || mt == mediaDockerList
}

// maxManifestSize bounds the JSON documents read into memory.
const maxManifestSize = 4 << 20

// ArchiveSize returns the number of bytes WriteArchive will write,
// for progress displays.
func ArchiveSize(ix *manifest.Index, im manifest.Image) int64 {
	var n int64 = 8 * 1024 // headers and the small JSON files, roughly
	for _, d := range im.Blobs {
		if b, ok := ix.Blob(d); ok {
			n += 512 + (b.Size+511)/512*512
		}
	}
	return n
}

// RefNames splits a reference into the name containerd records
// (the full reference) and the OCI ref.name annotation (the tag, as
// containerd's exporter writes it), plus the "name:tag" Docker needs.
func RefNames(ref string) (full, ociName, dockerTag string) {
	full = ref
	nameTag, _, _ := strings.Cut(ref, "@")
	slash := strings.LastIndex(nameTag, "/")
	if i := strings.LastIndex(nameTag, ":"); i > slash {
		return full, nameTag[i+1:], nameTag
	}
	// By digest only, or untagged: the OCI name is the whole reference and
	// Docker gets no tag (it would invent "latest").
	return full, ref, ""
}

func digestOf(d manifest.Digest) digest.Digest { return digest.Digest(d) }

// WriteArchive writes an image as an OCI image layout in a tar stream:
// oci-layout, index.json (annotated with the reference, so `ctr images
// import` names the image), a Docker manifest.json for the host platform
// (so `docker load` accepts the same stream), and blobs/sha256/<hex>. Blobs
// are streamed from the bundle; nothing is copied to disk. The output is
// deterministic, so a staged archive compares equal across runs.
func WriteArchive(w io.Writer, ix *manifest.Index, im manifest.Image, blobs BlobReader, platform string, progress func(int64)) error {
	mtime := ix.Created.UTC().Truncate(time.Second)
	tw := tar.NewWriter(w)
	put := func(name string, b []byte) error {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(b)), ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			return err
		}
		_, err := tw.Write(b)
		return err
	}
	rootBlob, ok := ix.Blob(im.Digest)
	if !ok {
		return manifest.VerificationError(fmt.Errorf("image %s: blob %s is not in the bundle", im.Ref, im.Digest))
	}
	full, ociName, dockerTag := RefNames(im.Ref)
	layout, _ := json.Marshal(ocispec.ImageLayout{Version: ocispec.ImageLayoutVersion})
	index := ocispec.Index{
		MediaType: ocispec.MediaTypeImageIndex,
		Manifests: []ocispec.Descriptor{{
			MediaType: im.MediaType,
			Digest:    digestOf(im.Digest),
			Size:      rootBlob.Size,
			Annotations: map[string]string{
				"io.containerd.image.name": full,
				ocispec.AnnotationRefName:  ociName,
			},
		}},
	}
	index.SchemaVersion = 2
	indexJSON, err := json.Marshal(index)
	if err != nil {
		return err
	}
	if err := put(ocispec.ImageLayoutFile, layout); err != nil {
		return err
	}
	if err := put(ocispec.ImageIndexFile, indexJSON); err != nil {
		return err
	}
	dm, err := dockerManifest(ix, im, blobs, platform, dockerTag)
	if err != nil {
		return err
	}
	if dm != nil {
		if err := put("manifest.json", dm); err != nil {
			return err
		}
	}
	for _, dir := range []string{"blobs/", "blobs/sha256/"} {
		if err := tw.WriteHeader(&tar.Header{Name: dir, Mode: 0o755, ModTime: mtime, Typeflag: tar.TypeDir, Format: tar.FormatPAX}); err != nil {
			return err
		}
	}
	seen := map[manifest.Digest]bool{}
	for _, d := range im.Blobs {
		if seen[d] {
			continue
		}
		seen[d] = true
		b, ok := ix.Blob(d)
		if !ok {
			return manifest.VerificationError(fmt.Errorf("image %s: blob %s is not in the bundle", im.Ref, d))
		}
		if b.Encoding != manifest.EncodingNone {
			return manifest.VerificationError(fmt.Errorf("image %s: blob %s is stored %s; image blobs are stored as they are", im.Ref, d, b.Encoding))
		}
		if d.Algorithm() != manifest.SHA256 {
			return fmt.Errorf("image %s: blob %s: OCI layouts here hold sha256 blobs only", im.Ref, d)
		}
		r, err := blobs.OpenBlob(d)
		if err != nil {
			return fmt.Errorf("image %s: %w", im.Ref, err)
		}
		if err := tw.WriteHeader(&tar.Header{Name: "blobs/sha256/" + d.Hex(), Mode: 0o644, Size: b.Size, ModTime: mtime, Typeflag: tar.TypeReg, Format: tar.FormatPAX}); err != nil {
			closeReader(r)
			return err
		}
		n, err := io.Copy(tw, io.LimitReader(r, b.Size))
		closeReader(r)
		if err != nil {
			return fmt.Errorf("image %s: blob %s: %w", im.Ref, d, err)
		}
		if n != b.Size {
			return manifest.VerificationError(fmt.Errorf("image %s: blob %s: %d bytes, index says %d", im.Ref, d, n, b.Size))
		}
		if progress != nil {
			progress(n)
		}
	}
	return tw.Close()
}

func closeReader(r io.Reader) {
	if c, ok := r.(io.Closer); ok {
		c.Close()
	}
}

// platformManifest returns the image's manifest for platform (the image
// itself when it is a single manifest), or nil when the bundle holds none.
func platformManifest(ix *manifest.Index, im manifest.Image, blobs BlobReader, platform string) (*ocispec.Manifest, error) {
	mt, b, err := readJSONBlob(ix, blobs, im.Digest)
	if err != nil {
		return nil, fmt.Errorf("image %s: %w", im.Ref, err)
	}
	if mt == "" {
		mt = im.MediaType
	}
	if isIndexMedia(mt) {
		var idx ocispec.Index
		if err := json.Unmarshal(b, &idx); err != nil {
			return nil, fmt.Errorf("image %s: parsing index: %w", im.Ref, err)
		}
		var found *ocispec.Descriptor
		for i, d := range idx.Manifests {
			if d.Platform == nil || !platformMatches(platform, d.Platform) {
				continue
			}
			if _, ok := ix.Blob(manifest.Digest(d.Digest)); !ok {
				continue
			}
			found = &idx.Manifests[i]
			break
		}
		if found == nil {
			return nil, nil
		}
		if _, b, err = readJSONBlob(ix, blobs, manifest.Digest(found.Digest)); err != nil {
			return nil, fmt.Errorf("image %s: %w", im.Ref, err)
		}
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("image %s: parsing manifest: %w", im.Ref, err)
	}
	return &m, nil
}

// dockerManifest builds manifest.json for the host platform's manifest, or
// returns nil when the bundle holds no manifest for it.
func dockerManifest(ix *manifest.Index, im manifest.Image, blobs BlobReader, platform, tag string) ([]byte, error) {
	m, err := platformManifest(ix, im, blobs, platform)
	if err != nil || m == nil {
		return nil, err
	}
	entry := struct {
		Config   string
		RepoTags []string
		Layers   []string
	}{Config: "blobs/sha256/" + m.Config.Digest.Encoded(), Layers: []string{}}
	if tag != "" {
		entry.RepoTags = []string{tag}
	}
	for _, l := range m.Layers {
		entry.Layers = append(entry.Layers, "blobs/sha256/"+l.Digest.Encoded())
	}
	return json.Marshal([]any{entry})
}

// readJSONBlob reads a small JSON blob and returns its declared mediaType.
func readJSONBlob(ix *manifest.Index, blobs BlobReader, d manifest.Digest) (string, []byte, error) {
	info, ok := ix.Blob(d)
	if !ok {
		return "", nil, manifest.VerificationError(fmt.Errorf("blob %s is not in the bundle", d))
	}
	if info.Size > maxManifestSize {
		return "", nil, fmt.Errorf("blob %s: %d bytes is too large for a manifest", d, info.Size)
	}
	r, err := blobs.OpenBlob(d)
	if err != nil {
		return "", nil, err
	}
	defer closeReader(r)
	b, err := io.ReadAll(io.LimitReader(r, maxManifestSize))
	if err != nil {
		return "", nil, err
	}
	var probe struct {
		MediaType string `json:"mediaType"`
	}
	if err := json.Unmarshal(b, &probe); err != nil {
		return "", nil, fmt.Errorf("blob %s: %w", d, err)
	}
	return probe.MediaType, b, nil
}

// platformMatches compares "os/arch[/variant]" with a descriptor's platform.
func platformMatches(want string, p *ocispec.Platform) bool {
	parts := strings.Split(want, "/")
	if len(parts) < 2 || p.OS != parts[0] || p.Architecture != parts[1] {
		return false
	}
	if len(parts) > 2 && p.Variant != "" && p.Variant != parts[2] {
		return false
	}
	return true
}

// ArchiveDigest is the sha256 of the archive WriteArchive writes: the
// archive is deterministic, so a staged copy can be compared with it.
func ArchiveDigest(ix *manifest.Index, im manifest.Image, blobs BlobReader, platform string) (manifest.Digest, error) {
	h := sha256.New()
	if err := WriteArchive(h, ix, im, blobs, platform, nil); err != nil {
		return "", err
	}
	return manifest.FromHash(manifest.SHA256, h), nil
}

// ConfigDigest returns the config digest of the image's manifest for
// platform (Docker's image ID), or "" when the bundle holds none.
func ConfigDigest(ix *manifest.Index, blobs BlobReader, im manifest.Image, platform string) (manifest.Digest, error) {
	m, err := platformManifest(ix, im, blobs, platform)
	if err != nil || m == nil {
		return "", err
	}
	return manifest.Digest(m.Config.Digest), nil
}

// Stream connects a producer to a consumer through a pipe. A producer
// error (a blob that fails its digest) wins over the consumer's complaint
// about a truncated stream.
func Stream(produce func(io.Writer) error, consume func(io.Reader) error) error {
	pr, pw := io.Pipe()
	perr := make(chan error, 1)
	go func() {
		err := produce(pw)
		pw.CloseWithError(err)
		perr <- err
	}()
	cerr := consume(pr)
	pr.CloseWithError(errConsumerDone)
	if err := <-perr; err != nil && !errors.Is(err, io.ErrClosedPipe) && !errors.Is(err, errConsumerDone) {
		return err
	}
	return cerr
}

var errConsumerDone = errors.New("consumer finished")
