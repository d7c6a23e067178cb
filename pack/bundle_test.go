package pack

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"), 300, 0, 2000, 200_000)
	path := filepath.Join(dir, "test.satchel")
	fx.writeFile(t, path)

	b, err := OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if !bytes.Equal(b.IndexJSON(), fx.json) || !bytes.Equal(b.Signature(), fx.sig) {
		t.Fatal("index or signature bytes differ from what was written")
	}
	if err := checkSig(b); err != nil {
		t.Fatal(err)
	}
	ix, err := b.Index()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	var last, total int64
	if err := b.VerifyBlobs(ix, func(done, tot int64) { last, total = done, tot }); err != nil {
		t.Fatal(err)
	}
	var want int64
	for _, bl := range ix.Blobs {
		want += bl.Size
	}
	if last != want || total != want {
		t.Errorf("progress ended at %d/%d, want %d/%d", last, total, want, want)
	}
	n := 0
	for _, f := range ix.Components[0].Artifacts[0].Files {
		if f.Type != manifest.TypeFile {
			continue
		}
		rc, err := b.OpenFile(f)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Path, err)
		}
		if !bytes.Equal(got, fx.files[f.Path]) {
			t.Errorf("%s: content differs", f.Path)
		}
		n++
	}
	if n != len(fx.files) {
		t.Errorf("read %d files, fixture has %d", n, len(fx.files))
	}
	r, err := b.OpenBlob(fx.rawBlob)
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := io.ReadAll(r); !bytes.Equal(got, fx.raw) {
		t.Error("raw blob differs")
	}
	if _, err := b.OpenFile(ix.Components[0].Artifacts[0].Files[len(fx.files)]); err == nil {
		t.Error("OpenFile accepted a symlink")
	}
}

func TestWriteDeterministic(t *testing.T) {
	a := newFixture(t, t.TempDir()).bytes(t)
	b := newFixture(t, t.TempDir()).bytes(t)
	if !bytes.Equal(a, b) {
		t.Fatal("two builds from the same input differ")
	}
	if len(a)%recordSize != 0 {
		t.Errorf("length %d is not a whole number of records", len(a))
	}
	// A bundle read back and written again (as re-signing does) is the same file.
	bd, err := openBytes(a)
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := bd.Index()
	if err := bd.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := Write(&again, bd.IndexJSON(), bd.Signature(), ix, bd); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), a) {
		t.Fatal("rewriting a bundle from itself changed it")
	}
}

// TestHeadersMatchContract reads a bundle with archive/tar and checks the
// properties CONTRACTS.md lists, independently of the reader under test.
func TestHeadersMatchContract(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	data := fx.bytes(t)
	tr := tar.NewReader(bytes.NewReader(data))
	want := []string{IndexName, SignatureName}
	for _, bl := range fx.ix.Blobs {
		want = append(want, "blobs/sha256/"+bl.Digest.Hex())
	}
	var got []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, h.Name)
		if h.Typeflag != tar.TypeReg || h.Mode != 0o644 || h.Uid != 0 || h.Gid != 0 || h.Uname != "" || h.Gname != "" ||
			!h.ModTime.Equal(fx.ix.Created) || h.Format != tar.FormatUSTAR || len(h.PAXRecords) != 0 {
			t.Errorf("%s: header %+v does not follow the contract", h.Name, h)
		}
		body, _ := io.ReadAll(tr)
		if strings.HasPrefix(h.Name, "blobs/") && "blobs/sha256/"+sha256hex(body) != h.Name {
			t.Errorf("%s: content hashes to %s", h.Name, sha256hex(body))
		}
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("entries\n%v\nwant\n%v", got, want)
	}
}

