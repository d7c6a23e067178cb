package sbom_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sbom"
	"github.com/satchel-dev/satchel/verify"
)

// validate checks doc against the official SPDX 2.3 JSON schema.
func validate(t *testing.T, doc []byte) {
	t.Helper()
	if err := schemaErr(t, doc); err != nil {
		t.Fatalf("the SBOM does not validate against the SPDX 2.3 schema: %v", err)
	}
}

func schemaErr(t *testing.T, doc []byte) error {
	t.Helper()
	f, err := os.Open("testdata/spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	schemaDoc, err := jsonschema.UnmarshalJSON(f)
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("spdx-schema-2.3.json", schemaDoc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile("spdx-schema-2.3.json")
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

// selfBinary is the running test program: a real Go binary whose module
// list `go version -m` can read too.
func selfBinary(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const dpkgStatus = `Package: libc6
Status: install ok installed
Priority: optional
Architecture: amd64
Source: glibc
Version: 2.36-9+deb12u10
Description: GNU C Library: Shared libraries
 Contains the standard libraries.

Package: removed-thing
Status: deinstall ok config-files
Architecture: amd64
Version: 1.0-1

Package: base-files
Status: install ok installed
Architecture: amd64
Version: 12.4+deb12u10
`

const apkInstalled = `C:Q1abc=
P:musl
V:1.2.5-r0
A:x86_64
L:MIT
o:musl

C:Q1def=
P:busybox-binsh
V:1.36.1-r29
A:x86_64
L:GPL-2.0-only
o:busybox
`

func testSpec(t *testing.T) bundletest.Spec {
	self := selfBinary(t)
	return bundletest.Spec{
		Name: "sbom-test", Version: "1.0.0", Sequence: 3,
		Components: []bundletest.Component{{
			Name: "runc", Version: "1.2.6",
			Artifacts: []bundletest.Artifact{{
				Platform: "linux/amd64",
				URL:      "https://github.com/opencontainers/runc/releases/download/v1.2.6/runc.amd64",
				Files: []bundletest.File{
					{Path: "/usr/local/bin/runc", Content: self},
					{Path: "/usr/local/bin/runc-copy", Content: self}, // same content: read once
					{Path: "/usr/local/bin/helper.sh", Content: []byte("#!/bin/sh\necho hi\n")},
					{Path: "/usr/local/bin/runc-link", Symlink: "runc"},
				},
			}},
		}, {
			// This platform's artifact is another release than the
			// component's: the SBOM states the artifact's.
			Name: "containerd", Version: "2.0.4",
			Artifacts: []bundletest.Artifact{{
				Platform: "linux/amd64", Version: "2.0.5",
				URL:   "https://github.com/containerd/containerd/releases/download/v2.0.5/containerd-static-2.0.5-linux-amd64.tar.gz",
				Files: []bundletest.File{{Path: "/usr/local/etc/containerd/x.toml", Mode: 0o644, Content: []byte("version = 3\n")}},
			}},
		}},
		Images: []bundletest.Image{{
			Ref: "docker.io/library/nginx:1.27.4", Platforms: []string{"linux/amd64", "linux/arm64"},
			Layers: []map[string][]byte{
				{"etc/os-release": []byte("PRETTY_NAME=\"Debian GNU/Linux 12 (bookworm)\"\nID=debian\nVERSION_ID=\"12\"\n"),
					"var/lib/dpkg/status": []byte(dpkgStatus)},
				{"usr/share/nginx/html/index.html": []byte("hello\n")},
			},
		}, {
			Ref: "registry.k8s.io/pause:3.10", Platforms: []string{"linux/amd64"}, Compression: "zstd",
			Layers: []map[string][]byte{
				{"lib/apk/db/installed": []byte(apkInstalled), "etc/os-release": []byte("ID=alpine\nVERSION_ID=3.20.3\n"),
					"var/lib/dpkg/status": []byte(dpkgStatus)},
				// The upper layer deletes the dpkg database: it must not be reported.
				{"var/lib/dpkg/.wh.status": nil},
			},
		}},
	}
}

// openBundle writes s and opens it as inspect does, layout checked.
func openBundle(t *testing.T, s bundletest.Spec) (*pack.Bundle, *manifest.Index) {
	t.Helper()
	dir := t.TempDir()
	signer, pub := bundletest.Keys(t, dir)
	out := filepath.Join(dir, "b.satchel")
	bundletest.Write(t, out, s, signer)
	b, err := pack.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	v, err := verify.LoadVerifierFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	ix, _, err := pack.VerifyBundle(b, []*verify.Verifier{v}, pack.VerifyOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return b, ix
}

func byName(doc *sbom.Document, name string) []sbom.Package {
	var out []sbom.Package
	for _, p := range doc.Packages {
		if p.Name == name {
			out = append(out, p)
		}
	}
	return out
}

func related(doc *sbom.Document, from, typ string) []string {
	var out []string
	for _, r := range doc.Relationships {
		if r.SPDXElementID == from && r.RelationshipType == typ {
			out = append(out, r.RelatedSPDXElement)
		}
	}
	return out
}

func TestGenerateFromBundle(t *testing.T) {
	b, ix := openBundle(t, testSpec(t))
	doc, err := sbom.Generate(ix, b, sbom.Options{Tool: "satchel-test"})
	if err != nil {
		t.Fatal(err)
	}
	out, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)

	indexJSON, _ := ix.Encode()
	if want := sbom.NamespacePrefix + "sbom-test-1.0.0-" + manifest.DigestOf(manifest.SHA256, indexJSON).Hex(); doc.DocumentNamespace != want {
		t.Errorf("namespace %s, want %s", doc.DocumentNamespace, want)
	}
	if doc.CreationInfo.Created != "2025-04-01T00:00:00Z" {
		t.Errorf("created %s", doc.CreationInfo.Created)
	}
	if got := related(doc, sbom.DocumentID, sbom.RelDescribes); !slices.Equal(got, []string{sbom.BundleID}) {
		t.Errorf("document describes %v", got)
	}

	// The runc artifact: URL, digest, license, and the module it is tagged as.
	runc := byName(doc, "runc")
	if len(runc) != 1 {
		t.Fatalf("runc packages: %+v", runc)
	}
	r := runc[0]
	art := ix.Components[0].Artifacts[0]
	if r.VersionInfo != "1.2.6" || r.DownloadLocation != art.URL || r.LicenseDeclared != "Apache-2.0" ||
		len(r.Checksums) != 1 || r.Checksums[0].Algorithm != "SHA256" || r.Checksums[0].ChecksumValue != art.Digest.Hex() {
		t.Errorf("runc package: %+v", r)
	}
	if r.PURL() != "pkg:golang/github.com/opencontainers/runc@v1.2.6" {
		t.Errorf("runc purl %q", r.PURL())
	}
	if c := byName(doc, "containerd"); len(c) != 1 || c[0].PURL() != "pkg:golang/github.com/containerd/containerd/v2@v2.0.5" || c[0].VersionInfo != "2.0.5" {
		t.Errorf("containerd: %+v", c)
	}
	if !slices.Contains(related(doc, sbom.BundleID, sbom.RelContains), r.SPDXID) {
		t.Error("the bundle does not CONTAIN the runc artifact")
	}

	// Files: three regular files, the symlink is not a file.
	files := map[string]sbom.File{}
	for _, f := range doc.Files {
		files[f.FileName] = f
	}
	for _, p := range []string{"./usr/local/bin/runc", "./usr/local/bin/runc-copy", "./usr/local/bin/helper.sh", "./usr/local/etc/containerd/x.toml"} {
		if _, ok := files[p]; !ok {
			t.Errorf("no file %s", p)
		}
	}
	if _, ok := files["./usr/local/bin/runc-link"]; ok {
		t.Error("a symlink is listed as a file")
	}
	runcFile := files["./usr/local/bin/runc"]
	if !slices.Contains(related(doc, r.SPDXID, sbom.RelContains), runcFile.SPDXID) {
		t.Error("the artifact does not CONTAIN its binary")
	}

	// The binary's modules equal what `go version -m` says of the same bytes.
	self := selfBinary(t)
	want := goVersionM(t, self)
	got := modulesOf(doc, runcFile.SPDXID)
	if !slices.Equal(got, want) {
		t.Errorf("modules of the binary:\n got %v\nwant %v", got, want)
	}
	if deps := related(doc, files["./usr/local/bin/helper.sh"].SPDXID, sbom.RelDependsOn); len(deps) != 0 {
		t.Errorf("a shell script has Go modules: %v", deps)
	}

	// Images: the index, one manifest per platform, layers as files, the
	// Debian packages of nginx; pause's apk packages but not the deleted dpkg database.
	nginx := byName(doc, "docker.io/library/nginx:1.27.4")
	if len(nginx) != 3 {
		t.Fatalf("nginx packages (index + 2 manifests): %d", len(nginx))
	}
	libc := byName(doc, "libc6")
	if len(libc) != 1 { // the same package in both platform manifests: one element, contained twice
		t.Fatalf("libc6 packages: %+v", libc)
	}
	containers := 0
	for _, m := range nginx {
		if slices.Contains(related(doc, m.SPDXID, sbom.RelContains), libc[0].SPDXID) {
			containers++
		}
	}
	if containers != 2 {
		t.Errorf("libc6 is contained by %d manifests, want 2", containers)
	}
	if libc[0].VersionInfo != "2.36-9+deb12u10" || libc[0].PURL() != "pkg:deb/debian/libc6@2.36-9+deb12u10?arch=amd64&distro=debian-12&upstream=glibc" {
		t.Errorf("libc6: %+v %s", libc[0], libc[0].PURL())
	}
	if len(byName(doc, "removed-thing")) != 0 {
		t.Error("a package in config-files state is listed")
	}
	musl := byName(doc, "musl")
	if len(musl) != 1 || musl[0].PURL() != "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=alpine-3.20.3" {
		t.Errorf("musl: %+v", musl)
	}
	if bb := byName(doc, "busybox-binsh"); len(bb) != 1 || bb[0].SourceInfo != "built from source package busybox" {
		t.Errorf("busybox-binsh: %+v", bb)
	}
	pause := byName(doc, "registry.k8s.io/pause:3.10")
	if len(pause) != 1 {
		t.Fatalf("pause: %+v", pause)
	}
	var pauseDeb int
	for _, id := range related(doc, pause[0].SPDXID, sbom.RelContains) {
		if p, ok := doc.Package(id); ok && strings.HasPrefix(p.PURL(), "pkg:deb/") {
			pauseDeb++
		}
	}
	if pauseDeb != 0 {
		t.Errorf("pause lists %d Debian packages from a database its upper layer deleted", pauseDeb)
	}
	layers := 0
	for _, id := range related(doc, pause[0].SPDXID, sbom.RelContains) {
		if strings.HasPrefix(id, "SPDXRef-Blob-") {
			layers++
		}
	}
	if layers != 3 { // config + 2 layers
		t.Errorf("pause lists %d blobs, want its config and 2 layers", layers)
	}

	// Deterministic, and the same from the bundler's blob store.
	again, err := sbom.Generate(ix, b, sbom.Options{Tool: "satchel-test"})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := again.Encode(); !bytes.Equal(a, out) {
		t.Error("two runs give different documents")
	}
	fromStore, err := sbom.Generate(ix, sbom.StoreContents(ix, b), sbom.Options{Tool: "satchel-test"})
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := fromStore.Encode(); !bytes.Equal(a, out) {
		t.Error("StoreContents gives another document than the bundle")
	}
	// Round trip.
	dec, err := sbom.Decode(out)
	if err != nil || len(dec.Packages) != len(doc.Packages) {
		t.Fatalf("decode: %v", err)
	}
}

// modulesOf lists the Go modules a file's package relationships name, in
// the form goVersionM prints: "mod path version", "dep path version", "go
// goX.Y.Z", sorted.
func modulesOf(doc *sbom.Document, fileID string) []string {
	var out []string
	for _, id := range related(doc, fileID, sbom.RelGeneratedFrom) {
		p, _ := doc.Package(id)
		out = append(out, "mod "+p.Name+" "+p.VersionInfo)
	}
	for _, id := range related(doc, fileID, sbom.RelDependsOn) {
		p, _ := doc.Package(id)
		if p.Name == "stdlib" {
			out = append(out, "go "+p.VersionInfo)
		} else {
			out = append(out, "dep "+p.Name+" "+p.VersionInfo)
		}
	}
	slices.Sort(out)
	return out
}

// goVersionM runs `go version -m` on a binary and returns its Go version,
// main module and dependencies (a replaced dependency with the
// replacement's version, as satchel records it), sorted.
func goVersionM(t *testing.T, bin []byte) []string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Skipf(t, "needs the go command to compare with `go version -m`")
	}
	p := filepath.Join(t.TempDir(), "bin")
	if err := os.WriteFile(p, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	return goVersionMFile(t, goTool, p)
}

func goVersionMFile(t *testing.T, goTool, p string) []string {
	t.Helper()
	out, err := exec.Command(goTool, "version", "-m", p).Output()
	if err != nil {
		t.Fatalf("go version -m: %v", err)
	}
	var res []string
	sc := bufio.NewScanner(bytes.NewReader(out))
	first := true
	for sc.Scan() {
		line := sc.Text()
		if first {
			// "<path>: go1.26.8"
			_, v, _ := strings.Cut(line, ": ")
			res = append(res, "go "+strings.Fields(v)[0])
			first = false
			continue
		}
		f := strings.Split(strings.TrimPrefix(line, "\t"), "\t")
		switch f[0] {
		case "mod":
			res = append(res, "mod "+f[1]+" "+f[2])
		case "dep":
			res = append(res, "dep "+f[1]+" "+f[2])
		case "=>":
			// The replacement of the dep on the previous line.
			last := res[len(res)-1]
			parts := strings.Fields(last)
			if len(f) > 2 && f[2] != "" {
				res[len(res)-1] = parts[0] + " " + parts[1] + " " + f[2]
			}
		}
	}
	slices.Sort(res)
	return res
}

func TestReadGoBinaryNotGo(t *testing.T) {
	if _, ok := sbom.ReadGoBinary(bytes.NewReader([]byte("#!/bin/sh\n"))); ok {
		t.Error("a script is read as a Go program")
	}
	gb, ok := sbom.ReadGoBinary(bytes.NewReader(selfBinary(t)))
	if !ok || !strings.HasPrefix(gb.GoVersion, "go1.") || gb.Main.Path == "" {
		t.Fatalf("the test binary: %+v %v", gb, ok)
	}
}

func TestComponentModule(t *testing.T) {
	for _, c := range []struct{ comp, version, path, mv string }{
		{"runc", "1.2.6", "github.com/opencontainers/runc", "v1.2.6"},
		{"containerd", "2.0.4", "github.com/containerd/containerd/v2", "v2.0.4"},
		{"containerd", "1.7.29", "github.com/containerd/containerd", "v1.7.29"},
		{"nerdctl", "2.0.4", "github.com/containerd/nerdctl/v2", "v2.0.4"},
		{"nerdctl", "1.7.7", "github.com/containerd/nerdctl", "v1.7.7"},
		{"crictl", "1.32.0", "sigs.k8s.io/cri-tools", "v1.32.0"},
		{"docker", "27.5.1", "github.com/docker/docker", "v27.5.1+incompatible"},
		{"docker", "29.7.2", "", ""},
		{"gvisor", "20250331.0", "", ""},
		{"kata", "3.7.0", "", ""},
		{"cni-plugins", "1.9.1", "github.com/containernetworking/plugins", "v1.9.1"},
		{"buildkit", "0.31.2", "github.com/moby/buildkit", "v0.31.2"},
	} {
		p, v, ok := sbom.ComponentModule(c.comp, c.version)
		if p != c.path || v != c.mv || ok != (c.path != "") {
			t.Errorf("%s %s: %q %q %v", c.comp, c.version, p, v, ok)
		}
	}
}

// TestSchemaRejectsBrokenDocument shows the validation can fail: a package
// without its required downloadLocation, then a relationship type SPDX
// does not define.
func TestSchemaRejectsBrokenDocument(t *testing.T) {
	doc := map[string]any{
		"spdxVersion": "SPDX-2.3", "dataLicense": "CC0-1.0", "SPDXID": "SPDXRef-DOCUMENT", "name": "x",
		"documentNamespace": "https://example.invalid/x",
		"creationInfo":      map[string]any{"created": "2025-04-01T00:00:00Z", "creators": []string{"Tool: x"}},
		"packages":          []any{map[string]any{"SPDXID": "SPDXRef-A", "name": "a", "downloadLocation": "NOASSERTION"}},
	}
	b, _ := json.Marshal(doc)
	if err := schemaErr(t, b); err != nil {
		t.Fatalf("a minimal valid document is rejected: %v", err)
	}
	doc["packages"] = []any{map[string]any{"SPDXID": "SPDXRef-A", "name": "a"}}
	b, _ = json.Marshal(doc)
	if schemaErr(t, b) == nil {
		t.Error("a package without downloadLocation validates")
	}
	doc["packages"] = []any{map[string]any{"SPDXID": "SPDXRef-A", "name": "a", "downloadLocation": "NOASSERTION"}}
	doc["relationships"] = []any{map[string]any{"spdxElementId": "SPDXRef-DOCUMENT", "relationshipType": "INCLUDES", "relatedSpdxElement": "SPDXRef-A"}}
	b, _ = json.Marshal(doc)
	if schemaErr(t, b) == nil {
		t.Error("an unknown relationship type validates")
	}
}
