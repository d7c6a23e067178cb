package pack

import (
	"bytes"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/klauspost/compress/zstd"

	"github.com/satchel-dev/satchel/manifest"

	"github.com/satchel-dev/satchel/internal/testenv"
)

func TestPutFile(t *testing.T) {
	s, err := NewBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := pseudoRandom(42, 300_000)
	d, size, blob, err := s.PutFile(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	if d != manifest.DigestOf("sha256", content) || size != int64(len(content)) {
		t.Errorf("content digest/size = %s/%d", d, size)
	}
	if blob.Encoding != manifest.EncodingZstd {
		t.Errorf("encoding %q", blob.Encoding)
	}
	stored, err := os.ReadFile(s.Path(blob.Digest))
	if err != nil {
		t.Fatal(err)
	}
	if manifest.DigestOf("sha256", stored) != blob.Digest || int64(len(stored)) != blob.Size {
		t.Error("blob is not named by the sha256 of its stored bytes")
	}
	if len(stored) >= len(content) {
		t.Errorf("stored %d bytes for %d of compressible content", len(stored), len(content))
	}
	dec, _ := zstd.NewReader(bytes.NewReader(stored))
	back, err := io.ReadAll(dec)
	dec.Close()
	if err != nil || !bytes.Equal(back, content) {
		t.Fatalf("blob does not decode to the content: %v", err)
	}

	// Deterministic whatever the read sizes, and idempotent.
	for name, r := range map[string]io.Reader{
		"one byte at a time": iotest.OneByteReader(bytes.NewReader(content)),
		"half reads":         iotest.HalfReader(bytes.NewReader(content)),
		"again":              bytes.NewReader(content),
	} {
		_, _, b2, err := s.PutFile(r)
		if err != nil {
			t.Fatal(err)
		}
		if b2 != blob {
			t.Errorf("%s: blob %v, first put gave %v", name, b2, blob)
		}
	}
	// A second store gives the same blob (no dependence on the directory or time).
	s2, _ := NewBlobStore(t.TempDir())
	if _, _, b3, _ := s2.PutFile(bytes.NewReader(content)); b3 != blob {
		t.Errorf("second store: %v, want %v", b3, blob)
	}
	if got := listDir(t, filepath.Join(s.Dir, "sha256")); len(got) != 1 {
		t.Errorf("store holds %v, want the one blob and no temporary files", got)
	}
	// The empty file still gets a decodable frame.
	d0, n0, b0, err := s.PutFile(strings.NewReader(""))
	if err != nil || n0 != 0 || b0.Size == 0 || d0 != manifest.DigestOf("sha256", nil) {
		t.Errorf("empty file: %s %d %v %v", d0, n0, b0, err)
	}
}

func TestPutFileReadError(t *testing.T) {
	s, _ := NewBlobStore(t.TempDir())
	r := io.MultiReader(strings.NewReader("partial"), iotest.ErrReader(io.ErrClosedPipe))
	if _, _, _, err := s.PutFile(r); err == nil {
		t.Fatal("read error ignored")
	}
	if got := listDir(t, filepath.Join(s.Dir, "sha256")); len(got) != 0 {
		t.Errorf("left behind: %v", got)
	}
}

func TestPutRaw(t *testing.T) {
	s, _ := NewBlobStore(t.TempDir())
	data := []byte(`{"schemaVersion":2}`)
	want := manifest.DigestOf("sha256", data)
	b, err := s.PutRaw(want, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	if b != (manifest.Blob{Digest: want, Size: int64(len(data)), Encoding: manifest.EncodingNone}) {
		t.Errorf("blob %v", b)
	}
	rc, err := s.Open(want)
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if !bytes.Equal(got, data) {
		t.Error("stored bytes differ")
	}
	// sha512 digests are checked too; the blob is still named by sha256.
	h := sha512.Sum512(data)
	b5, err := s.PutRaw(manifest.Digest("sha512:"+hex.EncodeToString(h[:])), bytes.NewReader(data))
	if err != nil || b5.Digest != want {
		t.Errorf("sha512: %v, %v", b5, err)
	}
	// A mismatch stores nothing.
	other := manifest.DigestOf("sha256", []byte("other"))
	if _, err := s.PutRaw(other, bytes.NewReader(data)); err == nil || !isVerification(err) {
		t.Errorf("mismatch: %v", err)
	}
	if _, err := s.Open(other); err == nil {
		t.Error("mismatching blob stored")
	}
	if got := listDir(t, filepath.Join(s.Dir, "sha256")); len(got) != 1 {
		t.Errorf("store holds %v", got)
	}
	if _, err := s.PutRaw("sha256:nothex", bytes.NewReader(data)); err == nil {
		t.Error("malformed digest accepted")
	}
}

// zeroish yields n bytes of varied but cheap content without holding them.
type zeroish struct{ n, off int64 }

func (z *zeroish) Read(p []byte) (int, error) {
	if z.off >= z.n {
		return 0, io.EOF
	}
	p = p[:min(int64(len(p)), z.n-z.off)]
	for i := range p {
		x := uint64(z.off + int64(i))
		p[i] = byte(x*2654435761>>13) & byte(x>>16)
	}
	z.off += int64(len(p))
	return len(p), nil
}

// TestPutFileBoundedMemory streams 200 MB through PutFile while sampling
// the heap: it must stay far below the file's size.
func TestPutFileBoundedMemory(t *testing.T) {
	testenv.SkipShort(t, "streams 200 MB")
	const size = 200 << 20
	s, _ := NewBlobStore(t.TempDir())
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapAlloc
	var peak atomic.Uint64
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			if m.HeapAlloc > peak.Load() {
				peak.Store(m.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	d, n, blob, err := s.PutFile(&zeroish{n: size})
	close(stop)
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if n != size {
		t.Fatalf("stored %d bytes", n)
	}
	grew := int64(peak.Load()) - int64(base)
	t.Logf("200 MB file -> %d-byte blob; heap grew by at most %.1f MB", blob.Size, float64(grew)/(1<<20))
	if grew > 64<<20 {
		t.Errorf("heap grew by %d MB while storing a 200 MB file", grew>>20)
	}
	// The content digest is right (computed again here, streaming).
	h := manifest.NewHash("sha256")
	io.Copy(h, &zeroish{n: size})
	if manifest.FromHash("sha256", h) != d {
		t.Error("content digest differs")
	}
}

func TestOpenFileVerifiesBlobAndContent(t *testing.T) {
	s, err := NewBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	content := pseudoRandom(7, 200_000)
	d, size, blob, err := s.PutFile(bytes.NewReader(content))
	if err != nil {
		t.Fatal(err)
	}
	f := manifest.File{Path: "/usr/local/bin/x", Mode: 0o755, Digest: d, Size: size, Blob: blob.Digest}
	read := func(f manifest.File) ([]byte, error) {
		rc, err := s.OpenFile(f)
		if err != nil {
			return nil, err
		}
		defer rc.Close()
		return io.ReadAll(rc)
	}
	if got, err := read(f); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("round trip: %v", err)
	}
	for name, bad := range map[string]manifest.File{
		"content digest": func() manifest.File { g := f; g.Digest = manifest.DigestOf("sha256", []byte("other")); return g }(),
		"shorter size":   func() manifest.File { g := f; g.Size--; return g }(),
		"longer size":    func() manifest.File { g := f; g.Size++; return g }(),
	} {
		if _, err := read(bad); manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("%s: err %v, want a verification error", name, err)
		}
	}
	if _, err := read(manifest.File{Path: "/l", Type: manifest.TypeSymlink, Target: "x"}); err == nil {
		t.Error("a symlink opened as a file")
	}

	// A stored blob damaged after the put: caught even where zstd would not notice.
	stored, _ := os.ReadFile(s.Path(blob.Digest))
	skippable := []byte{0x50, 0x2a, 0x4d, 0x18, 4, 0, 0, 0, 'e', 'v', 'i', 'l'} // a zstd skippable frame
	for name, damaged := range map[string][]byte{
		"skippable frame appended": append(slices.Clone(stored), skippable...),
		"zeros appended":           append(slices.Clone(stored), 0, 0, 0, 0),
		"byte flipped":             func() []byte { b := slices.Clone(stored); b[len(b)/2] ^= 1; return b }(),
	} {
		os.WriteFile(s.Path(blob.Digest), damaged, 0o644)
		if _, err := read(f); manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("%s: err %v, want a verification error", name, err)
		}
	}
}

// TestBlobEncoderOutputIsFixed holds PutFile to the bytes of a fresh
// single-goroutine encoder with the documented options: pooling, Reset and
// the async stream mode must not change a blob (that would change blob
// digests, and bundles built before and after would differ).
func TestBlobEncoderOutputIsFixed(t *testing.T) {
	reference := func(content []byte) []byte {
		var buf bytes.Buffer
		enc, err := zstd.NewWriter(&buf, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault),
			zstd.WithWindowSize(8<<20), zstd.WithEncoderCRC(true), zstd.WithZeroFrames(true), zstd.WithLowerEncoderMem(false))
		if err != nil {
			t.Fatal(err)
		}
		enc.Write(content)
		enc.Close()
		return buf.Bytes()
	}
	inputs := map[string][]byte{
		"empty":        nil,
		"random 3 MB":  pseudoRandom(3, 3<<20),
		"zeros 20 MB":  make([]byte, 20<<20), // more than the window
		"short text":   []byte("#!/bin/sh\necho hello\n"),
		"mixed 600 KB": append(pseudoRandom(5, 300_000), make([]byte, 300_000)...),
	}
	goroot, _ := exec.Command("go", "env", "GOROOT").Output()
	toolDir := filepath.Join(strings.TrimSpace(string(goroot)), "pkg", "tool", runtime.GOOS+"_"+runtime.GOARCH)
	for _, name := range []string{"asm", "pack", "link"} {
		if b, err := os.ReadFile(filepath.Join(toolDir, name)); err == nil {
			inputs["go tool "+name] = b
		}
	}
	s, err := NewBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// Several at once, twice each, so pooled encoders are reused concurrently.
	type result struct {
		name string
		blob manifest.Digest
		err  error
	}
	results := make(chan result, 2*len(inputs))
	for round := range 2 {
		for name, content := range inputs {
			go func() {
				_, _, b, err := s.PutFile(bytes.NewReader(content))
				results <- result{fmt.Sprint(name, " #", round), b.Digest, err}
			}()
		}
	}
	want := map[string]manifest.Digest{}
	for name, content := range inputs {
		want[name] = manifest.DigestOf("sha256", reference(content))
	}
	for range 2 * len(inputs) {
		r := <-results
		name, _, _ := strings.Cut(r.name, " #")
		if r.err != nil || r.blob != want[name] {
			t.Errorf("%s: blob %s (%v), the reference encoder gives %s", r.name, r.blob, r.err, want[name])
		}
	}
}