// TestEveryByteCovered flips every byte of a small bundle and runs the
// installer's checks. A flip inside satchel.json's content or the signature
// may leave a well-formed bundle (e.g. a digit of the name changed): those
// bytes are covered by the signature check, which must then fail. Every other
// byte must be rejected by pack itself.
func TestEveryByteCovered(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 40, 0, 700)
	orig := fx.bytes(t)
	b0, err := openBytes(orig)
	if err != nil {
		t.Fatal(err)
	}
	if stage, err := checkAll(b0, true); err != nil {
		t.Fatalf("unmodified bundle fails at %s: %v", stage, err)
	}
	signedFrom, signedTo := int64(blockSize), int64(blockSize+len(fx.json))
	sigFrom := signedTo + padTo(signedTo, blockSize) + blockSize
	sigTo := sigFrom + int64(len(fx.sig))

	stages := map[string]int{}
	mod := make([]byte, len(orig))
	for _, mask := range []byte{0x01, 0x80} {
		for i := range orig {
			if mask == 0x80 && i%8 != 0 { // a second pattern on a systematic sample
				continue
			}
			copy(mod, orig)
			mod[i] ^= mask
			stage := "open"
			b, err := openBytes(mod)
			if err == nil {
				stage, err = checkAll(b, false)
			}
			if err == nil {
				inSigned := int64(i) >= signedFrom && int64(i) < signedTo
				inSig := int64(i) >= sigFrom && int64(i) < sigTo
				if !inSigned && !inSig {
					t.Fatalf("flip %#x at offset %d (outside index and signature) accepted", mask, i)
				}
				stage, err = checkAll(b, true)
				if err == nil {
					t.Fatalf("flip %#x at offset %d accepted even with the signature check", mask, i)
				}
			} else if !isVerification(err) && stage != "index" {
				t.Errorf("flip at %d: %s error is not a verification error: %v", i, stage, err)
			}
			stages[stage]++
		}
	}
	t.Logf("%d-byte bundle; rejections by stage: %v", len(orig), stages)
}

func TestRejectTrailingData(t *testing.T) {
	orig := newFixture(t, t.TempDir()).bytes(t)
	for name, extra := range map[string][]byte{
		"one zero byte":     {0},
		"one byte":          {'x'},
		"a zero block":      make([]byte, blockSize),
		"a zero record":     make([]byte, recordSize),
		"a record of data":  bytes.Repeat([]byte{'a'}, recordSize),
		"a second tar file": orig,
	} {
		t.Run(name, func(t *testing.T) {
			data := append(append([]byte{}, orig...), extra...)
			b, err := openBytes(data)
			if err == nil {
				_, err = checkAll(b, true)
			}
			if err == nil || !isVerification(err) {
				t.Fatalf("bundle with %s appended: err = %v", name, err)
			}
		})
	}
	// Truncation too.
	b, err := openBytes(orig[:len(orig)-recordSize])
	if err == nil {
		_, err = checkAll(b, true)
	}
	if err == nil {
		t.Fatal("truncated bundle accepted")
	}
}

// writeVariant writes the fixture's entries with archive/tar, letting mod
// change each header (and the entry order), to build bundles that are valid
// tar files but not what Write produces.
func writeVariant(t *testing.T, fx *fixture, mod func(h *tar.Header), order func([]manifest.Blob) []manifest.Blob) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	put := func(name string, body []byte) {
		h := entryHeader(name, int64(len(body)), fx.ix.Created.Unix())
		if mod != nil {
			mod(h)
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		tw.Write(body)
	}
	put(IndexName, fx.json)
	put(SignatureName, fx.sig)
	blobs := fx.ix.Blobs
	if order != nil {
		blobs = order(append([]manifest.Blob{}, blobs...))
	}
	for _, bl := range blobs {
		rc, err := fx.store.Open(bl.Digest)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(rc)
		rc.Close()
		put(BlobPrefix+bl.Digest.Hex(), body)
	}
	tw.Close()
	buf.Write(make([]byte, padTo(int64(buf.Len()), recordSize)))
	return buf.Bytes()
}

