package sbom

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"path"
	"sort"
	"strings"

	"github.com/klauspost/compress/zstd"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/internal/version"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// Contents reads, verified, what an index names: the content of a file and
// the bytes of a blob. *pack.Bundle is a Contents once its layout is checked
// (so `satchel-bundle inspect --sbom` works on a built bundle); the bundler,
// before the bundle exists, uses StoreContents over its blob store.
type Contents interface {
	OpenFile(f manifest.File) (io.ReadCloser, error)
	OpenBlob(d manifest.Digest) (io.Reader, error)
}

// Options adjust Generate.
type Options struct {
	// Tool names the creator ("Tool: <Tool>"); default "satchel-<version>".
	Tool string
	// Namespace overrides the document namespace. By default it is derived
	// from the digest of the index's canonical bytes, so the same index
	// always gives the same document.
	Namespace string
	// SkipOSPackages leaves out the OS packages of images (their layers are
	// then not read at all; the layers and config are still listed).
	SkipOSPackages bool
}

// NamespacePrefix starts every document namespace satchel writes. SPDX
// asks for a unique absolute URI without '#' (SPDX 2.3 clause 6.5); it
// need not resolve.
const NamespacePrefix = "https://github.com/satchel-dev/satchel/spdx/"

// BundleID is the SPDXID of the package that stands for the bundle.
const BundleID = "SPDXRef-Bundle"

// Generate builds the SPDX document of the bundle whose index is ix,
// reading Go programs and image package databases through c.
func Generate(ix *manifest.Index, c Contents, o Options) (*Document, error) {
	// The content index: a bundle that carries its SBOM cannot name the
	// SBOM's own digest inside it, so the document names the index without
	// its attestations. The SBOM regenerated from a built bundle equals the
	// stored one.
	indexJSON, err := ix.ContentIndex().Encode()
	if err != nil {
		return nil, err
	}
	indexDigest := manifest.DigestOf(manifest.SHA256, indexJSON)
	g := &generator{
		c: c, o: o,
		pkgs:  map[string]Package{},
		files: map[string]File{},
		rels:  map[Relationship]bool{},
		gobin: map[manifest.Digest]*GoBinary{},
	}
	tool := o.Tool
	if tool == "" {
		tool = "satchel-" + version.Version
	}
	ns := o.Namespace
	if ns == "" {
		ns = NamespacePrefix + sanitize(ix.Name) + "-" + sanitize(ix.Version) + "-" + indexDigest.Hex()
	}
	doc := &Document{
		SPDXVersion:       SPDXVersion,
		DataLicense:       DataLicense,
		SPDXID:            DocumentID,
		Name:              ix.Name + "-" + ix.Version,
		DocumentNamespace: ns,
		CreationInfo: CreationInfo{
			Created:  ix.Created.UTC().Format("2006-01-02T15:04:05Z"),
			Creators: []string{"Tool: " + tool},
			Comment:  "Generated offline from the bundle's content index (satchel.json without its attestations: " + string(indexDigest) + ") and contents.",
		},
	}
	g.pkg(Package{
		SPDXID: BundleID, Name: ix.Name, VersionInfo: ix.Version, DownloadLocation: NoAssertion,
		PrimaryPackagePurpose: PurposeArchive,
		Comment: fmt.Sprintf("satchel bundle, sequence %d, platforms %s; content index %s",
			ix.Sequence, strings.Join(ix.Platforms, ", "), indexDigest),
	})
	g.rel(DocumentID, RelDescribes, BundleID)
	for _, comp := range ix.Components {
		for _, a := range comp.Artifacts {
			if err := g.artifact(comp, a); err != nil {
				return nil, fmt.Errorf("SBOM: %s %s (%s): %w", comp.Name, comp.Version, a.Platform, err)
			}
		}
	}
	for _, im := range ix.Images {
		if err := g.image(im); err != nil {
			return nil, fmt.Errorf("SBOM: image %s: %w", im.Ref, err)
		}
	}
	for _, p := range g.pkgs {
		doc.Packages = append(doc.Packages, p)
	}
	sort.Slice(doc.Packages, func(i, j int) bool { return doc.Packages[i].SPDXID < doc.Packages[j].SPDXID })
	for _, f := range g.files {
		doc.Files = append(doc.Files, f)
	}
	sort.Slice(doc.Files, func(i, j int) bool { return doc.Files[i].SPDXID < doc.Files[j].SPDXID })
	for r := range g.rels {
		doc.Relationships = append(doc.Relationships, r)
	}
	sort.Slice(doc.Relationships, func(i, j int) bool {
		a, b := doc.Relationships[i], doc.Relationships[j]
		if a.SPDXElementID != b.SPDXElementID {
			return a.SPDXElementID < b.SPDXElementID
		}
		if a.RelationshipType != b.RelationshipType {
			return a.RelationshipType < b.RelationshipType
		}
		return a.RelatedSPDXElement < b.RelatedSPDXElement
	})
	return doc, nil
}

