package pack

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// smallBlob is the size up to which OpenBlob keeps a verified blob in memory;
// larger blobs are hashed in place and hashed again while they are read.
const smallBlob = 8 << 20

// Bundle reads a bundle file. Open it with Open or OpenPath, then check it
// with VerifyBundle (signature over IndexJSON, Index, CheckLayout) before
// reading blobs. A Bundle may be read from several goroutines once CheckLayout has
// returned.
type Bundle struct {
	r       io.ReaderAt
	size    int64
	source  string
	closers []io.Closer

	indexJSON  []byte
	sig        []byte
	provenance []byte // nil when the bundle has no provenance entry
	mtime      int64
	blobsOff   int64 // offset of the first blob's header

	mu     sync.Mutex
	layout *layout // set by a successful CheckLayout
}

type layout struct {
	ix    *manifest.Index
	blobs map[manifest.Digest]blobLoc
}

type blobLoc struct {
	off, size int64 // of the content, past the header
	encoding  string
}

// Open reads the first two entries of a bundle (satchel.json and its
// signature) of the given size from r. It checks that their headers are
// exactly what Write produces, that their padding is zero and that the
// length is a whole number of tar records; it reads nothing else.
func Open(r io.ReaderAt, size int64) (*Bundle, error) {
	return openBundle(r, size, "bundle")
}

func openBundle(r io.ReaderAt, size int64, source string) (*Bundle, error) {
	b := &Bundle{r: r, size: size, source: source}
	if size < 3*blockSize || size%recordSize != 0 {
		return nil, b.damaged("its length %d is not a whole number of %d-byte tar records", size, recordSize)
	}
	n, mtime, err := b.readHeader(0, IndexName, -1)
	if err != nil {
		return nil, err
	}
	if n > maxIndexSize {
		return nil, b.damaged("satchel.json is %d bytes, more than the %d a bundle may have", n, maxIndexSize)
	}
	if b.indexJSON, err = b.readData(blockSize, n); err != nil {
		return nil, err
	}
	off := blockSize + n + padTo(n, blockSize)
	n, _, err = b.readHeader(off, SignatureName, mtime)
	if err != nil {
		return nil, err
	}
	if n > maxSignatureSize {
		return nil, b.damaged("satchel.json.sig is %d bytes, more than the %d a signature may have", n, maxSignatureSize)
	}
	if b.sig, err = b.readData(off+blockSize, n); err != nil {
		return nil, err
	}
	if err := checkSignatureBytes(b.sig); err != nil {
		return nil, b.damaged("satchel.json.sig: %v", err)
	}
	b.mtime = mtime
	b.blobsOff = off + blockSize + n + padTo(n, blockSize)
	// A provenance entry follows the signature when there is one; whether
	// the index declares it is CheckLayout's to compare.
	if b.blobsOff+blockSize <= size {
		name := make([]byte, 100)
		if err := readFullAt(b.r, name, b.blobsOff); err != nil {
			return nil, b.readErr(err)
		}
		if string(bytes.TrimRight(name, "\x00")) == ProvenanceName {
			off := b.blobsOff
			n, _, err := b.readHeader(off, ProvenanceName, mtime)
			if err != nil {
				return nil, err
			}
			if n == 0 || n > maxProvenanceSize {
				return nil, b.damaged("%s is %d bytes, a provenance has 1 to %d", ProvenanceName, n, maxProvenanceSize)
			}
			if b.provenance, err = b.readData(off+blockSize, n); err != nil {
				return nil, err
			}
			b.blobsOff = off + blockSize + n + padTo(n, blockSize)
		}
	}
	return b, nil
}

// Provenance returns the bytes of satchel.provenance.json, nil when the
// bundle has none. They are not verified here: the envelope carries its
// own signature (see package provenance), and CheckLayout only checks that
// the entry is there exactly when the index declares it.
func (b *Bundle) Provenance() []byte { return b.provenance }