func TestRejectNonCanonical(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	if same := writeVariant(t, fx, nil, nil); !bytes.Equal(same, fx.bytes(t)) {
		t.Fatal("writeVariant without changes differs from Write; the cases below would prove nothing")
	}
	cases := map[string]func(h *tar.Header){
		"mode 0755":     func(h *tar.Header) { h.Mode = 0o755 },
		"uid 1000":      func(h *tar.Header) { h.Uid = 1000 },
		"user name":     func(h *tar.Header) { h.Uname = "root" },
		"mtime":         func(h *tar.Header) { h.ModTime = h.ModTime.Add(time.Second) },
		"GNU format":    func(h *tar.Header) { h.Format = tar.FormatGNU },
		"PAX record":    func(h *tar.Header) { h.PAXRecords = map[string]string{"comment": "x"}; h.Format = tar.FormatPAX },
		"./ name":       func(h *tar.Header) { h.Name = "./" + h.Name },
		"devmajor set":  func(h *tar.Header) { h.Devmajor = 1 },
		"long linkname": func(h *tar.Header) { h.Linkname = "x" },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			var hits atomic.Int32
			data := writeVariant(t, fx, func(h *tar.Header) {
				// Only the last blob's header changes, so the first two entries
				// alone cannot give it away and CheckLayout must notice.
				if h.Name == BlobPrefix+fx.ix.Blobs[len(fx.ix.Blobs)-1].Digest.Hex() {
					hits.Add(1)
					mod(h)
				}
			}, nil)
			b, err := openBytes(data)
			if err == nil {
				_, err = checkAll(b, true)
			}
			if err == nil || !isVerification(err) {
				t.Fatalf("non-canonical blob header (%s) not rejected: %v", name, err)
			}
			// And the same change in the first header is caught by Open.
			data = writeVariant(t, fx, func(h *tar.Header) {
				if h.Name == IndexName {
					mod(h)
				}
			}, nil)
			if _, err := openBytes(data); err == nil {
				t.Fatalf("non-canonical satchel.json header (%s) accepted by Open", name)
			}
		})
	}
}

// TestRejectNonCanonicalBytes changes header bytes in ways that keep their
// meaning for a tolerant tar reader (another spelling of the same number, the
// old NUL typeflag) and fixes the checksum, so only the byte comparison with
// archive/tar's own output can notice.
func TestRejectNonCanonicalBytes(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	orig := fx.bytes(t)
	lastHdr := int64(-1)
	b, _ := openBytes(orig)
	off := b.blobsOff
	for _, bl := range fx.ix.Blobs {
		lastHdr = off
		off += blockSize + bl.Size + padTo(bl.Size, blockSize)
	}
	cases := map[string]func(h []byte){
		"typeflag NUL":         func(h []byte) { h[156] = 0 },
		"mode with spaces":     func(h []byte) { copy(h[100:108], "   644 \x00") },
		"size ends in space":   func(h []byte) { h[135] = ' ' },
		"mtime with NUL pad":   func(h []byte) { copy(h[136:148], "\x00"+string(h[136:147])) },
		"GNU magic":            func(h []byte) { copy(h[257:265], "ustar  \x00") },
		"byte in unused tail":  func(h []byte) { h[511] = 1 },
		"name padding not NUL": func(h []byte) { h[99] = ' ' },
		"uname set":            func(h []byte) { copy(h[265:], "root") },
	}
	for name, mod := range cases {
		t.Run(name, func(t *testing.T) {
			for _, at := range []int64{0, lastHdr} {
				data := append([]byte{}, orig...)
				h := data[at : at+blockSize]
				mod(h)
				fixChecksum(h)
				if _, err := tar.NewReader(bytes.NewReader(h)).Next(); err != nil && !errors.Is(err, io.EOF) && at == 0 {
					t.Logf("archive/tar rejects it too: %v", err)
				}
				b, err := openBytes(data)
				if err == nil {
					_, err = checkAll(b, true)
				}
				if err == nil || !isVerification(err) {
					t.Fatalf("header at %d changed (%s) accepted: %v", at, name, err)
				}
			}
		})
	}
}

// fixChecksum recomputes a tar header's checksum field as archive/tar does.
func fixChecksum(h []byte) {
	copy(h[148:156], "        ")
	var sum int64
	for _, c := range h {
		sum += int64(c)
	}
	copy(h[148:156], []byte(fmt.Sprintf("%06o\x00 ", sum)))
}

