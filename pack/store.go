package pack

import (
	"crypto/sha256"
	"fmt"
	"hash"
	"io"
	"os"
	"path/filepath"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/satchel-dev/satchel/manifest"
)

// zstdLevel is the one compression level blobs are written with. Changing
// it (or the klauspost/compress version) changes blob digests, so bundles
// built before and after differ; keep it fixed. Measured on Go binaries
// (the compile tool, 26 MB): "default" stores 32.5% at ~130 MB/s, "better"
// 31.5% at ~44 MB/s; 3% of size is not worth 3x the build time.
const zstdLevel = zstd.SpeedDefault

// blobEncoderOptions is the zstd configuration every blob is written with.
// Every choice that shapes the output is spelled out rather than left to
// defaults. Concurrency 2 without concurrent blocks is klauspost's "async"
// stream mode: the same single sequence of blocks as concurrency 1 (so the
// same bytes, whatever the number of CPUs: TestBlobEncoderOutputIsFixed),
// with a file's match finding and its entropy coding and writing on two
// goroutines. Concurrent blocks (jobs compressed independently) would
// change the output and are off.
func blobEncoderOptions() []zstd.EOption {
	return []zstd.EOption{
		zstd.WithEncoderConcurrency(2),
		zstd.WithConcurrentBlocks(false),
		zstd.WithEncoderLevel(zstdLevel),
		zstd.WithWindowSize(8 << 20),
		zstd.WithEncoderCRC(true),
		zstd.WithZeroFrames(true), // an empty file still gets a frame the zstd CLI accepts
		zstd.WithLowerEncoderMem(false),
	}
}

// blobEncoders are reused (Reset gives the same output as a new encoder):
// an encoder's tables and window are megabytes, and kata has thousands of
// small files. The pool holds at most as many as were in use at once.
var blobEncoders = sync.Pool{New: func() any {
	enc, err := zstd.NewWriter(nil, blobEncoderOptions()...)
	if err != nil {
		panic("pack: zstd blob encoder options: " + err.Error())
	}
	return enc
}}

// BlobStore is a content-addressed store of bundle blobs on disk:
// Dir/sha256/<hex>, named by the sha256 of the stored bytes. Puts are
// idempotent and atomic (temporary file, rename), so a store can be shared
// by builds and survives interruption. A put does not fsync: every build
// puts every blob it uses again (renaming over the old copy), so a blob
// that a power loss damaged is replaced by the next build that needs it,
// and a bundle's own bytes are checked against their digests as it is
// written (and fsynced). An fsync per blob would cost ~1.5 ms each on the
// benchmark machine, thousands of times for a kata tree.
type BlobStore struct {
	Dir string
}

// NewBlobStore creates dir/sha256 if needed and returns the store.
func NewBlobStore(dir string) (*BlobStore, error) {
	if err := os.MkdirAll(filepath.Join(dir, manifest.SHA256), 0o755); err != nil {
		return nil, fmt.Errorf("creating blob store: %w", err)
	}
	return &BlobStore{Dir: dir}, nil
}

// Path returns where the blob d is (or would be) stored.
func (s *BlobStore) Path(d manifest.Digest) string {
	return filepath.Join(s.Dir, d.Algorithm(), d.Hex())
}

// PutFile stores a file's content zstd-compressed, streaming: memory use is
// bounded by the encoder's window, whatever the file's size. It returns the
// sha256 and size of the content and the blob that holds it.
func (s *BlobStore) PutFile(r io.Reader) (content manifest.Digest, size int64, blob manifest.Blob, err error) {
	ch := sha256.New()
	blob, err = s.put(func(w io.Writer) error {
		enc := blobEncoders.Get().(*zstd.Encoder)
		enc.Reset(w)
		defer func() {
			enc.Reset(nil) // drop w
			blobEncoders.Put(enc)
		}()
		size, err = io.Copy(enc, io.TeeReader(r, ch))
		if err != nil {
			enc.Close()
			return fmt.Errorf("reading file content: %w", err)
		}
		return enc.Close()
	})
	if err != nil {
		return "", 0, manifest.Blob{}, err
	}
	blob.Encoding = manifest.EncodingZstd
	return manifest.FromHash(manifest.SHA256, ch), size, blob, nil
}

// PutRaw stores an OCI blob as it is. Its digest is checked against want
// (sha256 or sha512); a mismatch is a manifest.VerificationError and
// nothing is stored.
func (s *BlobStore) PutRaw(want manifest.Digest, r io.Reader) (manifest.Blob, error) {
	if _, err := manifest.ParseDigest(string(want)); err != nil {
		return manifest.Blob{}, err
	}
	wh := want.NewHash()
	blob, err := s.put(func(w io.Writer) error {
		if want.Algorithm() != manifest.SHA256 {
			w = io.MultiWriter(w, wh) // the store hashes sha256 itself
		}
		if _, err := io.Copy(w, r); err != nil {
			return fmt.Errorf("reading blob %s: %w", want, err)
		}
		return nil
	}, func(stored manifest.Digest) error {
		got := stored
		if want.Algorithm() != manifest.SHA256 {
			got = manifest.FromHash(want.Algorithm(), wh)
		}
		if got != want {
			return manifest.VerificationError(manifest.HintError(
				fmt.Errorf("blob digest mismatch: want %s, got %s", want, got),
				"the registry or cache served other bytes than the digest names; fetch the image again"))
		}
		return nil
	})
	if err != nil {
		return manifest.Blob{}, err
	}
	blob.Encoding = manifest.EncodingNone
	return blob, nil
}

