package manifest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"time"
)

// FormatVersion is the bundle format this package writes and reads.
const FormatVersion = 1

// Blob encodings.
const (
	EncodingZstd = "zstd" // a file from an upstream archive, zstd-compressed
	EncodingNone = "none" // an OCI image blob, stored as it is
)

// File types in a component.
const (
	TypeFile    = ""        // regular file (the default, omitted)
	TypeSymlink = "symlink" // Target holds the link text
)

// GlibcStatic marks an ELF binary that needs no C library.
const GlibcStatic = "static"

// Index is satchel.json, the signed table of contents of a bundle.
// Its exact bytes are what the signature covers; see Encode.
type Index struct {
	FormatVersion int          `json:"formatVersion"`
	Name          string       `json:"name"`
	Version       string       `json:"version"`
	Sequence      uint64       `json:"sequence"`
	Created       time.Time    `json:"created"`
	Profile       string       `json:"profile,omitempty"`
	Platforms     []string     `json:"platforms"`
	Requirements  Requirements `json:"requirements"`
	Components    []Component  `json:"components"`
	Images        []Image      `json:"images"`
	Notes         []Note       `json:"notes,omitempty"`
	// Attestations names the documents about the bundle that it carries:
	// its SBOM and its provenance. Absent in bundles built before them.
	Attestations *Attestations `json:"attestations,omitempty"`
	// Blobs lists every blob in the order they follow the signature in the tar.
	Blobs []Blob `json:"blobs"`
}

// Requirements are what a host and installer must offer.
type Requirements struct {
	// Installer is the lowest satchel-install version that understands this bundle.
	Installer string `json:"installer"`
	// MinKernel is the lowest kernel version (e.g. "4.19") the components support.
	MinKernel string `json:"minKernel,omitempty"`
}

// Component is one installed upstream component.
type Component struct {
	Name      string     `json:"name"`
	Version   string     `json:"version"`
	Variant   string     `json:"variant,omitempty"`
	Artifacts []Artifact `json:"artifacts"`
}

// Artifact is the upstream file a platform's files were unpacked from.
type Artifact struct {
	Platform string `json:"platform"`
	// Version is the upstream release this artifact is; it may differ from
	// the component's version (a platform that carries another release).
	// Empty in bundles made before artifacts had versions: then the
	// component's version applies (Component.ArtifactVersion).
	Version      string `json:"version,omitempty"`
	URL          string `json:"url"`
	Digest       Digest `json:"digest"`
	DigestSource string `json:"digestSource"`
	Files        []File `json:"files"`
}

// File is one file the installer writes.
type File struct {
	// Path is the absolute target path on the host, e.g. /usr/local/bin/runc;
	// the installer puts it under --root.
	Path string `json:"path"`
	Type string `json:"type,omitempty"`
	// Mode holds permission bits only (e.g. 0755), written in JSON as a number.
	Mode uint32 `json:"mode"`
	// Target is a symlink's text.
	Target string `json:"target,omitempty"`
	// Digest is the sha256 of the file's content; Size its length.
	Digest Digest `json:"digest,omitempty"`
	Size   int64  `json:"size,omitempty"`
	// Blob is the digest of the stored (compressed) bytes in blobs/.
	Blob Digest `json:"blob,omitempty"`
	// Glibc is the highest GLIBC_x.y symbol version the ELF file needs,
	// "static" for an ELF file with no interpreter, empty for non-ELF files.
	Glibc string `json:"glibc,omitempty"`
	// Source is the file's name inside the upstream archive.
	Source string `json:"source,omitempty"`
}

// Image is an OCI image carried as an image layout's blobs.
type Image struct {
	Ref string `json:"ref"`
	// Digest is the top-level manifest or index actually stored. When the
	// upstream index carried platforms the bundle does not, the stored index
	// is a filtered copy and UpstreamDigest is the digest the tag pointed to.
	Digest         Digest   `json:"digest"`
	UpstreamDigest Digest   `json:"upstreamDigest,omitempty"`
	MediaType      string   `json:"mediaType"`
	Platforms      []string `json:"platforms"`
	Role           string   `json:"role,omitempty"`
	// Blobs are every blob the image needs (index, manifests, configs, layers).
	Blobs []Digest `json:"blobs"`
}

// Media types of the attestations a bundle carries.
const (
	// MediaTypeSPDX is SPDX JSON (IANA application/spdx+json).
	MediaTypeSPDX = "application/spdx+json"
	// MediaTypeDSSE is a DSSE envelope in JSON, as Sigstore names it.
	MediaTypeDSSE = "application/vnd.dsse.envelope.v1+json"
	// PredicateSLSAProvenance is the SLSA Provenance v1 predicate type.
	PredicateSLSAProvenance = "https://slsa.dev/provenance/v1"
)

// Attestations are the documents a bundle carries about itself.
//
// The SBOM is a blob like any other: listed in Blobs, named here by digest,
// so the index's signature covers it. It describes the bundle's content
// index (ContentIndex), which cannot name the SBOM itself.
//
// The provenance is a DSSE envelope whose subject is the digest of
// satchel.json itself, so the index cannot name its digest; it declares
// that the envelope is there (the reader then insists on the entry), and
// the envelope's own signature and subject bind it to this index.
type Attestations struct {
	SBOM       *SBOMRef       `json:"sbom,omitempty"`
	Provenance *ProvenanceRef `json:"provenance,omitempty"`
}

// SBOMRef names the blob holding the bundle's SBOM.
type SBOMRef struct {
	MediaType string `json:"mediaType"`
	Digest    Digest `json:"digest"`
}