type generator struct {
	c     Contents
	o     Options
	pkgs  map[string]Package
	files map[string]File
	rels  map[Relationship]bool
	gobin map[manifest.Digest]*GoBinary // by content digest; nil: not Go
}

func (g *generator) pkg(p Package) { g.pkgs[p.SPDXID] = p }

func (g *generator) rel(from, typ, to string) {
	g.rels[Relationship{SPDXElementID: from, RelationshipType: typ, RelatedSPDXElement: to}] = true
}

// spdxID builds an identifier "SPDXRef-<kind>-<readable>-<hash>": readable
// reduced to the letters, digits, '.' and '-' SPDX allows (SPDX 2.3 clause
// 7.2), the hash of identity keeping it unique after that reduction.
func spdxID(kind, readable, identity string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + identity))
	r := sanitize(readable)
	if len(r) > 80 {
		r = r[:80]
	}
	return "SPDXRef-" + kind + "-" + r + "-" + hex.EncodeToString(sum[:6])
}

func sanitize(s string) string {
	var b strings.Builder
	dash := false
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.'
		if ok {
			b.WriteRune(c)
			dash = false
		} else if !dash {
			b.WriteByte('-')
			dash = true
		}
	}
	return strings.Trim(b.String(), "-")
}

func checksum(d manifest.Digest) []Checksum {
	alg := map[string]string{manifest.SHA256: "SHA256", manifest.SHA512: "SHA512"}[d.Algorithm()]
	if alg == "" {
		return nil
	}
	return []Checksum{{Algorithm: alg, ChecksumValue: d.Hex()}}
}

func (g *generator) artifact(comp manifest.Component, a manifest.Artifact) error {
	base := path.Base(a.URL)
	// The release this platform's artifact is (kata-static 3.2.0 on arm64
	// beside 3.1.3 on amd64), not the component's headline version.
	version := comp.ArtifactVersion(&a)
	id := spdxID("Artifact", comp.Name+"-"+version+"-"+a.Platform+"-"+base, a.Platform+"|"+a.URL)
	p := Package{
		SPDXID: id, Name: comp.Name, VersionInfo: version, PackageFileName: base,
		DownloadLocation: a.URL, FilesAnalyzed: true, Checksums: checksum(a.Digest),
		LicenseConcluded: NoAssertion, LicenseDeclared: NoAssertion, CopyrightText: NoAssertion,
		PrimaryPackagePurpose: PurposeArchive,
	}
	if kind, err := pack.ArchiveKind(a.URL); err == nil && kind == pack.KindBinary {
		p.PrimaryPackagePurpose = PurposeApplication
	}
	comment := "platform " + a.Platform + "; digest from " + a.DigestSource
	if comp.Variant != "" {
		comment = "variant " + comp.Variant + "; " + comment
	}
	p.Comment = comment
	if u, ok := LookupUpstream(comp.Name); ok {
		p.LicenseDeclared, p.LicenseComments, p.Homepage = u.License, u.LicenseComment, u.Homepage
	}
	if mod, mv, ok := ComponentModule(comp.Name, version); ok {
		ref := purlRef(golangPURL(mod, mv))
		ref.Comment = "the Go module this release is tagged as"
		p.ExternalRefs = []ExternalRef{ref}
	}
	g.pkg(p)
	g.rel(BundleID, RelContains, id)
	for _, f := range a.Files {
		if f.Type != manifest.TypeFile {
			continue
		}
		fid := spdxID("File", comp.Name+"-"+a.Platform+"-"+f.Path, a.Platform+"|"+a.URL+"|"+f.Path)
		file := File{SPDXID: fid, FileName: "." + f.Path, Checksums: checksum(f.Digest), FileTypes: []string{"OTHER"},
			Comment: fmt.Sprintf("mode %04o, %d bytes, from %s", f.Mode, f.Size, f.Source)}
		if f.Glibc != "" {
			file.FileTypes = []string{"BINARY"}
			if f.Glibc == manifest.GlibcStatic {
				file.Comment += "; static ELF"
			} else {
				file.Comment += "; ELF, needs glibc " + f.Glibc
			}
		}
		g.files[fid] = file
		g.rel(id, RelContains, fid)
		if f.Glibc == "" {
			continue // only ELF files can be Go programs
		}
		gb, err := g.goBinary(f)
		if err != nil {
			return err
		}
		if gb != nil {
			g.goModules(fid, gb)
		}
	}
	return nil
}