// Open opens a stored blob for reading.
func (s *BlobStore) Open(d manifest.Digest) (io.ReadCloser, error) {
	if _, err := manifest.ParseDigest(string(d)); err != nil {
		return nil, err
	}
	if d.Algorithm() != manifest.SHA256 {
		return nil, fmt.Errorf("blob store: blobs are named by sha256, not %s", d)
	}
	f, err := os.Open(s.Path(d))
	if err != nil {
		return nil, fmt.Errorf("opening blob %s: %w", d, err)
	}
	return f, nil
}

// OpenFile opens the content of a file stored by PutFile: the blob is
// decompressed while its stored bytes and the content are hashed, and the
// reader returns an error instead of io.EOF unless the blob's digest and the
// file's digest and size all match. A caller that acts on the content only
// after reading it to EOF therefore acts only on verified bytes.
func (s *BlobStore) OpenFile(f manifest.File) (io.ReadCloser, error) {
	if f.Type != manifest.TypeFile {
		return nil, fmt.Errorf("blob store: %s is not a regular file", f.Path)
	}
	for _, d := range []manifest.Digest{f.Blob, f.Digest} {
		if _, err := manifest.ParseDigest(string(d)); err != nil {
			return nil, fmt.Errorf("blob store: %s: %w", f.Path, err)
		}
	}
	rc, err := s.Open(f.Blob)
	if err != nil {
		return nil, err
	}
	blobHash := f.Blob.NewHash()
	dec, err := zstd.NewReader(io.TeeReader(rc, blobHash), zstd.WithDecoderConcurrency(1), zstd.WithDecoderLowmem(true))
	if err != nil {
		rc.Close()
		return nil, err
	}
	return &storedFile{f: f, stored: rc, dec: dec, blobHash: blobHash, contentHash: f.Digest.NewHash()}, nil
}

type storedFile struct {
	f                     manifest.File
	stored                io.ReadCloser
	dec                   *zstd.Decoder
	blobHash, contentHash hash.Hash
	n                     int64
	err                   error
}

func (r *storedFile) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	n, err := r.dec.Read(p)
	r.contentHash.Write(p[:n])
	r.n += int64(n)
	switch {
	case r.n > r.f.Size:
		r.err = r.mismatch(fmt.Errorf("%s: content is longer than its recorded %d bytes", r.f.Path, r.f.Size))
		return 0, r.err
	case err == io.EOF:
		// The decoder may stop before the end of the stored bytes.
		if _, cerr := io.Copy(r.blobHash, r.stored); cerr != nil {
			r.err = fmt.Errorf("blob store: %s: %w", r.f.Path, cerr)
		} else if got := manifest.FromHash(r.f.Blob.Algorithm(), r.blobHash); got != r.f.Blob {
			r.err = r.mismatch(fmt.Errorf("%s: blob %s has digest %s", r.f.Path, r.f.Blob, got))
		} else if got := manifest.FromHash(r.f.Digest.Algorithm(), r.contentHash); got != r.f.Digest || r.n != r.f.Size {
			r.err = r.mismatch(fmt.Errorf("%s: content has digest %s and %d bytes, recorded %s and %d", r.f.Path, got, r.n, r.f.Digest, r.f.Size))
		} else {
			r.err = io.EOF
		}
		return n, r.err
	case err != nil:
		r.err = r.mismatch(fmt.Errorf("%s: blob %s: %w", r.f.Path, r.f.Blob, err))
		return n, r.err
	}
	return n, nil
}

func (r *storedFile) mismatch(err error) error {
	return manifest.VerificationError(manifest.HintError(fmt.Errorf("blob store: %w", err),
		"the blob store is damaged; delete the blob and build again"))
}

func (r *storedFile) Close() error {
	r.dec.Close()
	return r.stored.Close()
}

// put writes a blob through write into a temporary file, hashing the stored
// bytes, runs the checks, and moves the file to its content address.
func (s *BlobStore) put(write func(io.Writer) error, checks ...func(stored manifest.Digest) error) (b manifest.Blob, err error) {
	dir := filepath.Join(s.Dir, manifest.SHA256)
	tmp, err := os.CreateTemp(dir, ".put-*")
	if err != nil {
		return manifest.Blob{}, fmt.Errorf("blob store: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(tmp, h)}
	if err := write(cw); err != nil {
		return manifest.Blob{}, err
	}
	stored := manifest.FromHash(manifest.SHA256, h)
	for _, check := range checks {
		if err := check(stored); err != nil {
			return manifest.Blob{}, err
		}
	}
	if err := tmp.Chmod(0o644); err != nil {
		return manifest.Blob{}, fmt.Errorf("blob store: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return manifest.Blob{}, fmt.Errorf("blob store: %w", err)
	}
	// Renaming over an existing blob of the same address replaces it with
	// the same bytes (and repairs one damaged in the meantime).
	if err := os.Rename(tmp.Name(), s.Path(stored)); err != nil {
		return manifest.Blob{}, fmt.Errorf("blob store: %w", err)
	}
	return manifest.Blob{Digest: stored, Size: cw.n}, nil
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// damaged marks err as a verification failure of a bundle's bytes.
func damaged(err error) error {
	return manifest.VerificationError(manifest.HintError(err,
		"the bundle is damaged or was altered; copy it again from its source and compare its sha256 with the published one"))
}
