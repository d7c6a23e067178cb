package fetch

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/match"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/satchel-dev/satchel/manifest"
)

// layoutLocks serializes index.json updates of one layout in this process.
var layoutLocks keyedMutex

// PullImage copies the image ref, pinned to digest d, into the OCI image
// layout at layoutDir (created when missing; other images in it are kept),
// keeping only o.Platforms. Every blob is checked against its digest before
// it is renamed into the layout.
//
// For an index that serves more platforms than requested, PullImage stores
// a filtered index listing only the requested platforms' manifests (entries
// otherwise byte for byte as upstream wrote them, plus the annotation
// AnnotationUpstreamDigest = d). The returned Image.Digest is the digest of
// the index actually stored, which differs from d in that case: it is what
// the bundle carries and what the installer checks. The upstream digest d
// stays visible in that annotation and in the layout's index.json entry.
// When nothing is filtered out, the upstream bytes are stored and
// Image.Digest equals d.
//
// Image.Blobs lists the stored index (or manifest) first, then each
// manifest's own digest, config and layers, without repeats.
//
// An image already complete in the layout (same reference, upstream digest
// and platforms, every blob matching its digest) is returned without
// network I/O.
func PullImage(ctx context.Context, ref string, d manifest.Digest, o ImageOptions, layoutDir string) (*manifest.Image, error) {
	r, err := o.resolveRef(ref)
	if err != nil {
		return nil, err
	}
	if d == "" {
		od, ok := r.orig.(name.Digest)
		if !ok {
			return nil, manifest.Hintf("run `satchel-bundle lock` to pin the image's digest", "pulling %s: no digest to pull by", r)
		}
		d = manifest.Digest(od.DigestStr())
	}
	if _, err := manifest.ParseDigest(string(d)); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	if d.Algorithm() != manifest.SHA256 {
		return nil, fmt.Errorf("pulling %s: OCI digests are sha256, got %s", r, d)
	}
	if od, ok := r.orig.(name.Digest); ok && od.DigestStr() != string(d) {
		return nil, manifest.Hintf("make the reference's digest and the pinned digest agree",
			"pulling %s: the reference names digest %s, the pin %s", r, od.DigestStr(), d)
	}
	platforms, err := parsePlatforms(o.Platforms)
	if err != nil {
		return nil, err
	}
	lp, err := openLayout(layoutDir)
	if err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	if img := storedImage(lp, layoutDir, ref, d, platforms, r); img != nil {
		return img, nil
	}

	p := &puller{ctx: ctx, r: r, dir: layoutDir, opts: remoteOptions(ctx, o)}
	top, err := p.manifest(d)
	if err != nil {
		return nil, err
	}
	img := &manifest.Image{Ref: ref, MediaType: string(top.MediaType)}
	for _, pl := range platforms {
		img.Platforms = append(img.Platforms, pl.String())
	}
	stored := top.Manifest
	var children []*remote.Descriptor
	switch {
	case top.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(top.Manifest))
		if err != nil {
			return nil, fmt.Errorf("pulling %s: index: %w", r, err)
		}
		sel, err := selectManifests(idx, platforms, r)
		if err != nil {
			return nil, err
		}
		if len(sel) < len(idx.Manifests) {
			if stored, err = filterIndex(top.Manifest, sel, d); err != nil {
				return nil, fmt.Errorf("pulling %s: filtering index: %w", r, err)
			}
		}
		if len(platforms) == 0 {
			img.Platforms = platformNames(idx.Manifests)
		}
		for _, i := range sel {
			cd := idx.Manifests[i]
			if !cd.MediaType.IsImage() {
				return nil, fmt.Errorf("pulling %s: index entry %s has media type %s; nested indexes are not supported", r, cd.Digest, cd.MediaType)
			}
			child, err := p.manifest(manifest.Digest(cd.Digest.String()))
			if err != nil {
				return nil, err
			}
			if child.Size != cd.Size || !child.MediaType.IsImage() {
				return nil, verificationFailed(fmt.Errorf("pulling %s: manifest %s: size %d and type %s, index says %d and %s",
					r, cd.Digest, child.Size, child.MediaType, cd.Size, cd.MediaType), r)
			}
			children = append(children, child)
		}
	case top.MediaType.IsImage():
		children = []*remote.Descriptor{top}
	default:
		return nil, manifest.Hintf("use an image published as an OCI or Docker v2 schema 2 manifest",
			"pulling %s: unsupported media type %s", r, top.MediaType)
	}

	storedDigest := manifest.DigestOf(manifest.SHA256, stored)
	img.Digest = storedDigest
	if storedDigest != d {
		img.UpstreamDigest = d
	}
	blobs := []manifest.Digest{storedDigest}
	var leaves []v1.Descriptor
	for _, c := range children {
		m, err := v1.ParseManifest(bytes.NewReader(c.Manifest))
		if err != nil {
			return nil, fmt.Errorf("pulling %s: manifest %s: %w", r, c.Digest, err)
		}
		if top == c {
			cfg, err := fetchSmallBlob(r, m.Config, p.opts)
			if err != nil {
				return nil, err
			}
			if err := checkImagePlatform(r, cfg, platforms); err != nil {
				return nil, err
			}
			if len(platforms) == 0 {
				if cf, err := v1.ParseConfigFile(bytes.NewReader(cfg)); err == nil && cf.OS != "" {
					img.Platforms = []string{(&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String()}
				}
			}
			// Already fetched and checked: store it rather than fetch it again.
			if err := writeBlobBytes(layoutDir, manifest.Digest(m.Config.Digest.String()), cfg); err != nil {
				return nil, fmt.Errorf("pulling %s: %w", r, err)
			}
		}
		if c != top {
			blobs = appendNew(blobs, manifest.Digest(c.Digest.String()))
		}
		for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			if !slices.Contains(blobs, manifest.Digest(l.Digest.String())) {
				blobs = append(blobs, manifest.Digest(l.Digest.String()))
				leaves = append(leaves, l)
			}
		}
	}
	img.Blobs = blobs

	// Leaves first, then manifests, then the index: whatever is in the
	// layout refers only to blobs already there.
	if err := p.writeBlobs(leaves); err != nil {
		return nil, err
	}
	for _, c := range children {
		if c != top {
			if err := writeBlobBytes(layoutDir, manifest.Digest(c.Digest.String()), c.Manifest); err != nil {
				return nil, fmt.Errorf("pulling %s: %w", r, err)
			}
		}
	}
	if err := writeBlobBytes(layoutDir, storedDigest, stored); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	desc := v1.Descriptor{
		MediaType:   top.MediaType,
		Size:        int64(len(stored)),
		Digest:      v1.Hash{Algorithm: "sha256", Hex: storedDigest.Hex()},
		Annotations: map[string]string{AnnotationImageName: ref, AnnotationUpstreamDigest: string(d)},
	}
	if t, ok := r.orig.(name.Tag); ok {
		desc.Annotations["org.opencontainers.image.ref.name"] = t.TagStr()
	}
	if err := setLayoutEntry(lp, layoutDir, desc); err != nil {
		return nil, fmt.Errorf("pulling %s: %w", r, err)
	}
	return img, nil
}

