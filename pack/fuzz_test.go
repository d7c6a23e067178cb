package pack

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"sync/atomic"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// boundedReaderAt is the bundle file as the reader sees it; it fails the
// test on any read outside the file, so "never reads past bounds" is
// checked, not assumed.
type boundedReaderAt struct {
	t     *testing.T
	data  []byte
	reads atomic.Int64
}

func (b *boundedReaderAt) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(b.data)) || int64(len(p)) > int64(len(b.data))-off {
		b.t.Fatalf("read of %d bytes at offset %d of a %d-byte bundle", len(p), off, len(b.data))
	}
	b.reads.Add(int64(len(p)))
	return copy(p, b.data[off:]), nil
}

// FuzzOpen feeds arbitrary bytes to the bundle reader and, when they get
// that far, to every later step the installer takes (with the signature
// skipped, as an insider's signature would pass): Open, Index (decode and
// Validate), CheckLayout, VerifyBlobs, OpenFile of every file read to its
// end, OpenBlob of every image blob. Nothing may panic or read outside the
// input, and no file may yield more than its index size. Run it longer with
//
//	go test ./pack -run '^$' -fuzz '^FuzzOpen$' -fuzztime 5m -fuzzminimizetime 3s
//
// Crashers are kept in testdata/fuzz/FuzzOpen.
func FuzzOpen(f *testing.F) {
	demo, err := os.ReadFile("testdata/demo.satchel")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(demo)
	fx := newFixture(f, f.TempDir(), 300, 0, 2000)
	good := fx.bytes(f)
	f.Add(good)
	// A few near misses: truncated, a blob header's size edited.
	f.Add(good[:len(good)-recordSize])
	bad := bytes.Clone(good)
	if h, err := canonicalHeader(BlobPrefix+fx.ix.Blobs[0].Digest.Hex(), fx.ix.Blobs[0].Size+1, fx.ix.Created.Unix()); err == nil {
		b0, _ := openBytes(good)
		copy(bad[b0.blobsOff:], h)
	}
	f.Add(bad)
	f.Add([]byte{})
	f.Add(make([]byte, 3*recordSize))
	f.Fuzz(func(t *testing.T, data []byte) {
		r := &boundedReaderAt{t: t, data: data}
		b, err := Open(r, int64(len(data)))
		if err != nil {
			requireClassified(t, "Open", err)
			return
		}
		ix, err := b.Index()
		if err != nil {
			requireClassified(t, "Index", err)
			return
		}
		if err := b.CheckLayout(ix); err != nil {
			requireClassified(t, "CheckLayout", err)
			return
		}
		if err := b.VerifyBlobs(ix, nil); err != nil {
			requireClassified(t, "VerifyBlobs", err)
			return
		}
		for _, c := range ix.Components {
			for _, a := range c.Artifacts {
				for _, fl := range a.Files {
					if fl.Type != manifest.TypeFile {
						continue
					}
					rc, err := b.OpenFile(fl)
					if err != nil {
						requireClassified(t, "OpenFile", err)
						continue
					}
					n, err := io.Copy(io.Discard, io.LimitReader(rc, fl.Size+1))
					rc.Close()
					if n > fl.Size {
						t.Fatalf("%s yielded more than its %d bytes", fl.Path, fl.Size)
					}
					if err == nil && n != fl.Size {
						t.Fatalf("%s: %d bytes without an error, index says %d", fl.Path, n, fl.Size)
					}
				}
			}
		}
		for _, im := range ix.Images {
			for _, d := range im.Blobs {
				rd, err := b.OpenBlob(d)
				if err != nil {
					requireClassified(t, "OpenBlob", err)
					continue
				}
				io.Copy(io.Discard, rd)
			}
		}
		if got := r.reads.Load(); got > 4*int64(len(data))+1<<20 {
			t.Fatalf("read %d bytes of a %d-byte bundle", got, len(data))
		}
	})
}

// requireClassified checks that a refusal of untrusted bytes is a
// verification error (exit code 3): a reader error on an in-memory bundle
// can only be the bundle's fault.
func requireClassified(t *testing.T, step string, err error) {
	t.Helper()
	if manifest.ExitCode(err) != manifest.ExitVerification {
		t.Fatalf("%s: %v is not a verification error", step, fmt.Sprint(err))
	}
}