// IndexJSON returns the exact bytes of satchel.json, which the signature covers.
func (b *Bundle) IndexJSON() []byte { return b.indexJSON }

// Signature returns the bytes of satchel.json.sig (base64; empty when the
// bundle is unsigned).
func (b *Bundle) Signature() []byte { return b.sig }

// Size returns the bundle's length in bytes.
func (b *Bundle) Size() int64 { return b.size }

// Index decodes satchel.json (strictly, see manifest.DecodeIndex) and
// validates it (manifest.Index.Validate): what it returns stays inside the
// bundle's lanes. Call it after the signature over IndexJSON has been
// verified; VerifyBundle does both in order.
func (b *Bundle) Index() (*manifest.Index, error) {
	ix, err := manifest.DecodeIndex(b.indexJSON)
	if err != nil {
		return nil, manifest.VerificationError(fmt.Errorf("%s: %w", b.source, err))
	}
	if err := ix.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", b.source, err)
	}
	return ix, nil
}

// CheckLayout checks everything in the bundle except the blobs' contents
// against ix, which must be the decoding of IndexJSON: every header is
// canonical with mtime = ix.Created, the entries after the signature are
// ix.Blobs in order with their sizes, padding is zero, the trailer is zero
// and the file ends at the record boundary after it.
func (b *Bundle) CheckLayout(ix *manifest.Index) error {
	enc, err := ix.Encode()
	if err != nil {
		return fmt.Errorf("%s: encoding index: %w", b.source, err)
	}
	if !bytes.Equal(enc, b.indexJSON) {
		return manifest.Hintf("pass the index returned by this bundle's Index method",
			"%s: the index given is not this bundle's satchel.json", b.source)
	}
	if ix.Created.Unix() != b.mtime {
		return b.damaged("header times are %d, the index's created time is %d", b.mtime, ix.Created.Unix())
	}
	switch {
	case ix.HasProvenance() && b.provenance == nil:
		return b.damaged("its index declares a provenance, there is no %s entry", ProvenanceName)
	case !ix.HasProvenance() && b.provenance != nil:
		return b.damaged("it carries a %s entry its index does not declare", ProvenanceName)
	}
	l := &layout{ix: ix, blobs: make(map[manifest.Digest]blobLoc, len(ix.Blobs))}
	off := b.blobsOff
	for i, bl := range ix.Blobs {
		if err := checkBlobEntry(bl); err != nil {
			return b.damaged("index: %v", err)
		}
		if _, dup := l.blobs[bl.Digest]; dup {
			return b.damaged("index lists blob %s twice", bl.Digest)
		}
		if off+blockSize+bl.Size > b.size {
			return b.damaged("blob %d (%s) extends past the end of the file", i, bl.Digest)
		}
		size, _, err := b.readHeader(off, BlobPrefix+bl.Digest.Hex(), b.mtime)
		if err != nil {
			return err
		}
		// The index decides where every entry ends; a header that says
		// otherwise would show tar(1) other content than the installer sees.
		if size != bl.Size {
			return b.damaged("the header of blob %s says %d bytes, the index %d", bl.Digest, size, bl.Size)
		}
		l.blobs[bl.Digest] = blobLoc{off: off + blockSize, size: bl.Size, encoding: bl.Encoding}
		end := off + blockSize + bl.Size
		if err := b.checkZero(end, padTo(bl.Size, blockSize), "padding after blob "+bl.Digest.String()); err != nil {
			return err
		}
		off = end + padTo(bl.Size, blockSize)
	}
	want := off + 2*blockSize
	want += padTo(want, recordSize)
	if b.size != want {
		return b.damaged("it is %d bytes long, its index accounts for %d", b.size, want)
	}
	if err := b.checkZero(off, want-off, "end of archive"); err != nil {
		return err
	}
	b.mu.Lock()
	b.layout = l
	b.mu.Unlock()
	return nil
}