func TestRejectOutOfOrder(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	data := writeVariant(t, fx, nil, func(bl []manifest.Blob) []manifest.Blob {
		bl[0], bl[len(bl)-1] = bl[len(bl)-1], bl[0]
		return bl
	})
	b, err := openBytes(data)
	if err != nil {
		t.Fatal(err) // the first two entries are fine
	}
	ix, err := b.Index()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckLayout(ix); err == nil || !isVerification(err) {
		t.Fatalf("blobs out of index order accepted: %v", err)
	}
	// A blob missing from the tar, and one the index does not list.
	for name, order := range map[string]func([]manifest.Blob) []manifest.Blob{
		"missing": func(bl []manifest.Blob) []manifest.Blob { return bl[:len(bl)-1] },
		"extra":   func(bl []manifest.Blob) []manifest.Blob { return append(bl, bl[0]) },
	} {
		b, err := openBytes(writeVariant(t, fx, nil, order))
		if err == nil {
			_, err = checkAll(b, true)
		}
		if err == nil {
			t.Errorf("%s blob accepted", name)
		}
	}
	// Signature first, then the index.
	swapped := writeVariant(t, fx, func(h *tar.Header) {
		switch h.Name {
		case IndexName:
			h.Name = SignatureName
		case SignatureName:
			h.Name = IndexName
		}
	}, nil)
	if _, err := openBytes(swapped); err == nil {
		t.Error("entries named in the wrong order accepted")
	}
}

// countingReaderAt records the highest offset read.
type countingReaderAt struct {
	r   io.ReaderAt
	max atomic.Int64
}

func (c *countingReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if end := off + int64(len(p)); end > c.max.Load() {
		c.max.Store(end)
	}
	return c.r.ReadAt(p, off)
}

func TestOpenReadsOnlyFirstEntries(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 100_000)
	data := fx.bytes(t)
	cr := &countingReaderAt{r: bytes.NewReader(data)}
	b, err := Open(cr, int64(len(data)))
	if err != nil {
		t.Fatal(err)
	}
	// Open looks at the name in the next header (a provenance entry or the
	// first blob), never at a blob's content.
	if cr.max.Load() > b.blobsOff+blockSize {
		t.Errorf("Open read up to %d, the first blob's content starts at %d", cr.max.Load(), b.blobsOff+blockSize)
	}
	if _, err := b.OpenBlob(fx.ix.Blobs[0].Digest); err == nil || !strings.Contains(err.Error(), "layout") {
		t.Errorf("OpenBlob before CheckLayout: %v", err)
	}
	ix, _ := b.Index()
	other := *ix
	other.Sequence++
	if err := b.CheckLayout(&other); err == nil {
		t.Error("CheckLayout accepted an index that is not the bundle's")
	}
}

func TestWriteRejectsBadInput(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	var buf bytes.Buffer
	if err := Write(&buf, append(fx.json, ' '), fx.sig, fx.ix, fx.store); err == nil {
		t.Error("index bytes not matching the index accepted")
	}
	if err := Write(&buf, fx.json, append(fx.sig, '\n'), fx.ix, fx.store); err == nil {
		t.Error("signature with a trailing newline accepted")
	}
	dup := *fx.ix
	dup.Blobs = append(append([]manifest.Blob{}, fx.ix.Blobs...), fx.ix.Blobs[0])
	dj, _ := dup.Encode()
	if err := Write(&buf, dj, nil, &dup, fx.store); err == nil {
		t.Error("duplicate blob accepted")
	}
	// A damaged blob store is caught while writing.
	p := fx.store.Path(fx.ix.Blobs[0].Digest)
	data, _ := os.ReadFile(p)
	data[len(data)/2] ^= 1
	os.WriteFile(p, data, 0o644)
	err := Write(io.Discard, fx.json, fx.sig, fx.ix, fx.store)
	if err == nil || !isVerification(err) {
		t.Errorf("damaged blob in the store: %v", err)
	}
	// Unsigned bundles are fine.
	fx2 := newFixture(t, t.TempDir())
	if err := Write(io.Discard, fx2.json, nil, fx2.ix, fx2.store); err != nil {
		t.Errorf("unsigned bundle: %v", err)
	}
}

type failingOpener struct{ BlobOpener }