func appendNew(ds []manifest.Digest, d manifest.Digest) []manifest.Digest {
	if slices.Contains(ds, d) {
		return ds
	}
	return append(ds, d)
}

// platformNames lists the platforms of index entries, leaving out
// "unknown/unknown" (attestation manifests on Docker Hub).
func platformNames(ds []v1.Descriptor) []string {
	var out []string
	for _, d := range ds {
		if d.Platform != nil && d.Platform.OS != "unknown" {
			if s := d.Platform.String(); !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	return out
}

// filterIndex keeps the selected entries of an index, each as upstream
// wrote it, and records the upstream digest. The output is deterministic
// (encoding/json sorts object keys), so a rebuild stores the same bytes.
func filterIndex(raw []byte, sel []int, upstream manifest.Digest) ([]byte, error) {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(raw, &top); err != nil {
		return nil, err
	}
	var entries []json.RawMessage
	if err := json.Unmarshal(top["manifests"], &entries); err != nil {
		return nil, err
	}
	kept := make([]json.RawMessage, 0, len(sel))
	for _, i := range sel {
		kept = append(kept, entries[i])
	}
	ann := map[string]string{}
	if a, ok := top["annotations"]; ok {
		if err := json.Unmarshal(a, &ann); err != nil {
			return nil, err
		}
	}
	ann[AnnotationUpstreamDigest] = string(upstream)
	var err error
	if top["manifests"], err = json.Marshal(kept); err != nil {
		return nil, err
	}
	if top["annotations"], err = json.Marshal(ann); err != nil {
		return nil, err
	}
	return json.Marshal(top)
}

// puller fetches one image's manifests and blobs.
type puller struct {
	ctx  context.Context
	r    *imageRef
	dir  string
	opts []remote.Option
}

// manifest fetches a manifest or index by digest and checks its bytes.
func (p *puller) manifest(d manifest.Digest) (*remote.Descriptor, error) {
	gd, err := remote.Get(p.r.target.Context().Digest(string(d)), p.opts...)
	if err != nil {
		return nil, p.r.wrap("pulling", err)
	}
	// ggcr checks this too; checking here keeps the guarantee ours.
	if got := manifest.DigestOf(manifest.SHA256, gd.Manifest); got != d {
		return nil, verificationFailed(fmt.Errorf("pulling %s: manifest digest: expected %s, got %s", p.r, d, got), p.r)
	}
	return gd, nil
}

// writeBlobs downloads blobs into the layout, a few at a time.
func (p *puller) writeBlobs(ds []v1.Descriptor) error {
	sem := make(chan struct{}, imageJobs)
	errs := make([]error, len(ds))
	var wg sync.WaitGroup
	for i, desc := range ds {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			errs[i] = p.writeBlob(desc)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeBlob streams one blob into blobs/sha256 under a temporary name and
// renames it only when size and digest match. A transfer cut short is
// tried again a few times (ggcr retries requests, not broken bodies).
func (p *puller) writeBlob(desc v1.Descriptor) error {
	d := manifest.Digest(desc.Digest.String())
	if d.Algorithm() != manifest.SHA256 {
		return fmt.Errorf("pulling %s: blob %s: only sha256 blobs are supported", p.r, d)
	}
	final := blobPath(p.dir, d)
	if blobOK(final, d) {
		return nil
	}
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		err = p.copyBlob(desc, final)
		if err == nil || manifest.ExitCode(err) == manifest.ExitVerification || isRedirectLoop(err) || p.ctx.Err() != nil {
			return err
		}
		// ggcr's transport already retried a request that got no
		// headers; only a broken body is worth another round here.
		var se *stallError
		if errors.As(err, &se) && se.headers {
			return err
		}
	}
	return err
}

func (p *puller) copyBlob(desc v1.Descriptor, final string) error {
	d := manifest.Digest(desc.Digest.String())
	// The stall guard is in the transport; the expected size lets it
	// refuse a Content-Length that is not the descriptor's.
	ctx := withExpectedSize(p.ctx, string(d), desc.Size)
	// A copy of the options: blobs are fetched in parallel, and appending
	// to the shared slice would let them overwrite each other's context.
	l, err := remote.Layer(p.r.target.Context().Digest(string(d)), slices.Concat(p.opts, []remote.Option{remote.WithContext(ctx)})...)
	if err != nil {
		return p.r.wrap("pulling blob "+string(d)+" of", err)
	}
	rc, err := l.Compressed()
	if err != nil {
		return p.r.wrap("pulling blob "+string(d)+" of", err)
	}
	defer rc.Close()
	err = writeVerified(final, d, desc.Size, rc)
	var me *mismatchError
	if errors.As(err, &me) {
		return verificationFailed(fmt.Errorf("pulling %s: blob: expected %s, got %s", p.r, me.want, me.got), p.r)
	}
	if err != nil {
		return p.r.wrap("pulling blob "+string(d)+" of", err)
	}
	return nil
}

func blobPath(dir string, d manifest.Digest) string {
	return filepath.Join(dir, "blobs", d.Algorithm(), d.Hex())
}

// blobOK says whether a layout blob exists with the right content; a
// damaged one is removed.
func blobOK(path string, d manifest.Digest) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	h := d.NewHash()
	if _, err := io.Copy(h, f); err == nil && manifest.FromHash(d.Algorithm(), h) == d {
		return true
	}
	f.Close()
	os.Remove(path)
	return false
}

func writeBlobBytes(dir string, d manifest.Digest, b []byte) error {
	final := blobPath(dir, d)
	if blobOK(final, d) {
		return nil
	}
	return writeVerified(final, d, int64(len(b)), bytes.NewReader(b))
}

// writeVerified writes r to path through a temporary file, renaming it
// only when size and digest match. It reads at most one byte more than
// size, so a body longer than its descriptor is refused without being
// stored.
func writeVerified(path string, d manifest.Digest, size int64, r io.Reader) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-"+d.Hex()[:12]+"-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := d.NewHash()
	n, err := io.Copy(io.MultiWriter(tmp, h), io.LimitReader(r, size+1))
	if n > size {
		return &sizeError{msg: fmt.Sprintf("server sent more than the %d bytes the descriptor of %s says", size, d), locked: true}
	}
	// All bytes arrived but are wrong: a mismatch, whatever the reader
	// (ggcr verifies too) said about it.
	if got := manifest.FromHash(d.Algorithm(), h); n == size && got != d {
		return &mismatchError{want: d, got: got}
	}
	if err != nil {
		return err
	}
	if n < size {
		return fmt.Errorf("body ended after %d of %d bytes: %w", n, size, io.ErrUnexpectedEOF)
	}
	if err := tmp.Sync(); err != nil {
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// openLayout opens the layout at dir, creating an empty one when missing.
func openLayout(dir string) (layout.Path, error) {
	if _, err := os.Stat(filepath.Join(dir, "index.json")); err == nil {
		return layout.FromPath(dir)
	}
	return layout.Write(dir, empty.Index)
}

// setLayoutEntry makes desc the layout's only entry for its image name.
func setLayoutEntry(lp layout.Path, dir string, desc v1.Descriptor) error {
	abs, _ := filepath.Abs(dir)
	defer layoutLocks.lock(abs)()
	nm := desc.Annotations[AnnotationImageName]
	if err := lp.RemoveDescriptors(match.Annotation(AnnotationImageName, nm)); err != nil {
		return err
	}
	return lp.AppendDescriptor(desc)
}

// storedImage returns the image when the layout already holds it complete:
// an index.json entry for ref from upstream digest d, with exactly the
// requested platforms, and every blob present and matching its digest.
func storedImage(lp layout.Path, dir, ref string, d manifest.Digest, platforms []v1.Platform, r *imageRef) *manifest.Image {
	ii, err := lp.ImageIndex()
	if err != nil {
		return nil
	}
	im, err := ii.IndexManifest()
	if err != nil {
		return nil
	}
	for _, desc := range im.Manifests {
		if desc.Annotations[AnnotationImageName] != ref || desc.Annotations[AnnotationUpstreamDigest] != string(d) {
			continue
		}
		if img, err := readStored(dir, desc, platforms, r); err == nil {
			img.Ref = ref
			if img.Digest != d {
				img.UpstreamDigest = d
			}
			return img
		}
	}
	return nil
}

func readStored(dir string, desc v1.Descriptor, platforms []v1.Platform, r *imageRef) (*manifest.Image, error) {
	read := func(d manifest.Digest) ([]byte, error) {
		b, err := os.ReadFile(blobPath(dir, d))
		if err != nil {
			return nil, err
		}
		if manifest.DigestOf(manifest.SHA256, b) != d {
			return nil, fmt.Errorf("blob %s damaged", d)
		}
		return b, nil
	}
	top := manifest.Digest(desc.Digest.String())
	raw, err := read(top)
	if err != nil {
		return nil, err
	}
	img := &manifest.Image{Digest: top, MediaType: string(desc.MediaType), Blobs: []manifest.Digest{top}}
	for _, p := range platforms {
		img.Platforms = append(img.Platforms, p.String())
	}
	// Same order as PullImage: each manifest, then its config and layers.
	var manifests []manifest.Digest
	switch {
	case desc.MediaType.IsIndex():
		idx, err := v1.ParseIndexManifest(bytes.NewReader(raw))
		if err != nil {
			return nil, err
		}
		sel, err := selectManifests(idx, platforms, r)
		if err != nil || len(sel) != len(idx.Manifests) {
			return nil, errors.New("stored for other platforms")
		}
		if len(platforms) == 0 {
			img.Platforms = platformNames(idx.Manifests)
		}
		for _, cd := range idx.Manifests {
			manifests = append(manifests, manifest.Digest(cd.Digest.String()))
		}
	case desc.MediaType.IsImage():
		manifests = []manifest.Digest{top}
	default:
		return nil, errors.New("unsupported media type")
	}
	for _, md := range manifests {
		b, err := read(md)
		if err != nil {
			return nil, err
		}
		m, err := v1.ParseManifest(bytes.NewReader(b))
		if err != nil {
			return nil, err
		}
		if md == top {
			cfg, err := read(manifest.Digest(m.Config.Digest.String()))
			if err != nil {
				return nil, err
			}
			if err := checkImagePlatform(r, cfg, platforms); err != nil {
				return nil, err
			}
			if len(platforms) == 0 {
				if cf, err := v1.ParseConfigFile(bytes.NewReader(cfg)); err == nil && cf.OS != "" {
					img.Platforms = []string{(&v1.Platform{OS: cf.OS, Architecture: cf.Architecture, Variant: cf.Variant}).String()}
				}
			}
		}
		img.Blobs = appendNew(img.Blobs, md)
		for _, l := range append([]v1.Descriptor{m.Config}, m.Layers...) {
			ld := manifest.Digest(l.Digest.String())
			if slices.Contains(img.Blobs, ld) {
				continue
			}
			if !blobOK(blobPath(dir, ld), ld) {
				return nil, fmt.Errorf("blob %s missing", ld)
			}
			img.Blobs = append(img.Blobs, ld)
		}
	}
	return img, nil
}