// VerifyBlobs checks the sha256 of every blob in ix (running CheckLayout
// first unless it already ran for ix). progress, if not nil, is called with
// bytes checked so far and the total.
func (b *Bundle) VerifyBlobs(ix *manifest.Index, progress func(done, total int64)) error {
	b.mu.Lock()
	l := b.layout
	b.mu.Unlock()
	if l == nil || l.ix != ix {
		if err := b.CheckLayout(ix); err != nil {
			return err
		}
	}
	var total, done, largest int64
	for _, bl := range ix.Blobs {
		total += bl.Size
		largest = max(largest, bl.Size)
	}
	if progress != nil {
		progress(0, total)
	}
	buf := make([]byte, min(largest, 1<<20)+1)
	b.mu.Lock()
	l = b.layout
	b.mu.Unlock()
	for _, bl := range ix.Blobs {
		loc := l.blobs[bl.Digest]
		h := bl.Digest.NewHash()
		sr := io.NewSectionReader(b.r, loc.off, loc.size)
		for {
			n, err := sr.Read(buf)
			h.Write(buf[:n])
			done += int64(n)
			if n > 0 && progress != nil {
				progress(done, total)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				return b.readErr(err)
			}
		}
		if got := manifest.FromHash(bl.Digest.Algorithm(), h); got != bl.Digest {
			return b.damaged("blob %s has digest %s", bl.Digest, got)
		}
	}
	return nil
}

// OpenBlob returns the stored bytes of blob d after checking their sha256:
// nothing unverified is ever returned. Small blobs are read into memory once;
// larger ones are hashed in place and hashed again as the returned reader is
// read, so a file changed in between fails at EOF. CheckLayout must have
// succeeded.
func (b *Bundle) OpenBlob(d manifest.Digest) (io.Reader, error) {
	loc, err := b.locate(d)
	if err != nil {
		return nil, err
	}
	if loc.size <= smallBlob {
		buf, err := b.readData(loc.off, loc.size)
		if err != nil {
			return nil, err
		}
		if got := manifest.DigestOf(d.Algorithm(), buf); got != d {
			return nil, b.damaged("blob %s has digest %s", d, got)
		}
		return bytes.NewReader(buf), nil
	}
	h := d.NewHash()
	if _, err := io.Copy(h, io.NewSectionReader(b.r, loc.off, loc.size)); err != nil {
		return nil, b.readErr(err)
	}
	if got := manifest.FromHash(d.Algorithm(), h); got != d {
		return nil, b.damaged("blob %s has digest %s", d, got)
	}
	return &contextReader{r: verify.NewVerifyingReader(io.NewSectionReader(b.r, loc.off, loc.size), d, loc.size), what: b.source + ": blob " + d.String()}, nil
}

// Open is OpenBlob as a BlobOpener, so that a bundle can be written again
// (with a new signature, for one) straight from an existing one.
func (b *Bundle) Open(d manifest.Digest) (io.ReadCloser, error) {
	r, err := b.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(r), nil
}

