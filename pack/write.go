package pack

import (
	"archive/tar"
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/satchel-dev/satchel/internal/fsutil"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// Names of the fixed entries of a bundle and the blob directory.
const (
	IndexName     = "satchel.json"
	SignatureName = "satchel.json.sig"
	// ProvenanceName is the DSSE envelope of the bundle's provenance, right
	// after the signature when the index declares one.
	ProvenanceName = "satchel.provenance.json"
	BlobPrefix     = "blobs/sha256/"
)

const (
	blockSize  = 512
	recordSize = 10240 // 20 blocks, tar's traditional record
	// Limits on what Open reads into memory before anything is verified.
	maxIndexSize = 64 << 20
	// The longest signature verify accepts, base64-encoded (RSA 4096 is 684 bytes).
	maxSignatureSize = verify.MaxSignatureB64Len
	// The largest provenance envelope a reader loads before verifying it.
	maxProvenanceSize = 16 << 20
	// USTAR's 11 octal digits for size and mtime.
	maxUSTARNumber = 1<<33 - 1
)

// BlobOpener gives the stored bytes of a blob. *BlobStore and *Bundle are BlobOpeners.
type BlobOpener interface {
	Open(d manifest.Digest) (io.ReadCloser, error)
}

// Entries are the members of a bundle that come before its blobs.
type Entries struct {
	// Index is satchel.json: it must equal ix.Encode().
	Index []byte
	// Signature is satchel.json.sig: base64, empty for an unsigned bundle.
	Signature []byte
	// Provenance is the DSSE envelope stored as satchel.provenance.json;
	// given exactly when the index declares a provenance.
	Provenance []byte
}

// Write writes a bundle: satchel.json (indexJSON, which must equal
// ix.Encode()), satchel.json.sig (sig: base64, may be empty for an unsigned
// bundle), then every ix.Blobs entry in order from blobs, each checked
// against its recorded size and digest while it is copied. The output
// depends only on the arguments and the blobs' bytes.
func Write(w io.Writer, indexJSON, sig []byte, ix *manifest.Index, blobs BlobOpener) error {
	return WriteEntries(w, Entries{Index: indexJSON, Signature: sig}, ix, blobs)
}

// WriteEntries is Write with a provenance entry after the signature when
// the index declares one.
func WriteEntries(w io.Writer, e Entries, ix *manifest.Index, blobs BlobOpener) error {
	indexJSON, sig := e.Index, e.Signature
	mtime, err := checkWriteArgs(indexJSON, sig, ix)
	if err != nil {
		return err
	}
	if ix.HasProvenance() != (len(e.Provenance) > 0) {
		return fmt.Errorf("writing bundle: the index declares a provenance: %v, one given: %v", ix.HasProvenance(), len(e.Provenance) > 0)
	}
	if len(e.Provenance) > maxProvenanceSize {
		return fmt.Errorf("writing bundle: the provenance is %d bytes, readers accept at most %d", len(e.Provenance), maxProvenanceSize)
	}
	cw := &countWriter{w: w}
	tw := tar.NewWriter(cw)
	put := func(name string, size int64) error {
		return tw.WriteHeader(entryHeader(name, size, mtime))
	}
	if err := put(IndexName, int64(len(indexJSON))); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if _, err := tw.Write(indexJSON); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if err := put(SignatureName, int64(len(sig))); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if _, err := tw.Write(sig); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	if len(e.Provenance) > 0 {
		if err := put(ProvenanceName, int64(len(e.Provenance))); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
		if _, err := tw.Write(e.Provenance); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
	}
	for _, b := range ix.Blobs {
		if err := put(BlobPrefix+b.Digest.Hex(), b.Size); err != nil {
			return fmt.Errorf("writing bundle: blob %s: %w", b.Digest, err)
		}
		if err := copyBlob(tw, b, blobs); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	// archive/tar stops after the two zero blocks; pad to the record
	// boundary as tar(1) does, so the file's length is a whole record.
	if pad := padTo(cw.n, recordSize); pad > 0 {
		if _, err := cw.Write(make([]byte, pad)); err != nil {
			return fmt.Errorf("writing bundle: %w", err)
		}
	}
	return nil
}

func checkWriteArgs(indexJSON, sig []byte, ix *manifest.Index) (int64, error) {
	enc, err := ix.Encode()
	if err != nil {
		return 0, fmt.Errorf("encoding index: %w", err)
	}
	if !bytes.Equal(enc, indexJSON) {
		return 0, errors.New("writing bundle: satchel.json bytes are not the canonical encoding of the index")
	}
	if len(indexJSON) > maxIndexSize {
		return 0, fmt.Errorf("writing bundle: satchel.json is %d bytes, readers accept at most %d", len(indexJSON), maxIndexSize)
	}
	if err := checkSignatureBytes(sig); err != nil {
		return 0, fmt.Errorf("writing bundle: %w", err)
	}
	mtime := ix.Created.Unix()
	if mtime < 0 || mtime > maxUSTARNumber {
		return 0, fmt.Errorf("writing bundle: created time %s cannot be stored in a tar header", ix.Created)
	}
	seen := make(map[manifest.Digest]bool, len(ix.Blobs))
	for _, b := range ix.Blobs {
		if err := checkBlobEntry(b); err != nil {
			return 0, fmt.Errorf("writing bundle: %w", err)
		}
		if seen[b.Digest] {
			return 0, fmt.Errorf("writing bundle: blob %s is listed twice in the index", b.Digest)
		}
		seen[b.Digest] = true
	}
	return mtime, nil
}

// checkSignatureBytes accepts empty (unsigned) or standard base64 with no
// surrounding whitespace, as cosign's --output-signature writes it.
func checkSignatureBytes(sig []byte) error {
	if len(sig) > maxSignatureSize {
		return fmt.Errorf("signature is %d bytes, at most %d allowed", len(sig), maxSignatureSize)
	}
	if len(sig) == 0 {
		return nil
	}
	for _, c := range sig {
		if !(c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=') {
			return fmt.Errorf("signature is not base64 without whitespace: byte %q", c)
		}
	}
	if _, err := base64.StdEncoding.Strict().DecodeString(string(sig)); err != nil {
		return fmt.Errorf("signature is not base64 without whitespace: %w", err)
	}
	return nil
}

func checkBlobEntry(b manifest.Blob) error {
	if _, err := manifest.ParseDigest(string(b.Digest)); err != nil {
		return fmt.Errorf("blob %q: %w", b.Digest, err)
	}
	if b.Digest.Algorithm() != manifest.SHA256 {
		return fmt.Errorf("blob %s: bundle blobs are named by sha256", b.Digest)
	}
	if b.Size < 0 || b.Size > maxUSTARNumber {
		return fmt.Errorf("blob %s: size %d outside 0…%d (the USTAR limit)", b.Digest, b.Size, int64(maxUSTARNumber))
	}
	if b.Encoding != manifest.EncodingZstd && b.Encoding != manifest.EncodingNone {
		return fmt.Errorf("blob %s: unknown encoding %q", b.Digest, b.Encoding)
	}
	return nil
}

// copyBlob copies exactly b.Size bytes of b into w and checks their digest,
// so a damaged blob store cannot produce a bundle that fails at install time.
func copyBlob(w io.Writer, b manifest.Blob, blobs BlobOpener) error {
	rc, err := blobs.Open(b.Digest)
	if err != nil {
		return fmt.Errorf("writing bundle: %w", err)
	}
	defer rc.Close()
	h := b.Digest.NewHash()
	n, err := io.Copy(io.MultiWriter(w, h), io.LimitReader(rc, b.Size))
	if err != nil {
		return fmt.Errorf("writing bundle: blob %s: %w", b.Digest, err)
	}
	var one [1]byte
	if extra, _ := io.ReadFull(rc, one[:]); n != b.Size || extra != 0 {
		return fmt.Errorf("writing bundle: blob %s is not %d bytes long as the index records", b.Digest, b.Size)
	}
	if got := manifest.FromHash(b.Digest.Algorithm(), h); got != b.Digest {
		return manifest.VerificationError(manifest.HintError(
			fmt.Errorf("writing bundle: blob %s has digest %s", b.Digest, got),
			"the blob store is damaged; delete the blob and build again"))
	}
	return nil
}

// entryHeader is the one header a bundle has for an entry.
func entryHeader(name string, size, mtime int64) *tar.Header {
	return &tar.Header{
		Typeflag: tar.TypeReg,
		Name:     name,
		Size:     size,
		Mode:     0o644,
		ModTime:  time.Unix(mtime, 0),
		Format:   tar.FormatUSTAR,
	}
}

// canonicalHeader returns the 512 bytes archive/tar writes for entryHeader.
func canonicalHeader(name string, size, mtime int64) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(blockSize)
	if err := tar.NewWriter(&buf).WriteHeader(entryHeader(name, size, mtime)); err != nil {
		return nil, err
	}
	if buf.Len() != blockSize {
		return nil, fmt.Errorf("header for %s is %d bytes", name, buf.Len())
	}
	return buf.Bytes(), nil
}

// padTo returns how many bytes take n to a multiple of unit.
func padTo(n, unit int64) int64 { return (unit - n%unit) % unit }

// WriteFile writes a bundle to path: into a temporary file in the same
// directory, fsynced, then renamed into place (and the directory fsynced).
// An existing path is refused unless force is set. On any error nothing is
// left behind.
func WriteFile(path string, force bool, indexJSON, sig []byte, ix *manifest.Index, blobs BlobOpener) error {
	return WriteFileEntries(path, force, Entries{Index: indexJSON, Signature: sig}, ix, blobs)
}

// WriteFileEntries is WriteFile with WriteEntries' entries.
func WriteFileEntries(path string, force bool, e Entries, ix *manifest.Index, blobs BlobOpener) error {
	return writeAtomic(path, force, 0o644, func(w io.Writer) error {
		return WriteEntries(w, e, ix, blobs)
	})
}

// writeAtomic is fsutil.WriteAtomic: the one temp + fsync + rename
// protocol every output file of satchel goes through.
func writeAtomic(path string, force bool, mode os.FileMode, write func(io.Writer) error) error {
	return fsutil.WriteAtomic(path, mode, force, write)
}
