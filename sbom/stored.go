package sbom

import (
	"fmt"
	"io"

	"github.com/satchel-dev/satchel/manifest"
)

// BlobReader gives a blob's bytes, verified against its digest, as
// *pack.Bundle's OpenBlob does.
type BlobReader interface {
	OpenBlob(d manifest.Digest) (io.Reader, error)
}

// Stored returns the exact bytes of the SBOM a bundle carries (the blob its
// index names in attestations.sbom, checked against that digest as it is
// read) and false when the bundle carries none (built before bundles
// carried their SBOM): then call Generate.
func Stored(ix *manifest.Index, b BlobReader) ([]byte, bool, error) {
	d, ok := ix.SBOMDigest()
	if !ok {
		return nil, false, nil
	}
	r, err := b.OpenBlob(d)
	if err != nil {
		return nil, false, fmt.Errorf("reading the bundle's SBOM: %w", err)
	}
	raw, err := io.ReadAll(io.LimitReader(r, manifest.MaxAttestationSize+1))
	if err != nil {
		return nil, false, fmt.Errorf("reading the bundle's SBOM: %w", err)
	}
	if len(raw) > manifest.MaxAttestationSize {
		return nil, false, manifest.VerificationError(fmt.Errorf("the bundle's SBOM is more than %d bytes", manifest.MaxAttestationSize))
	}
	return raw, true, nil
}

// ForBundle returns the SBOM of a bundle as bytes: the stored one when it
// carries one, else one generated from its index and contents (which is
// the same document the bundler would have stored).
func ForBundle(ix *manifest.Index, c Contents) ([]byte, error) {
	raw, ok, err := Stored(ix, c)
	if err != nil || ok {
		return raw, err
	}
	doc, err := Generate(ix, c, Options{})
	if err != nil {
		return nil, err
	}
	return doc.Encode()
}