// ProvenanceRef declares the provenance entry of the bundle.
type ProvenanceRef struct {
	MediaType     string `json:"mediaType"`
	PredicateType string `json:"predicateType"`
}

// HasProvenance reports whether the index declares a provenance entry.
func (ix *Index) HasProvenance() bool {
	return ix.Attestations != nil && ix.Attestations.Provenance != nil
}

// SBOMDigest returns the digest of the SBOM blob the index names, if any.
func (ix *Index) SBOMDigest() (Digest, bool) {
	if ix.Attestations == nil || ix.Attestations.SBOM == nil {
		return "", false
	}
	return ix.Attestations.SBOM.Digest, true
}

// ContentIndex returns a copy of the index without its attestations (and
// without the SBOM's blob): what the SBOM describes, and what a bundle
// built without attestations would have. For such a bundle it equals the
// index.
func (ix *Index) ContentIndex() *Index {
	c := *ix
	if ix.Attestations == nil {
		return &c
	}
	sbomDigest, _ := ix.SBOMDigest()
	c.Attestations = nil
	c.Blobs = nil
	for _, b := range ix.Blobs {
		if b.Digest != sbomDigest {
			c.Blobs = append(c.Blobs, b)
		}
	}
	return &c
}

// Blob is one entry of blobs/sha256/ in the bundle.
type Blob struct {
	Digest   Digest `json:"digest"`
	Size     int64  `json:"size"`
	Encoding string `json:"encoding"`
}

// Note is compatibility knowledge carried to the installer (known-bad
// combinations, untested platforms).
type Note struct {
	ID        string `json:"id" yaml:"id"`
	Component string `json:"component,omitempty" yaml:"component,omitempty"`
	Platform  string `json:"platform,omitempty" yaml:"platform,omitempty"`
	Severity  string `json:"severity" yaml:"severity"` // "info", "warning", "error"
	Text      string `json:"text" yaml:"text"`
	// Kind is NoteSecurity or NoteEOL for notes about a pinned release
	// (empty for compatibility and other notes). Version is the release
	// the note was found to apply to.
	Kind    string `json:"kind,omitempty" yaml:"kind,omitempty"`
	Version string `json:"version,omitempty" yaml:"version,omitempty"`
	// CVEs and FixedIn: the vulnerabilities of a security note and the
	// releases that fix them.
	CVEs    []string `json:"cves,omitempty" yaml:"cves,omitempty"`
	FixedIn []string `json:"fixedIn,omitempty" yaml:"fixedIn,omitempty"`
	// Date is an end-of-life note's date (YYYY-MM-DD); Source the URL the
	// note's facts come from.
	Date   string `json:"date,omitempty" yaml:"date,omitempty"`
	Source string `json:"source,omitempty" yaml:"source,omitempty"`
}

// Note kinds.
const (
	NoteSecurity = "security" // a known vulnerability of the pinned release
	NoteEOL      = "eol"      // the pinned release line is no longer maintained
)

// VersionFor returns the release the component carries for a platform:
// its first artifact's there, else the component's version.
func (c *Component) VersionFor(platform string) string {
	if a, ok := c.Artifact(platform); ok {
		return c.ArtifactVersion(a)
	}
	return c.Version
}

// ArtifactVersion returns the upstream release of one of the component's
// artifacts: its own version, or the component's where the artifact names
// none (bundles made before artifacts had versions).
func (c *Component) ArtifactVersion(a *Artifact) string {
	if a.Version != "" {
		return a.Version
	}
	return c.Version
}

// Encode returns the canonical bytes of the index: encoding/json in struct
// field order, two-space indent, no HTML escaping, one trailing newline.
// A bundle's satchel.json must equal Encode of its own decoding.
func (ix *Index) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	c := *ix
	c.Created = c.Created.UTC().Truncate(time.Second)
	if err := enc.Encode(&c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// DecodeIndex parses satchel.json and insists that it is canonical, so that
// the signed bytes and the meaning read from them cannot differ.
func DecodeIndex(b []byte) (*Index, error) {
	var ix Index
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&ix); err != nil {
		return nil, fmt.Errorf("parsing satchel.json: %w", err)
	}
	if ix.FormatVersion != FormatVersion {
		return nil, HintError(fmt.Errorf("bundle format version %d, this installer reads %d", ix.FormatVersion, FormatVersion),
			"use a satchel-install release that matches the bundle's requirements.installer")
	}
	again, err := ix.Encode()
	if err != nil {
		return nil, err
	}
	if !bytes.Equal(again, b) {
		return nil, fmt.Errorf("satchel.json is not in canonical form")
	}
	return &ix, nil
}

// Blob returns the blob entry for a digest.
func (ix *Index) Blob(d Digest) (Blob, bool) {
	i := slices.IndexFunc(ix.Blobs, func(b Blob) bool { return b.Digest == d })
	if i < 0 {
		return Blob{}, false
	}
	return ix.Blobs[i], true
}

// Component returns the named component.
func (ix *Index) Component(name string) (*Component, bool) {
	for i := range ix.Components {
		if ix.Components[i].Name == name {
			return &ix.Components[i], true
		}
	}
	return nil, false
}

// ArtifactsFor returns every artifact of the component for a platform
// (gVisor ships runsc and its shim as two).
func (c *Component) ArtifactsFor(platform string) []Artifact {
	var out []Artifact
	for _, a := range c.Artifacts {
		if a.Platform == platform {
			out = append(out, a)
		}
	}
	return out
}

// Artifact returns the component's first artifact for a platform.
func (c *Component) Artifact(platform string) (*Artifact, bool) {
	for i := range c.Artifacts {
		if c.Artifacts[i].Platform == platform {
			return &c.Artifacts[i], true
		}
	}
	return nil, false
}
