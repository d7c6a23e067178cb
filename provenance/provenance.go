// Package provenance writes and checks the provenance of a bundle: an
// in-toto Statement v1 whose subject is the bundle's index (satchel.json)
// and whose predicate is SLSA Provenance v1, signed as a DSSE envelope.
//
// Formats, as specified upstream:
//   - in-toto Statement v1: `_type` "https://in-toto.io/Statement/v1",
//     `subject` (name + digest set), `predicateType`, `predicate`
//     (in-toto/attestation spec/v1/statement.md).
//   - SLSA Provenance v1 (predicateType "https://slsa.dev/provenance/v1"):
//     buildDefinition {buildType, externalParameters, internalParameters,
//     resolvedDependencies}, runDetails {builder {id, version}, metadata
//     {invocationId, startedOn, finishedOn}}; resource descriptors carry
//     uri, digest, name, annotations (slsa-framework/slsa
//     docs/spec/v1.1/schema/provenance.cue).
//   - DSSE: the signature is over PAE(payloadType, payload) =
//     "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body, lengths in ASCII
//     decimal; the envelope is {"payload": base64, "payloadType",
//     "signatures": [{"keyid", "sig": base64}]} (secure-systems-lab/dsse
//     protocol.md and envelope.md). The in-toto payload type is
//     "application/vnd.in-toto+json".
//
// The subject is the index because the index is what the bundle's
// signature covers and what names every other byte of the bundle (each
// blob by digest). The envelope therefore cannot be named by digest in the
// index it attests: the bundler stores it as the entry
// satchel.provenance.json right after satchel.json.sig, and the index
// declares that the entry is there (attestations.provenance), so a reader
// refuses a bundle that lost it or gained one. CheckBundle verifies it
// against the bundle.
//
// `tar -xf B.satchel satchel.json satchel.provenance.json`, then
// `cosign verify-blob-attestation --key KEY.pub --signature
// satchel.provenance.json --type slsaprovenance1 --insecure-ignore-tlog
// satchel.json` accepts the
// envelope: cosign checks the DSSE signature and that a subject's sha256
// is the blob's (cmd/cosign/cli/verify/verify_blob_attestation.go).
package provenance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"time"

	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/sbom"
)

// Identifiers of the formats.
const (
	StatementType = "https://in-toto.io/Statement/v1"
	PredicateType = "https://slsa.dev/provenance/v1"
	PayloadType   = "application/vnd.in-toto+json"
	// BuildType names how satchel builds a bundle: resolve the spec and
	// lock, fetch each pinned artifact and image, check its digest, pack.
	BuildType = "https://github.com/satchel-dev/satchel/buildtypes/bundle/v1"
	// DefaultBuilderID names satchel-bundle as the builder when the caller
	// does not name the platform it runs on (a CI system, say).
	DefaultBuilderID = "https://github.com/satchel-dev/satchel/satchel-bundle"
	// SubjectName is the subject's name: the bundle's index entry.
	SubjectName = "satchel.json"
)

// Statement is an in-toto Statement v1 with a SLSA Provenance v1 predicate.
type Statement struct {
	Type          string               `json:"_type"`
	Subject       []ResourceDescriptor `json:"subject"`
	PredicateType string               `json:"predicateType"`
	Predicate     Provenance           `json:"predicate"`
}

