package pack

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/verify"
)

// aheadFixture is a verified bundle with files below, at and well above
// aheadMin (several chunks, and a size that is no multiple of a chunk).
func aheadFixture(t *testing.T) (*Bundle, *fixture, []manifest.File) {
	t.Helper()
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"), 300, aheadMin-1, aheadMin, 5*aheadChunk+12345, 9<<20+7)
	b, err := openBytes(fx.bytes(t))
	if err != nil {
		t.Fatal(err)
	}
	ix, err := b.Index()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	var files []manifest.File
	for _, f := range ix.Components[0].Artifacts[0].Files {
		if f.Type == manifest.TypeFile {
			files = append(files, f)
		}
	}
	return b, fx, files
}

// readWith reads f through OpenFile with or without read-ahead, in reads of
// an odd size so chunk boundaries fall inside them.
func readWith(t *testing.T, b *Bundle, f manifest.File, ahead bool) ([]byte, error) {
	t.Helper()
	defer func(old bool) { readAhead = old }(readAhead)
	readAhead = ahead
	rc, err := b.OpenFile(f)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	var out bytes.Buffer
	_, err = io.CopyBuffer(&out, struct{ io.Reader }{rc}, make([]byte, 100_003))
	return out.Bytes(), err
}

// TestReadAheadSameAsSerial: the read-ahead path yields exactly the bytes
// of the serial path, which are the files put into the bundle.
func TestReadAheadSameAsSerial(t *testing.T) {
	b, fx, files := aheadFixture(t)
	for _, f := range files {
		serial, err := readWith(t, b, f, false)
		if err != nil {
			t.Fatalf("%s serial: %v", f.Path, err)
		}
		ahead, err := readWith(t, b, f, true)
		if err != nil {
			t.Fatalf("%s ahead: %v", f.Path, err)
		}
		if !bytes.Equal(serial, fx.files[f.Path]) || !bytes.Equal(ahead, serial) {
			t.Errorf("%s (%d bytes): read-ahead %d bytes, serial %d bytes, differ", f.Path, f.Size, len(ahead), len(serial))
		}
	}
}

// TestReadAheadChecksContent: a file whose signed digest or size does not
// match its (correctly stored) blob fails with a verification error on both
// paths, and never with a clean EOF: a caller writing to a temporary file
// renames nothing.
func TestReadAheadChecksContent(t *testing.T) {
	b, _, files := aheadFixture(t)
	big := files[len(files)-1]
	if big.Size < aheadMin {
		t.Fatal("fixture has no large file")
	}
	other := big
	other.Digest = manifest.DigestOf("sha256", []byte("something else"))
	short := big
	short.Size -= aheadChunk + 1 // overrun: more content than signed
	long := big
	long.Size += 10 // the content ends early
	for name, f := range map[string]manifest.File{"digest": other, "shorter size": short, "longer size": long} {
		for _, ahead := range []bool{false, true} {
			got, err := readWith(t, b, f, ahead)
			if !isVerification(err) {
				t.Errorf("%s, read-ahead %v: err %v, want a verification error", name, ahead, err)
			}
			if int64(len(got)) > f.Size {
				t.Errorf("%s, read-ahead %v: %d bytes passed on, more than the %d signed", name, ahead, len(got), f.Size)
			}
		}
	}
}

// TestReadAheadCorruptBlob: a flipped byte in a large file's stored blob is
// found before OpenFile returns: not one byte is read.
func TestReadAheadCorruptBlob(t *testing.T) {
	dir := t.TempDir()
	fx := newFixture(t, filepath.Join(dir, "store"), 9<<20+7)
	raw := fx.bytes(t)
	b, err := openBytes(raw)
	if err != nil {
		t.Fatal(err)
	}
	ix, _ := b.Index()
	if err := b.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	f := ix.Components[0].Artifacts[0].Files[0]
	loc, err := b.locate(f.Blob)
	if err != nil {
		t.Fatal(err)
	}
	raw[loc.off+loc.size/2] ^= 0x40
	if rc, err := b.OpenFile(f); !isVerification(err) {
		if rc != nil {
			rc.Close()
		}
		t.Fatalf("OpenFile of a corrupted blob: %v, want a verification error", err)
	}
}

