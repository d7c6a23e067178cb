package sbom

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// The SPDX 2.3 JSON fields used here are those of the official schema,
// spdx/spdx-spec schemas/spdx-schema.json at tag v2.3 (a copy is in
// testdata/, with its source), which the tests validate against.

// SPDXVersion and DataLicense are fixed by the SPDX 2.3 specification
// (clause 6.1: "SPDX-2.3"; clause 6.2: "CC0-1.0").
const (
	SPDXVersion = "SPDX-2.3"
	DataLicense = "CC0-1.0"
	DocumentID  = "SPDXRef-DOCUMENT"
	// NoAssertion is SPDX's NOASSERTION: the creator makes no claim.
	NoAssertion = "NOASSERTION"
)

// Relationship types used (SPDX 2.3 clause 11.1).
const (
	RelDescribes     = "DESCRIBES"
	RelContains      = "CONTAINS"
	RelDependsOn     = "DEPENDS_ON"
	RelGeneratedFrom = "GENERATED_FROM"
)

// Primary package purposes used (clause 7.24).
const (
	PurposeArchive     = "ARCHIVE"
	PurposeApplication = "APPLICATION"
	PurposeLibrary     = "LIBRARY"
	PurposeContainer   = "CONTAINER"
	PurposeInstall     = "INSTALL"
	PurposeOS          = "OPERATING_SYSTEM"
)

// Document is an SPDX 2.3 document.
type Document struct {
	SPDXVersion       string         `json:"spdxVersion"`
	DataLicense       string         `json:"dataLicense"`
	SPDXID            string         `json:"SPDXID"`
	Name              string         `json:"name"`
	DocumentNamespace string         `json:"documentNamespace"`
	CreationInfo      CreationInfo   `json:"creationInfo"`
	Comment           string         `json:"comment,omitempty"`
	Packages          []Package      `json:"packages"`
	Files             []File         `json:"files,omitempty"`
	Relationships     []Relationship `json:"relationships"`
}

// CreationInfo says who made the document and when (clause 6.8, 6.9).
type CreationInfo struct {
	Created  string   `json:"created"`
	Creators []string `json:"creators"`
	Comment  string   `json:"comment,omitempty"`
}

// Package is an SPDX package (clause 7).
type Package struct {
	SPDXID           string `json:"SPDXID"`
	Name             string `json:"name"`
	VersionInfo      string `json:"versionInfo,omitempty"`
	PackageFileName  string `json:"packageFileName,omitempty"`
	Supplier         string `json:"supplier,omitempty"`
	DownloadLocation string `json:"downloadLocation"`
	// FilesAnalyzed is false for packages that stand for metadata (modules,
	// OS packages): "If false, the package shall not contain any files"
	// (clause 7.8). Packages that CONTAIN files leave it true.
	FilesAnalyzed         bool          `json:"filesAnalyzed"`
	Checksums             []Checksum    `json:"checksums,omitempty"`
	Homepage              string        `json:"homepage,omitempty"`
	SourceInfo            string        `json:"sourceInfo,omitempty"`
	LicenseConcluded      string        `json:"licenseConcluded,omitempty"`
	LicenseDeclared       string        `json:"licenseDeclared,omitempty"`
	LicenseComments       string        `json:"licenseComments,omitempty"`
	CopyrightText         string        `json:"copyrightText,omitempty"`
	Summary               string        `json:"summary,omitempty"`
	Comment               string        `json:"comment,omitempty"`
	ExternalRefs          []ExternalRef `json:"externalRefs,omitempty"`
	PrimaryPackagePurpose string        `json:"primaryPackagePurpose,omitempty"`
}

// File is an SPDX file (clause 8).
type File struct {
	SPDXID           string     `json:"SPDXID"`
	FileName         string     `json:"fileName"`
	FileTypes        []string   `json:"fileTypes,omitempty"`
	Checksums        []Checksum `json:"checksums"`
	LicenseConcluded string     `json:"licenseConcluded,omitempty"`
	CopyrightText    string     `json:"copyrightText,omitempty"`
	Comment          string     `json:"comment,omitempty"`
}

// Checksum is an algorithm ("SHA256", "SHA512") and lower-case hex value.
type Checksum struct {
	Algorithm     string `json:"algorithm"`
	ChecksumValue string `json:"checksumValue"`
}

// ExternalRef points outside the document; satchel writes purls
// (category PACKAGE-MANAGER, type "purl": SPDX 2.3 Annex F.3.5).
type ExternalRef struct {
	ReferenceCategory string `json:"referenceCategory"`
	ReferenceType     string `json:"referenceType"`
	ReferenceLocator  string `json:"referenceLocator"`
	Comment           string `json:"comment,omitempty"`
}

// Relationship links two elements (clause 11).
type Relationship struct {
	SPDXElementID      string `json:"spdxElementId"`
	RelationshipType   string `json:"relationshipType"`
	RelatedSPDXElement string `json:"relatedSpdxElement"`
	Comment            string `json:"comment,omitempty"`
}

// Encode returns the document as indented JSON with a trailing newline.
func (d *Document) Encode() ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(d); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// Decode parses an SPDX 2.3 JSON document (one written by Encode, or by
// another tool: unknown fields are ignored).
func Decode(b []byte) (*Document, error) {
	var d Document
	if err := json.Unmarshal(b, &d); err != nil {
		return nil, fmt.Errorf("parsing SPDX document: %w", err)
	}
	if d.SPDXVersion != SPDXVersion {
		return nil, fmt.Errorf("parsing SPDX document: spdxVersion %q, this reads %q", d.SPDXVersion, SPDXVersion)
	}
	return &d, nil
}

// Package returns the package with the given SPDXID.
func (d *Document) Package(id string) (*Package, bool) {
	for i := range d.Packages {
		if d.Packages[i].SPDXID == id {
			return &d.Packages[i], true
		}
	}
	return nil, false
}

// PURL returns the package's purl ("" when it has none).
func (p *Package) PURL() string {
	for _, r := range p.ExternalRefs {
		if r.ReferenceCategory == "PACKAGE-MANAGER" && r.ReferenceType == "purl" {
			return r.ReferenceLocator
		}
	}
	return ""
}
