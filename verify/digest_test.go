package verify

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/satchel-dev/satchel/manifest"
)

// countingReader counts the bytes taken from an endless stream.
type countingReader struct{ n int64 }

func (c *countingReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
	}
	c.n += int64(len(p))
	return len(p), nil
}

func TestVerifyingReader(t *testing.T) {
	data := bytes.Repeat([]byte("satchel "), 4096) // 32 KiB, several reads
	for _, alg := range []string{manifest.SHA256, manifest.SHA512} {
		d := manifest.DigestOf(alg, data)
		t.Run(alg, func(t *testing.T) {
			wrappers := map[string]func(io.Reader) io.Reader{
				"plain":    func(r io.Reader) io.Reader { return r },
				"one byte": iotest.OneByteReader,
				"data+EOF": iotest.DataErrReader,
				"half":     iotest.HalfReader,
			}
			for name, wrap := range wrappers {
				got, err := io.ReadAll(NewVerifyingReader(wrap(bytes.NewReader(data)), d, int64(len(data))))
				if err != nil {
					t.Fatalf("%s: %v", name, err)
				}
				if !bytes.Equal(got, data) {
					t.Fatalf("%s: data changed in passing", name)
				}
			}
			// iotest.TestReader checks the io.Reader contract on the good path.
			if err := iotest.TestReader(NewVerifyingReader(bytes.NewReader(data), d, int64(len(data))), data); err != nil {
				t.Fatal(err)
			}
		})
	}
	// Empty content is valid content.
	if _, err := io.ReadAll(NewVerifyingReader(strings.NewReader(""), manifest.DigestOf("sha256", nil), 0)); err != nil {
		t.Fatalf("empty: %v", err)
	}
}

func TestVerifyingReaderMismatch(t *testing.T) {
	data := []byte("the real content")
	d := manifest.DigestOf("sha256", data)
	forged := []byte("the fake content") // same length
	r := NewVerifyingReader(bytes.NewReader(forged), d, int64(len(forged)))
	got, err := io.ReadAll(r)
	requireVerificationError(t, err)
	if !strings.Contains(err.Error(), "digest mismatch") || !strings.Contains(err.Error(), string(d)) {
		t.Errorf("error: %v", err)
	}
	if !bytes.Equal(got, forged) {
		t.Errorf("bytes before EOF: %q", got)
	}
	// Sticky: every later Read fails the same way.
	if n, err2 := r.Read(make([]byte, 8)); n != 0 || err2 == nil || err2.Error() != err.Error() {
		t.Errorf("later read: %d %v", n, err2)
	}
}

func TestVerifyingReaderOverrun(t *testing.T) {
	data := []byte("0123456789")
	d := manifest.DigestOf("sha256", data)
	// Right prefix, extra bytes after it.
	got, err := io.ReadAll(NewVerifyingReader(bytes.NewReader(append(bytes.Clone(data), "EXTRA"...)), d, int64(len(data))))
	requireVerificationError(t, err)
	if !strings.Contains(err.Error(), "more than the expected 10 bytes") {
		t.Errorf("error: %v", err)
	}
	if !bytes.Equal(got, data) {
		t.Errorf("passed on %q, want only the first %d bytes", got, len(data))
	}
	// An endless stream is cut off after size+1 bytes, not read to the end.
	src := &countingReader{}
	_, err = io.ReadAll(NewVerifyingReader(src, d, 10))
	requireVerificationError(t, err)
	if src.n > 11 {
		t.Errorf("read %d bytes from the source for a 10-byte blob", src.n)
	}
	// Short content.
	_, err = io.ReadAll(NewVerifyingReader(bytes.NewReader(data[:9]), d, 10))
	requireVerificationError(t, err)
	if !strings.Contains(err.Error(), "got 9 bytes, expected 10") {
		t.Errorf("error: %v", err)
	}
}

func TestVerifyingReaderEdges(t *testing.T) {
	data := []byte("abc")
	d := manifest.DigestOf("sha256", data)
	// Negative size: digest only.
	if _, err := io.ReadAll(NewVerifyingReader(bytes.NewReader(data), d, -1)); err != nil {
		t.Errorf("size -1, right digest: %v", err)
	}
	_, err := io.ReadAll(NewVerifyingReader(bytes.NewReader([]byte("abd")), d, -1))
	requireVerificationError(t, err)
	// A malformed digest fails on the first Read, without passing data on.
	got, err := io.ReadAll(NewVerifyingReader(bytes.NewReader(data), "md5:abc", 3))
	if err == nil || len(got) != 0 {
		t.Errorf("bad digest: %q %v", got, err)
	}
	// A read error of the source is passed on as it is (not a verification failure).
	boom := errors.New("disk on fire")
	_, err = io.ReadAll(NewVerifyingReader(iotest.ErrReader(boom), d, 3))
	if !errors.Is(err, boom) || manifest.ExitCode(err) == manifest.ExitVerification {
		t.Errorf("source error: %v", err)
	}
}

func TestDigestFile(t *testing.T) {
	data := bytes.Repeat([]byte{0, 1, 2, 3}, 50000)
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, alg := range []string{"", manifest.SHA256, manifest.SHA512} {
		want := alg
		if want == "" {
			want = manifest.SHA256
		}
		d, n, err := DigestFile(p, alg)
		if err != nil {
			t.Fatal(err)
		}
		if d != manifest.DigestOf(want, data) || n != int64(len(data)) {
			t.Errorf("%q: %s %d", alg, d, n)
		}
	}
	if _, _, err := DigestFile(p, "md5"); err == nil {
		t.Error("md5 accepted")
	}
	if _, _, err := DigestFile(p+".missing", ""); err == nil {
		t.Error("missing file hashed")
	}
}