func (f failingOpener) Open(d manifest.Digest) (io.ReadCloser, error) {
	return nil, errors.New("disk on fire")
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"))
	out := filepath.Join(dir, "out")
	os.Mkdir(out, 0o755)
	path := filepath.Join(out, "b.satchel")
	fx.writeFile(t, path)
	first, _ := os.ReadFile(path)
	if !bytes.Equal(first, fx.bytes(t)) {
		t.Fatal("WriteFile and Write differ")
	}
	err := WriteFile(path, false, fx.json, fx.sig, fx.ix, fx.store)
	if err == nil || manifest.Hint(err) == "" {
		t.Fatalf("existing output without force: %v", err)
	}
	if err := WriteFile(path, true, fx.json, fx.sig, fx.ix, fx.store); err != nil {
		t.Fatalf("with force: %v", err)
	}
	// Failure leaves nothing: neither output nor temporary file.
	if err := WriteFile(filepath.Join(out, "c.satchel"), false, fx.json, fx.sig, fx.ix, failingOpener{}); err == nil {
		t.Fatal("failing blob source accepted")
	}
	if err := WriteFile(path, true, fx.json, fx.sig, fx.ix, failingOpener{}); err == nil {
		t.Fatal("failing blob source accepted")
	}
	if got := listDir(t, out); len(got) != 1 || got[0] != path {
		t.Errorf("directory after failures: %v", got)
	}
	if now, _ := os.ReadFile(path); !bytes.Equal(now, first) {
		t.Error("a failed forced write changed the existing bundle")
	}
}

// TestBlobHeaderSizeMustMatchIndex: a blob header whose size field was
// edited (and its checksum fixed, so the header is canonical for that size)
// shows tar(1) other content than the index describes. The reader must
// refuse it (issue 7, #12).
func TestBlobHeaderSizeMustMatchIndex(t *testing.T) {
	fx := newFixture(t, t.TempDir(), 300, 0, 2000)
	orig := fx.bytes(t)
	b0, err := openBytes(orig)
	if err != nil {
		t.Fatal(err)
	}
	off := b0.blobsOff
	tried := 0
	for _, bl := range fx.ix.Blobs {
		hdr := off
		off += blockSize + bl.Size + padTo(bl.Size, blockSize)
		for _, size := range []int64{bl.Size - 1, bl.Size + 1, 0, bl.Size + blockSize} {
			if size < 0 || size == bl.Size {
				continue
			}
			tried++
			data := bytes.Clone(orig)
			h, err := canonicalHeader(BlobPrefix+bl.Digest.Hex(), size, fx.ix.Created.Unix())
			if err != nil {
				t.Fatal(err)
			}
			copy(data[hdr:], h)
			// archive/tar believes the header: it reads other bytes as the blob.
			tr := tar.NewReader(bytes.NewReader(data))
			for {
				th, err := tr.Next()
				if err != nil {
					t.Fatalf("blob %s size %d: archive/tar: %v", bl.Digest, size, err)
				}
				if th.Name == BlobPrefix+bl.Digest.Hex() {
					if th.Size != size {
						t.Fatalf("archive/tar reads size %d, want %d", th.Size, size)
					}
					break
				}
			}
			b, err := openBytes(data)
			if err != nil {
				t.Fatal(err)
			}
			stage, err := checkAll(b, true)
			if err == nil || stage != "layout" || !isVerification(err) || !strings.Contains(err.Error(), "the index") {
				t.Errorf("blob %s with header size %d (index %d): stage %q, %v", bl.Digest, size, bl.Size, stage, err)
			}
		}
	}
	if tried < 6 {
		t.Fatalf("only %d cases", tried)
	}
}

// TestSignatureEntryBounds: satchel.json.sig is not covered by the index,
// so its header alone gives its size; Open bounds it by the longest
// signature verify accepts and refuses anything else there.
func TestSignatureEntryBounds(t *testing.T) {
	fx := newFixture(t, t.TempDir())
	for name, sig := range map[string][]byte{
		"too long":   []byte(strings.Repeat("A", maxSignatureSize+4)),
		"whitespace": append(bytes.Clone(fx.sig), '\n'),
		"not base64": []byte("*not base64*"),
	} {
		t.Run(name, func(t *testing.T) {
			data := writeVariant(t, &fixture{store: fx.store, ix: fx.ix, json: fx.json, sig: sig}, nil, nil)
			_, err := openBytes(data)
			if err == nil || !isVerification(err) || !strings.Contains(err.Error(), "satchel.json.sig") {
				t.Fatalf("signature entry %s: %v", name, err)
			}
		})
	}
	// The longest signature verify accepts still opens.
	long := []byte(strings.Repeat("A", maxSignatureSize))
	data := writeVariant(t, &fixture{store: fx.store, ix: fx.ix, json: fx.json, sig: long}, nil, nil)
	if _, err := openBytes(data); err != nil {
		t.Fatalf("a %d-byte signature entry: %v", len(long), err)
	}
}
