package manifest

import (
	"crypto/sha256"
	"crypto/sha512"
	"encoding/hex"
	"fmt"
	"hash"
	"strings"
)

// Digest is a content digest written "algorithm:hex", as OCI and the
// upstream checksum files use. Only sha256 and sha512 are accepted: they are
// what upstream projects publish.
type Digest string

// Algorithms accepted in a Digest.
const (
	SHA256 = "sha256"
	SHA512 = "sha512"
)

// ParseDigest checks that s is "sha256:<64 hex>" or "sha512:<128 hex>" in
// lower case and returns it as a Digest.
func ParseDigest(s string) (Digest, error) {
	alg, hx, ok := strings.Cut(s, ":")
	if !ok {
		return "", HintError(fmt.Errorf("digest %q has no algorithm prefix", s),
			`write it as "sha256:<64 hex digits>" or "sha512:<128 hex digits>"`)
	}
	var n int
	switch alg {
	case SHA256:
		n = 64
	case SHA512:
		n = 128
	default:
		return "", HintError(fmt.Errorf("digest %q: unsupported algorithm %q", s, alg),
			"use sha256 or sha512, the algorithms upstream checksum files publish")
	}
	if len(hx) != n {
		return "", HintError(fmt.Errorf("digest %q: %s needs %d hex digits, got %d", s, alg, n, len(hx)),
			"copy the digest again from its source; it looks truncated")
	}
	for _, c := range hx {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return "", HintError(fmt.Errorf("digest %q: %q is not a lower-case hex digit", s, c),
				"digests are lower-case hexadecimal")
		}
	}
	return Digest(s), nil
}

// Algorithm returns "sha256" or "sha512".
func (d Digest) Algorithm() string { a, _, _ := strings.Cut(string(d), ":"); return a }

// Hex returns the hexadecimal part.
func (d Digest) Hex() string { _, h, _ := strings.Cut(string(d), ":"); return h }

// String returns the digest as written.
func (d Digest) String() string { return string(d) }

// NewHash returns a fresh hash for the digest's algorithm.
func (d Digest) NewHash() hash.Hash { return NewHash(d.Algorithm()) }

// NewHash returns a fresh hash for a digest algorithm name (sha256 when unknown).
func NewHash(alg string) hash.Hash {
	if alg == SHA512 {
		return sha512.New()
	}
	return sha256.New()
}

// DigestOf returns the digest of b with the given algorithm.
func DigestOf(alg string, b []byte) Digest {
	h := NewHash(alg)
	h.Write(b)
	return FromHash(alg, h)
}

// FromHash formats a finished hash as a Digest.
func FromHash(alg string, h hash.Hash) Digest {
	return Digest(alg + ":" + hex.EncodeToString(h.Sum(nil)))
}
