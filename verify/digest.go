package verify

import (
	"errors"
	"fmt"
	"hash"
	"io"
	"os"

	"github.com/satchel-dev/satchel/manifest"
)

// NewVerifyingReader returns a reader that passes r through while hashing
// it. It fails as soon as more than size bytes arrive (reading at most one
// byte past size from r), and at EOF it fails unless exactly size bytes with
// digest want came; failures are manifest.VerificationError with a hint and
// repeat on every later Read. A negative size checks the digest only.
//
// Data returned before EOF is unverified: callers must write it somewhere
// temporary and act on it only after Read returned io.EOF.
func NewVerifyingReader(r io.Reader, want manifest.Digest, size int64) io.Reader {
	vr := &verifyingReader{r: r, want: want, size: size}
	if _, err := manifest.ParseDigest(string(want)); err != nil {
		vr.err = fmt.Errorf("checking content: %w", err)
		return vr
	}
	vr.h = want.NewHash()
	return vr
}

type verifyingReader struct {
	r    io.Reader
	h    hash.Hash
	want manifest.Digest
	size int64
	n    int64
	err  error // sticky: a failure or io.EOF once verified
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	if v.size >= 0 {
		// Ask for at most one byte more than is left, so an overrun is seen
		// without reading the rest of an oversized stream.
		if left := v.size - v.n + 1; int64(len(p)) > left {
			p = p[:left]
		}
	}
	n, err := v.r.Read(p)
	v.n += int64(n)
	if v.size >= 0 && v.n > v.size {
		v.err = verificationError(fmt.Errorf("content %s: more than the expected %d bytes", v.want, v.size),
			"the data is damaged or was altered; get a fresh copy")
		// The bytes past size are withheld; the ones before were passed on.
		good := n - int(v.n-v.size)
		v.h.Write(p[:good])
		return good, v.err
	}
	v.h.Write(p[:n])
	if err == io.EOF {
		v.err = v.finish()
		return n, v.err
	}
	if err != nil {
		v.err = err
	}
	return n, err
}

func (v *verifyingReader) finish() error {
	if v.size >= 0 && v.n != v.size {
		return verificationError(fmt.Errorf("content %s: got %d bytes, expected %d", v.want, v.n, v.size),
			"the data is truncated; get a fresh copy")
	}
	got := manifest.FromHash(v.want.Algorithm(), v.h)
	if got != v.want {
		return verificationError(fmt.Errorf("content digest mismatch: got %s, expected %s", got, v.want),
			"the data is damaged or was altered; get a fresh copy")
	}
	return io.EOF
}

// DigestFile returns the digest (alg "sha256" or "sha512"; "" means sha256)
// and size of the file at path.
func DigestFile(path string, alg string) (manifest.Digest, int64, error) {
	if alg == "" {
		alg = manifest.SHA256
	}
	if alg != manifest.SHA256 && alg != manifest.SHA512 {
		return "", 0, errors.New("digest algorithm " + alg + " is not supported (use sha256 or sha512)")
	}
	f, err := os.Open(path)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	defer f.Close()
	h := manifest.NewHash(alg)
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, fmt.Errorf("hashing %s: %w", path, err)
	}
	return manifest.FromHash(alg, h), n, nil
}