// TestReadAheadCloseEarly: closing a file part-read stops its producer
// goroutine, and the pooled decoder it used reads the next file correctly.
func TestReadAheadCloseEarly(t *testing.T) {
	b, fx, files := aheadFixture(t)
	big := files[len(files)-1]
	before := runtime.NumGoroutine()
	for range 20 {
		rc, err := b.OpenFile(big)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(rc, make([]byte, 1000)); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if _, err := rc.Read(make([]byte, 10)); err == nil {
			t.Fatal("read after Close succeeded")
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running after Close (%d before)", n-before, before)
	}
	got, err := readWith(t, b, big, true)
	if err != nil || !bytes.Equal(got, fx.files[big.Path]) {
		t.Errorf("a full read after early closes: %d bytes, err %v", len(got), err)
	}
}

// BenchmarkOpenFile reads a large file of pseudo-random, half-compressible
// content through OpenFile, serial and with read-ahead, in MB/s of content:
//
//	go test -run '^$' -bench OpenFile -benchtime 20x ./pack/
func BenchmarkOpenFile(b *testing.B) {
	dir := b.TempDir()
	fx := newFixture(b, filepath.Join(dir, "store"), 64<<20)
	bu, err := openBytes(fx.bytes(b))
	if err != nil {
		b.Fatal(err)
	}
	ix, _ := bu.Index()
	if err := bu.CheckLayout(ix); err != nil {
		b.Fatal(err)
	}
	f := ix.Components[0].Artifacts[0].Files[0]
	for _, mode := range []struct {
		name  string
		ahead bool
	}{{"serial", false}, {"read-ahead", true}} {
		b.Run(mode.name, func(b *testing.B) {
			defer func(old bool) { readAhead = old }(readAhead)
			readAhead = mode.ahead
			b.SetBytes(f.Size)
			cpu0 := processCPU()
			for b.Loop() {
				rc, err := bu.OpenFile(f)
				if err != nil {
					b.Fatal(err)
				}
				if _, err := io.Copy(io.Discard, rc); err != nil {
					b.Fatal(err)
				}
				rc.Close()
			}
			reportCPURate(b, f.Size, processCPU()-cpu0)
		})
	}
}

// BenchmarkReadBundle does the installer's reading of a real bundle: the
// signature, layout and every blob's digest (VerifyBundle), then every file
// through OpenFile (blob hashed again, decompressed, content hashed), into
// io.Discard: apply's CPU work without the writes, for a CPU profile.
// test/bench/bench.sh runs it on its corpus's bundle:
//
//	SATCHEL_BENCH_BUNDLE=x.satchel SATCHEL_BENCH_PUB=x.pub \
//	  go test -run '^$' -bench ReadBundle -benchtime 3x -cpuprofile cpu.out ./pack/
func BenchmarkReadBundle(b *testing.B) {
	path := os.Getenv("SATCHEL_BENCH_BUNDLE")
	if path == "" {
		b.Skip("SATCHEL_BENCH_BUNDLE is not set: test/bench/bench.sh runs this on its corpus") // by design: a benchmark of bench.sh's corpus, never run by go test
	}
	key, err := verify.LoadVerifierFile(os.Getenv("SATCHEL_BENCH_PUB"))
	if err != nil {
		b.Fatal(err)
	}
	var size int64
	for b.Loop() {
		bu, err := OpenPath(path)
		if err != nil {
			b.Fatal(err)
		}
		ix, _, err := VerifyBundle(bu, []*verify.Verifier{key}, VerifyOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if err := bu.VerifyBlobs(ix, nil); err != nil {
			b.Fatal(err)
		}
		size = 0
		for _, c := range ix.Components {
			for _, a := range c.Artifacts {
				for _, f := range a.Files {
					if f.Type != manifest.TypeFile {
						continue
					}
					rc, err := bu.OpenFile(f)
					if err != nil {
						b.Fatal(err)
					}
					n, err := io.Copy(io.Discard, rc)
					rc.Close()
					if err != nil {
						b.Fatal(err)
					}
					size += n
				}
			}
		}
		bu.Close()
	}
	b.SetBytes(size)
}