// OpenFile returns the content of a regular file of the index: its blob,
// verified by OpenBlob, decompressed. The reader fails as soon as the content
// grows past f.Size, and at EOF unless its sha256 is f.Digest.
// CheckLayout must have succeeded.
func (b *Bundle) OpenFile(f manifest.File) (io.ReadCloser, error) {
	if f.Type != manifest.TypeFile {
		return nil, fmt.Errorf("%s: %s is a %s, not a regular file", b.source, f.Path, f.Type)
	}
	if _, err := manifest.ParseDigest(string(f.Digest)); err != nil {
		return nil, b.damaged("file %s: %v", f.Path, err)
	}
	if f.Size < 0 {
		return nil, b.damaged("file %s: negative size", f.Path)
	}
	loc, err := b.locate(f.Blob)
	if err != nil {
		return nil, fmt.Errorf("file %s: %w", f.Path, err)
	}
	r, err := b.OpenBlob(f.Blob)
	if err != nil {
		return nil, err
	}
	what := b.source + ": file " + f.Path
	switch loc.encoding {
	case manifest.EncodingNone:
		return io.NopCloser(&contextReader{r: verify.NewVerifyingReader(r, f.Digest, f.Size), what: what}), nil
	case manifest.EncodingZstd:
		dec, err := getDecoder(r)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", what, err)
		}
		var src io.Reader = &zstdErrors{dec}
		var ahead *aheadReader
		if readAhead && f.Size >= aheadMin {
			// Decompression runs ahead on its own goroutine; the content's
			// digest is checked below, on the reader's (see ahead.go). One
			// byte past the size is enough to see an overrun.
			ahead = newAheadReader(io.LimitReader(src, f.Size+1))
			src = ahead
		}
		return &decodedFile{contextReader{r: verify.NewVerifyingReader(src, f.Digest, f.Size), what: what}, dec, ahead}, nil
	default:
		return nil, b.damaged("blob %s: unknown encoding %q", f.Blob, loc.encoding)
	}
}

// contextReader names what is being read in its errors.
type contextReader struct {
	r    io.Reader
	what string
}

func (c *contextReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("%s: %w", c.what, err)
	}
	return n, err
}

// zstdErrors marks decoder errors as verification failures: the blob's
// digest matched, so a blob that does not decode was signed broken.
type zstdErrors struct{ r io.Reader }

func (z *zstdErrors) Read(p []byte) (int, error) {
	n, err := z.r.Read(p)
	if err != nil && err != io.EOF {
		err = damaged(fmt.Errorf("decompressing: %w", err))
	}
	return n, err
}

type decodedFile struct {
	contextReader
	dec   *zstd.Decoder // nil once closed: the decoder went back to the pool
	ahead *aheadReader  // the read-ahead feeding the reader, if any
}

func (d *decodedFile) Read(p []byte) (int, error) {
	if d.dec == nil {
		return 0, fmt.Errorf("%s: read after Close", d.what)
	}
	return d.contextReader.Read(p)
}

func (d *decodedFile) Close() error {
	if d.dec != nil {
		if d.ahead != nil {
			d.ahead.Close() // the decoder is idle once its producer stopped
		}
		putDecoder(d.dec)
		d.dec = nil
	}
	return nil
}

// Decoders are pooled: each holds a window-sized history (8 MiB for satchel's
// blobs), which an install of hundreds of files would otherwise allocate and
// clear once per file.
var decoders sync.Pool

func getDecoder(r io.Reader) (*zstd.Decoder, error) {
	if d, ok := decoders.Get().(*zstd.Decoder); ok {
		if err := d.Reset(r); err != nil {
			d.Close()
			return nil, err
		}
		return d, nil
	}
	return zstd.NewReader(r,
		zstd.WithDecoderConcurrency(1), // synchronous: no goroutine outlives Close
		zstd.WithDecoderLowmem(true),
		zstd.WithDecoderMaxWindow(64<<20))
}

func putDecoder(d *zstd.Decoder) {
	if d.Reset(nil) == nil {
		decoders.Put(d)
	} else {
		d.Close()
	}
}

// Close releases the files behind a bundle opened with OpenPath.
func (b *Bundle) Close() error {
	var errs []error
	for _, c := range b.closers {
		errs = append(errs, c.Close())
	}
	b.closers = nil
	return errors.Join(errs...)
}

func (b *Bundle) locate(d manifest.Digest) (blobLoc, error) {
	b.mu.Lock()
	l := b.layout
	b.mu.Unlock()
	if l == nil {
		return blobLoc{}, manifest.Hintf("call Index and CheckLayout (after verifying the signature) first",
			"%s: blobs cannot be read before the bundle's layout is checked", b.source)
	}
	loc, ok := l.blobs[d]
	if !ok {
		return blobLoc{}, b.damaged("blob %s is not in the bundle's index", d)
	}
	return loc, nil
}