// ResourceDescriptor is in-toto's resource descriptor.
type ResourceDescriptor struct {
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Name        string            `json:"name,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Provenance is the SLSA Provenance v1 predicate.
type Provenance struct {
	BuildDefinition BuildDefinition `json:"buildDefinition"`
	RunDetails      RunDetails      `json:"runDetails"`
}

// BuildDefinition says what was built from what.
type BuildDefinition struct {
	BuildType            string               `json:"buildType"`
	ExternalParameters   ExternalParameters   `json:"externalParameters"`
	InternalParameters   map[string]string    `json:"internalParameters,omitempty"`
	ResolvedDependencies []ResourceDescriptor `json:"resolvedDependencies"`
}

// ExternalParameters are the inputs the bundle's author controls: the spec
// and the lock (by digest), the profile, the platforms, the name and version.
type ExternalParameters struct {
	Spec      *ResourceDescriptor `json:"spec,omitempty"`
	Lock      *ResourceDescriptor `json:"lock,omitempty"`
	Profile   string              `json:"profile,omitempty"`
	Name      string              `json:"name"`
	Version   string              `json:"version"`
	Sequence  uint64              `json:"sequence"`
	Platforms []string            `json:"platforms"`
}

// RunDetails says who built it and when.
type RunDetails struct {
	Builder  Builder  `json:"builder"`
	Metadata Metadata `json:"metadata"`
}

// Builder identifies the build platform.
type Builder struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Metadata of the run. Times are RFC 3339 UTC.
type Metadata struct {
	InvocationID string `json:"invocationId,omitempty"`
	StartedOn    string `json:"startedOn,omitempty"`
	FinishedOn   string `json:"finishedOn,omitempty"`
}

// Input is what the bundler knows when it writes the provenance.
type Input struct {
	// Index is the bundle's index; IndexJSON its exact bytes (Encode of
	// Index when nil). The subject is the sha256 of those bytes.
	Index     *manifest.Index
	IndexJSON []byte
	// Spec and Lock name the build's inputs: a file name (bundle.yaml,
	// bundle.lock) and the digest of its bytes. Empty when the build had
	// none (a built-in profile without a spec file).
	SpecName, LockName     string
	SpecDigest, LockDigest manifest.Digest
	// BuilderID overrides DefaultBuilderID.
	BuilderID    string
	InvocationID string
	// StartedOn and FinishedOn default to the index's created time
	// (SOURCE_DATE_EPOCH when it was set), which keeps a rebuild from the
	// same lock byte-identical; a caller may give the real times instead.
	StartedOn, FinishedOn time.Time
}

// NewStatement builds the provenance statement of a bundle.
func NewStatement(in Input) (*Statement, error) {
	ix := in.Index
	if ix == nil {
		return nil, fmt.Errorf("provenance: no index")
	}
	indexJSON := in.IndexJSON
	if indexJSON == nil {
		var err error
		if indexJSON, err = ix.Encode(); err != nil {
			return nil, err
		}
	}
	ext := ExternalParameters{Profile: ix.Profile, Name: ix.Name, Version: ix.Version, Sequence: ix.Sequence, Platforms: ix.Platforms}
	if in.SpecDigest != "" {
		ext.Spec = &ResourceDescriptor{Name: orDefault(in.SpecName, "bundle.yaml"), Digest: digestSet(in.SpecDigest)}
	}
	if in.LockDigest != "" {
		ext.Lock = &ResourceDescriptor{Name: orDefault(in.LockName, "bundle.lock"), Digest: digestSet(in.LockDigest)}
	}
	var deps []ResourceDescriptor
	for _, c := range ix.Components {
		for _, a := range c.Artifacts {
			deps = append(deps, ResourceDescriptor{
				URI: a.URL, Digest: digestSet(a.Digest), Name: path.Base(a.URL),
				Annotations: map[string]string{"component": c.Name, "version": c.Version, "platform": a.Platform, "digestSource": a.DigestSource},
			})
		}
	}
	for _, im := range ix.Images {
		ann := map[string]string{"ref": im.Ref, "platforms": joinComma(im.Platforms)}
		if im.UpstreamDigest != "" {
			ann["upstreamDigest"] = string(im.UpstreamDigest)
		}
		if im.Role != "" {
			ann["role"] = im.Role
		}
		deps = append(deps, ResourceDescriptor{URI: sbom.ImagePURL(im.Ref, im.Digest), Digest: digestSet(im.Digest), Name: im.Ref, Annotations: ann})
	}
	sort.SliceStable(deps, func(i, j int) bool {
		if deps[i].URI != deps[j].URI {
			return deps[i].URI < deps[j].URI
		}
		return deps[i].Annotations["platform"] < deps[j].Annotations["platform"]
	})
	started, finished := in.StartedOn, in.FinishedOn
	if started.IsZero() {
		started = ix.Created
	}
	if finished.IsZero() {
		finished = ix.Created
	}
	return &Statement{
		Type:          StatementType,
		Subject:       []ResourceDescriptor{{Name: SubjectName, Digest: digestSet(manifest.DigestOf(manifest.SHA256, indexJSON))}},
		PredicateType: PredicateType,
		Predicate: Provenance{
			BuildDefinition: BuildDefinition{
				BuildType:            BuildType,
				ExternalParameters:   ext,
				InternalParameters:   map[string]string{"formatVersion": fmt.Sprint(ix.FormatVersion), "installer": ix.Requirements.Installer},
				ResolvedDependencies: deps,
			},
			RunDetails: RunDetails{
				Builder:  Builder{ID: orDefault(in.BuilderID, DefaultBuilderID), Version: map[string]string{"satchel": version.Version}},
				Metadata: Metadata{InvocationID: in.InvocationID, StartedOn: rfc3339(started), FinishedOn: rfc3339(finished)},
			},
		},
	}, nil
}

// Encode returns the statement's JSON: compact, no HTML escaping, fields
// in struct order, so the same input gives the same bytes.
func (s *Statement) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(s); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// SubjectDigest returns the sha256 the statement names for satchel.json.
func (s *Statement) SubjectDigest() (manifest.Digest, bool) {
	for _, sub := range s.Subject {
		if sub.Name == SubjectName && sub.Digest["sha256"] != "" {
			return manifest.Digest("sha256:" + sub.Digest["sha256"]), true
		}
	}
	return "", false
}

func digestSet(d manifest.Digest) map[string]string {
	return map[string]string{d.Algorithm(): d.Hex()}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func joinComma(s []string) string {
	var b bytes.Buffer
	for i, x := range s {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(x)
	}
	return b.String()
}
