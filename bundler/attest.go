package bundler

import (
	"bytes"
	"fmt"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/provenance"
	"github.com/satchel-dev/satchel/sbom"
)

// Input names one input file of a build in the provenance: its file name
// and the sha256 of its bytes.
type Input struct {
	Name   string
	Digest manifest.Digest
}

// AttachSBOM generates the SPDX document of the content index ix (its
// components' files and images are in store), stores it as a blob and
// names it in ix, which then also declares the provenance entry
// (SignProvenance makes it once the index is final). Both depend only on
// the bundle's content, so a rebuild gives the same bytes.
func AttachSBOM(ix *manifest.Index, store *pack.BlobStore) error {
	doc, err := sbom.Generate(ix, sbom.StoreContents(ix, store), sbom.Options{})
	if err != nil {
		return err
	}
	b, err := doc.Encode()
	if err != nil {
		return err
	}
	if len(b) > manifest.MaxAttestationSize {
		return fmt.Errorf("the SBOM is %d bytes, more than a bundle may carry (%d)", len(b), manifest.MaxAttestationSize)
	}
	d := manifest.DigestOf(manifest.SHA256, b)
	blob, err := store.PutRaw(d, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("storing the SBOM: %w", err)
	}
	if _, dup := ix.Blob(d); !dup {
		ix.Blobs = append(ix.Blobs, blob)
		slices.SortFunc(ix.Blobs, func(a, b manifest.Blob) int { return strings.Compare(string(a.Digest), string(b.Digest)) })
	}
	ix.Attestations = &manifest.Attestations{
		SBOM:       &manifest.SBOMRef{MediaType: manifest.MediaTypeSPDX, Digest: d},
		Provenance: &manifest.ProvenanceRef{MediaType: manifest.MediaTypeDSSE, PredicateType: manifest.PredicateSLSAProvenance},
	}
	return nil
}

// SignProvenance returns the DSSE envelope of the bundle's provenance,
// signed by s: subject the final satchel.json (indexJSON), parameters the
// spec and lock, every upstream artifact and image as a resolved
// dependency, times the index's created time (SOURCE_DATE_EPOCH when set).
func SignProvenance(ix *manifest.Index, indexJSON []byte, s provenance.Signer, spec, lock Input) ([]byte, error) {
	in := provenance.Input{Index: ix, IndexJSON: indexJSON,
		SpecName: spec.Name, SpecDigest: spec.Digest,
		LockName: lock.Name, LockDigest: lock.Digest}
	st, err := provenance.NewStatement(in)
	if err != nil {
		return nil, err
	}
	env, err := provenance.Sign(st, s)
	if err != nil {
		return nil, err
	}
	return env.Encode()
}