// goBinary reads a file's Go build information (nil when it is not a Go
// program), once per content digest.
func (g *generator) goBinary(f manifest.File) (*GoBinary, error) {
	if gb, ok := g.gobin[f.Digest]; ok {
		return gb, nil
	}
	r, err := g.c.OpenFile(f)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	// The content is verified (digest, size) as it is read; debug/buildinfo
	// needs random access, so the file is held in memory, one at a time.
	b, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Path, err)
	}
	gb, ok := ReadGoBinary(bytes.NewReader(b))
	if !ok {
		gb = nil
	}
	g.gobin[f.Digest] = gb
	return gb, nil
}

func (g *generator) goModules(fileID string, gb *GoBinary) {
	if gb.GoVersion != "" {
		id := spdxID("GoStdlib", gb.GoVersion, "stdlib|"+gb.GoVersion)
		g.pkg(Package{
			SPDXID: id, Name: "stdlib", VersionInfo: gb.GoVersion, DownloadLocation: NoAssertion,
			Homepage: "https://go.dev", PrimaryPackagePurpose: PurposeLibrary,
			// golang/go LICENSE: the 3-clause BSD license.
			LicenseDeclared: "BSD-3-Clause",
			Comment:         "the Go standard library and runtime of the toolchain that built the program",
			ExternalRefs:    []ExternalRef{purlRef(golangPURL("stdlib", gb.GoVersion))},
		})
		g.rel(fileID, RelDependsOn, id)
	}
	if gb.Main.Path != "" {
		id := g.module(gb.Main, "main module")
		g.rel(fileID, RelGeneratedFrom, id)
	}
	for _, d := range gb.Deps {
		g.rel(fileID, RelDependsOn, g.module(d, ""))
	}
}

func (g *generator) module(m GoModuleInfo, what string) string {
	v, sum := m.Effective()
	identity := "gomod|" + m.Path + "|" + m.Version + "|" + m.Sum
	if m.ReplacedBy != nil {
		identity += "|=>" + m.ReplacedBy.Path + "|" + m.ReplacedBy.Version + "|" + m.ReplacedBy.Sum
	}
	id := spdxID("GoModule", m.Path+"-"+v, identity)
	var notes []string
	if what != "" {
		notes = append(notes, what)
	}
	if sum != "" {
		notes = append(notes, "go.sum "+sum)
	}
	if r := m.ReplacedBy; r != nil {
		rv := r.Version
		if rv == "" {
			rv = "(local directory)"
		}
		notes = append(notes, fmt.Sprintf("replaced by %s %s (required %s)", r.Path, rv, m.Version))
	}
	p := Package{
		SPDXID: id, Name: m.Path, VersionInfo: v, DownloadLocation: NoAssertion,
		PrimaryPackagePurpose: PurposeLibrary, Comment: strings.Join(notes, "; "),
	}
	if v != "" && v != "(devel)" {
		p.ExternalRefs = []ExternalRef{purlRef(golangPURL(m.Path, v))}
	}
	g.pkg(p)
	return id
}

// Manifest media types: OCI image-spec and Docker's distribution schema 2,
// which share the JSON shape.
var (
	indexTypes    = []string{ocispec.MediaTypeImageIndex, "application/vnd.docker.distribution.manifest.list.v2+json"}
	manifestTypes = []string{ocispec.MediaTypeImageManifest, "application/vnd.docker.distribution.manifest.v2+json"}
)