// readHeader reads the header block at off, which must be the canonical
// header of an entry named name (and, when mtime >= 0, of that mtime). It
// returns the entry's size and mtime.
func (b *Bundle) readHeader(off int64, name string, mtime int64) (size, mt int64, err error) {
	raw, err := b.readData(off, blockSize)
	if err != nil {
		return 0, 0, err
	}
	got := string(raw[:100])
	if i := bytes.IndexByte(raw[:100], 0); i >= 0 {
		got = got[:i]
	}
	if got != name {
		return 0, 0, b.damaged("the entry at offset %d is %q, expected %q", off, got, name)
	}
	size, err1 := parseOctal(raw[124:136])
	mt, err2 := parseOctal(raw[136:148])
	if err1 != nil || err2 != nil {
		return 0, 0, b.damaged("the header of %s at offset %d is not canonical", name, off)
	}
	if mtime >= 0 && mt != mtime {
		return 0, 0, b.damaged("the header of %s at offset %d has time %d, not %d", name, off, mt, mtime)
	}
	want, err := canonicalHeader(name, size, mt)
	if err != nil || !bytes.Equal(raw, want) {
		return 0, 0, b.damaged("the header of %s at offset %d is not canonical", name, off)
	}
	return size, mt, nil
}

// parseOctal parses a USTAR numeric field as archive/tar writes it: octal
// digits, then NULs or spaces. The canonical comparison afterwards rejects
// every other spelling of the same number.
func parseOctal(f []byte) (int64, error) {
	s := string(bytes.TrimRight(f, "\x00 "))
	if s == "" {
		return 0, errors.New("empty numeric field")
	}
	for _, c := range s {
		if c < '0' || c > '7' {
			return 0, errors.New("bad octal digit")
		}
	}
	return strconv.ParseInt(s, 8, 64)
}

// readData reads n bytes at off followed by zero padding to the next block.
func (b *Bundle) readData(off, n int64) ([]byte, error) {
	if off < 0 || n < 0 || off+n > b.size {
		return nil, b.damaged("it ends inside an entry (offset %d, %d bytes wanted)", off, n)
	}
	buf := make([]byte, n)
	if err := readFullAt(b.r, buf, off); err != nil {
		return nil, b.readErr(err)
	}
	if n%blockSize != 0 {
		if err := b.checkZero(off+n, padTo(n, blockSize), "entry padding"); err != nil {
			return nil, err
		}
	}
	return buf, nil
}

// checkZero checks that n bytes at off are zero.
func (b *Bundle) checkZero(off, n int64, what string) error {
	if off+n > b.size {
		return b.damaged("it ends inside the %s at offset %d", what, off)
	}
	buf := make([]byte, min(n, 64<<10))
	for n > 0 {
		c := buf[:min(n, int64(len(buf)))]
		if err := readFullAt(b.r, c, off); err != nil {
			return b.readErr(err)
		}
		for i, x := range c {
			if x != 0 {
				return b.damaged("non-zero byte in the %s at offset %d", what, off+int64(i))
			}
		}
		off += int64(len(c))
		n -= int64(len(c))
	}
	return nil
}

// readFullAt is ReadAt that accepts io.EOF together with a full read, as
// the io.ReaderAt contract allows at the end of the input.
func readFullAt(r io.ReaderAt, p []byte, off int64) error {
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil {
		err = io.ErrUnexpectedEOF
	}
	return err
}

func (b *Bundle) damaged(format string, args ...any) error {
	return damaged(fmt.Errorf("%s: %s", b.source, fmt.Sprintf(format, args...)))
}

// readErr classifies a read failure: a short read is a truncated bundle,
// anything else (including a split part's failed check) is passed on.
func (b *Bundle) readErr(err error) error {
	if manifest.ExitCode(err) == manifest.ExitVerification {
		return err
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return b.damaged("it is truncated")
	}
	return fmt.Errorf("%s: %w", b.source, err)
}