func (g *generator) image(im manifest.Image) error {
	id := spdxID("Image", im.Ref, "image|"+im.Ref+"|"+string(im.Digest))
	name, tag := splitRef(im.Ref)
	p := Package{
		SPDXID: id, Name: im.Ref, VersionInfo: string(im.Digest), DownloadLocation: NoAssertion,
		Checksums: checksum(im.Digest), PrimaryPackagePurpose: PurposeContainer,
		ExternalRefs: []ExternalRef{purlRef(ociPURL(name, tag, im.Digest, ""))},
	}
	comment := "platforms " + strings.Join(im.Platforms, ", ") + "; " + im.MediaType
	if im.Role != "" {
		comment += "; role " + im.Role
	}
	if im.UpstreamDigest != "" {
		comment += "; the registry's digest was " + string(im.UpstreamDigest) + " (the bundle keeps a filtered index)"
	}
	p.Comment = comment
	carried := map[manifest.Digest]bool{}
	for _, d := range im.Blobs {
		carried[d] = true
	}
	top, err := g.readJSONBlob(im.Digest)
	if err != nil {
		return err
	}
	var head struct {
		MediaType string               `json:"mediaType"`
		Manifests []ocispec.Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(top, &head); err != nil {
		return fmt.Errorf("parsing %s: %w", im.Digest, err)
	}
	mt := im.MediaType
	if mt == "" {
		mt = head.MediaType
	}
	if contains(indexTypes, mt) || head.Manifests != nil {
		g.pkg(p)
		g.rel(BundleID, RelContains, id)
		for _, desc := range head.Manifests {
			d := manifest.Digest(desc.Digest)
			if !carried[d] || !contains(manifestTypes, desc.MediaType) {
				continue // a platform the bundle dropped, or an attestation
			}
			plat := ""
			if desc.Platform != nil {
				if desc.Platform.OS == "unknown" {
					continue // BuildKit's attestation manifests
				}
				plat = desc.Platform.OS + "/" + desc.Platform.Architecture
				if desc.Platform.Variant != "" {
					plat += "/" + desc.Platform.Variant
				}
			}
			mid := spdxID("ImageManifest", im.Ref+"-"+plat, "manifest|"+string(d))
			mp := Package{
				SPDXID: mid, Name: im.Ref, VersionInfo: string(d), DownloadLocation: NoAssertion,
				FilesAnalyzed: true, Checksums: checksum(d), PrimaryPackagePurpose: PurposeContainer,
				Comment:      "platform " + plat + " of " + im.Ref,
				ExternalRefs: []ExternalRef{purlRef(ociPURL(name, tag, d, plat))},
			}
			if err := g.manifest(mid, &mp, d, carried); err != nil {
				return err
			}
			g.rel(id, RelContains, mid)
		}
		return nil
	}
	p.FilesAnalyzed = true
	if err := g.manifest(id, &p, im.Digest, carried); err != nil {
		return err
	}
	g.rel(BundleID, RelContains, id)
	return nil
}

// manifest lists a platform manifest's config and layers as files of p and
// the OS packages its layers record.
func (g *generator) manifest(id string, p *Package, d manifest.Digest, carried map[manifest.Digest]bool) error {
	b, err := g.readJSONBlob(d)
	if err != nil {
		return err
	}
	var m ocispec.Manifest
	if err := json.Unmarshal(b, &m); err != nil {
		return fmt.Errorf("parsing manifest %s: %w", d, err)
	}
	blobFile := func(desc ocispec.Descriptor, typ, what string) {
		bd := manifest.Digest(desc.Digest)
		fid := spdxID("Blob", bd.Hex()[:16], "blob|"+string(bd))
		g.files[fid] = File{SPDXID: fid, FileName: "./blobs/" + bd.Algorithm() + "/" + bd.Hex(), FileTypes: []string{typ},
			Checksums: checksum(bd), Comment: fmt.Sprintf("%s, %s, %d bytes", what, desc.MediaType, desc.Size)}
		g.rel(id, RelContains, fid)
	}
	blobFile(m.Config, "TEXT", "image config")
	for i, l := range m.Layers {
		blobFile(l, "ARCHIVE", fmt.Sprintf("layer %d", i+1))
	}
	// A single-manifest image names its platform in the config.
	cfgBytes, err := g.readJSONBlob(manifest.Digest(m.Config.Digest))
	if err != nil {
		return err
	}
	var cfg ocispec.Image
	if err := json.Unmarshal(cfgBytes, &cfg); err == nil && !strings.Contains(p.Comment, "platform ") && cfg.OS != "" {
		p.Comment = "platform " + cfg.OS + "/" + cfg.Architecture + "; " + p.Comment
	}
	if !g.o.SkipOSPackages {
		fs := layerFS{}
		for _, l := range m.Layers {
			ld := manifest.Digest(l.Digest)
			if !carried[ld] {
				return fmt.Errorf("layer %s is not in the bundle", ld)
			}
			r, err := g.c.OpenBlob(ld)
			if err != nil {
				return err
			}
			if err := fs.apply(r); err != nil {
				return fmt.Errorf("layer %s: %w", ld, err)
			}
		}
		pkgs, err := fs.packages()
		if err != nil {
			return err
		}
		rel, _ := fs.osRelease()
		if rel.ID != "" {
			oid := spdxID("OS", rel.ID+"-"+rel.VersionID, "os|"+rel.ID+"|"+rel.VersionID+"|"+rel.PrettyName)
			g.pkg(Package{SPDXID: oid, Name: rel.ID, VersionInfo: rel.VersionID, DownloadLocation: NoAssertion,
				PrimaryPackagePurpose: PurposeOS, Comment: rel.PrettyName})
			g.rel(id, RelContains, oid)
		}
		for _, op := range pkgs {
			oid := spdxID("OSPackage", op.Type+"-"+op.Name+"-"+op.Version+"-"+op.Arch,
				op.Type+"|"+rel.ID+"|"+rel.VersionID+"|"+op.Name+"|"+op.Version+"|"+op.Arch)
			pk := Package{SPDXID: oid, Name: op.Name, VersionInfo: op.Version, DownloadLocation: NoAssertion,
				PrimaryPackagePurpose: PurposeLibrary, ExternalRefs: []ExternalRef{purlRef(op.PURL(rel))}}
			if op.Source != "" {
				pk.SourceInfo = "built from source package " + op.Source
			}
			if op.License != "" {
				pk.LicenseComments = "the package database says: " + op.License
			}
			g.pkg(pk)
			g.rel(id, RelContains, oid)
		}
	}
	g.pkg(*p)
	return nil
}

// maxJSONBlob bounds an image index, manifest or config read into memory.
const maxJSONBlob = 4 << 20

func (g *generator) readJSONBlob(d manifest.Digest) ([]byte, error) {
	r, err := g.c.OpenBlob(d)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(io.LimitReader(r, maxJSONBlob+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxJSONBlob {
		return nil, fmt.Errorf("blob %s is larger than the %d bytes an image manifest or config may have", d, maxJSONBlob)
	}
	return b, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// splitRef splits "docker.io/library/nginx:1.27.4" into the repository and
// the tag ("" when the reference has none).
func splitRef(ref string) (repo, tag string) {
	ref, _, _ = strings.Cut(ref, "@")
	slash := strings.LastIndex(ref, "/")
	if colon := strings.LastIndex(ref, ":"); colon > slash {
		return ref[:colon], ref[colon+1:]
	}
	return ref, ""
}

// ImagePURL is the purl of a bundle's image: pkg:oci/<name>@<digest> with
// the repository and tag as qualifiers.
func ImagePURL(ref string, d manifest.Digest) string {
	repo, tag := splitRef(ref)
	return ociPURL(repo, tag, d, "")
}

// ociPURL is purl-spec's oci type: pkg:oci/<last path element>@<digest>
// with repository_url (the full repository), tag and arch qualifiers.
func ociPURL(repo, tag string, d manifest.Digest, platform string) string {
	arch := ""
	if platform != "" {
		_, arch, _ = strings.Cut(platform, "/")
	}
	return "pkg:oci/" + purlPath(path.Base(repo)) + "@" + strings.ReplaceAll(string(d), ":", "%3A") +
		purlQualifiers("arch", arch, "repository_url", repo, "tag", tag)
}

// StoreContents reads an index's files and blobs from the bundler's blob
// store (or any pack.BlobOpener holding stored blobs), before the bundle is
// written: blobs are checked against their digest and files are
// decompressed and checked against theirs.
func StoreContents(ix *manifest.Index, blobs pack.BlobOpener) Contents {
	return &storeContents{ix: ix, blobs: blobs}
}

type storeContents struct {
	ix    *manifest.Index
	blobs pack.BlobOpener
}

func (s *storeContents) OpenBlob(d manifest.Digest) (io.Reader, error) {
	bl, ok := s.ix.Blob(d)
	if !ok {
		return nil, fmt.Errorf("blob %s is not in the index", d)
	}
	r, err := s.blobs.Open(d)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(verify.NewVerifyingReader(r, d, bl.Size))
	r.Close()
	if err != nil {
		return nil, err
	}
	return bytes.NewReader(b), nil
}

func (s *storeContents) OpenFile(f manifest.File) (io.ReadCloser, error) {
	bl, ok := s.ix.Blob(f.Blob)
	if !ok {
		return nil, fmt.Errorf("file %s: blob %s is not in the index", f.Path, f.Blob)
	}
	r, err := s.OpenBlob(f.Blob)
	if err != nil {
		return nil, err
	}
	switch bl.Encoding {
	case manifest.EncodingNone:
		return io.NopCloser(verify.NewVerifyingReader(r, f.Digest, f.Size)), nil
	case manifest.EncodingZstd:
		dec, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(64<<20))
		if err != nil {
			return nil, err
		}
		return &zstdFile{Reader: verify.NewVerifyingReader(dec, f.Digest, f.Size), dec: dec}, nil
	}
	return nil, fmt.Errorf("blob %s: unknown encoding %q", f.Blob, bl.Encoding)
}

type zstdFile struct {
	io.Reader
	dec *zstd.Decoder
}

func (z *zstdFile) Close() error { z.dec.Close(); return nil }
