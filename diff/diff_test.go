package diff_test

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/audit"
	"github.com/satchel-dev/satchel/diff"
	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// Specs of two bundles that differ in one component version (runc), one
// image digest (nginx, rebuilt) and one note.
func specs() (bundletest.Spec, bundletest.Spec) {
	mk := func(runc, salt string, notes []manifest.Note) bundletest.Spec {
		return bundletest.Spec{
			Name: "kylin-runtimes", Version: "2025.04.0", Sequence: 7,
			Components: []bundletest.Component{
				{Name: "containerd", Version: "2.0.4", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
					URL:   "https://github.com/containerd/containerd/releases/download/v2.0.4/containerd-static-2.0.4-linux-amd64.tar.gz",
					Files: []bundletest.File{{Path: "/usr/local/bin/containerd", Content: []byte("containerd 2.0.4")}}}}},
				{Name: "runc", Version: runc, Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
					URL:   "https://github.com/opencontainers/runc/releases/download/v" + runc + "/runc.amd64",
					Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: []byte("runc " + runc)}}}}},
			},
			Images: []bundletest.Image{
				{Ref: "docker.io/library/nginx:1.27.4", Platforms: []string{"linux/amd64"}, Salt: salt, Layers: []map[string][]byte{{"index.html": []byte("hi")}}},
				{Ref: "registry.k8s.io/pause:3.10", Platforms: []string{"linux/amd64"}, Layers: []map[string][]byte{{"pause": []byte("p")}}},
			},
			Notes: notes,
		}
	}
	keep := manifest.Note{ID: "cgroup-v1", Severity: "info", Text: "cgroup v1 is deprecated"}
	gone := manifest.Note{ID: "runc-cve-2025-31133", Component: "runc", Severity: "warning", Text: "runc 1.2.6 is affected by CVE-2025-31133"}
	return mk("1.2.6", "", []manifest.Note{keep, gone}), mk("1.4.3", "rebuilt", []manifest.Note{keep})
}

// written writes a signed bundle carrying its SBOM and provenance, and
// opens it verified.
func written(t *testing.T, path string, s bundletest.Spec) (*manifest.Index, *pack.Bundle) {
	t.Helper()
	signer, pub := bundletest.Keys(t, filepath.Dir(path))
	s.Attest = true
	bundletest.Write(t, path, s, signer)
	v, err := verify.LoadVerifierFile(pub)
	if err != nil {
		t.Fatal(err)
	}
	b, err := pack.OpenPath(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ix, _, err := pack.VerifyBundle(b, []*verify.Verifier{v}, pack.VerifyOptions{Deep: true})
	if err != nil {
		t.Fatal(err)
	}
	return ix, b
}

// TestExactlyTheDifferences: two bundles that differ in one component
// version, one image digest and one note show exactly those: no bundle
// field, no other component or image, no configuration (runc's version
// changes nothing the installer renders), and not their SBOMs, which
// differ too.
func TestExactlyTheDifferences(t *testing.T) {
	dir := t.TempDir()
	os, ns := specs()
	oldIx, oldB := written(t, filepath.Join(dir, "old.satchel"), os)
	newIx, newB := written(t, filepath.Join(dir, "new.satchel"), ns)
	if a, b := oldIx.Attestations.SBOM.Digest, newIx.Attestations.SBOM.Digest; a == b {
		t.Fatalf("the SBOMs should differ: %s", a)
	}
	r, err := diff.Bundles(oldIx, oldB, newIx, newB)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Configs) != 0 {
		t.Errorf("configs: %+v", r.Configs)
	}
	if len(r.Bundle) != 0 {
		t.Errorf("bundle fields: %+v", r.Bundle)
	}
	if len(r.Components) != 1 {
		t.Fatalf("components: %+v", r.Components)
	}
	c := r.Components[0]
	if c.Name != "runc" || c.Change != diff.Changed || c.OldVersion != "1.2.6" || c.NewVersion != "1.4.3" || len(c.Artifacts) != 1 {
		t.Errorf("runc: %+v", c)
	}
	a := c.Artifacts[0]
	if !strings.Contains(a.OldURL, "v1.2.6") || !strings.Contains(a.NewURL, "v1.4.3") || a.OldDigest == a.NewDigest ||
		len(a.Files) != 1 || a.Files[0].Path != "/usr/local/bin/runc" || a.Files[0].Change != diff.Changed {
		t.Errorf("runc artifact: %+v", a)
	}
	if len(r.Images) != 1 {
		t.Fatalf("images: %+v", r.Images)
	}
	im := r.Images[0]
	if im.Ref != "docker.io/library/nginx:1.27.4" || im.Change != diff.Changed || im.OldDigest != oldIx.Images[0].Digest || im.NewDigest != newIx.Images[0].Digest || im.OldDigest == im.NewDigest {
		t.Errorf("image: %+v", im)
	}
	if len(r.Notes) != 1 || r.Notes[0].ID != "runc-cve-2025-31133" || r.Notes[0].Change != diff.Removed {
		t.Errorf("notes: %+v", r.Notes)
	}

	var buf bytes.Buffer
	r.WriteText(&buf)
	text := buf.String()
	for _, want := range []string{
		"~ runc 1.2.6 -> 1.4.3",
		"- https://github.com/opencontainers/runc/releases/download/v1.2.6/runc.amd64",
		"+ https://github.com/opencontainers/runc/releases/download/v1.4.3/runc.amd64",
		"~ docker.io/library/nginx:1.27.4",
		"- " + string(oldIx.Images[0].Digest),
		"+ " + string(newIx.Images[0].Digest),
		"- [warning] runc-cve-2025-31133",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text lacks %q:\n%s", want, text)
		}
	}
	for _, unwanted := range []string{"containerd", "pause", "cgroup-v1", "bundle:", "configurations"} {
		if strings.Contains(text, unwanted) {
			t.Errorf("text mentions %q, which did not change:\n%s", unwanted, text)
		}
	}

	same, err := diff.Bundles(oldIx, oldB, oldIx, oldB)
	if err != nil || !same.Empty() {
		t.Errorf("a bundle differs from itself: %+v %v", same, err)
	}
	// Reversed: the note appears.
	rev, _ := diff.Bundles(newIx, newB, oldIx, oldB)
	if len(rev.Notes) != 1 || rev.Notes[0].Change != diff.Added {
		t.Errorf("reversed notes: %+v", rev.Notes)
	}
}

func TestAddedRemoved(t *testing.T) {
	dir := t.TempDir()
	os, ns := specs()
	ns.Components = ns.Components[:1] // runc removed
	ns.Images = append(ns.Images[:1:1], bundletest.Image{Ref: "docker.io/library/busybox:1.37", Platforms: []string{"linux/amd64", "linux/arm64"}, Layers: []map[string][]byte{{"x": []byte("x")}}})
	ns.Version, ns.Sequence = "2025.05.0", 8
	oldIx := bundletest.Write(t, filepath.Join(dir, "old.satchel"), os, nil)
	newIx := bundletest.Write(t, filepath.Join(dir, "new.satchel"), ns, nil)
	r, err := diff.Indexes(oldIx, newIx)
	if err != nil {
		t.Fatal(err)
	}
	var fields []string
	for _, f := range r.Bundle {
		fields = append(fields, f.Field)
	}
	if strings.Join(fields, ",") != "version,sequence,platforms" {
		t.Errorf("bundle fields %v", fields)
	}
	if len(r.Components) != 1 || r.Components[0].Change != diff.Removed || r.Components[0].Name != "runc" {
		t.Errorf("components %+v", r.Components)
	}
	var got []string
	for _, im := range r.Images {
		got = append(got, im.Change+" "+im.Ref)
	}
	if strings.Join(got, "; ") != "changed docker.io/library/nginx:1.27.4; removed registry.k8s.io/pause:3.10; added docker.io/library/busybox:1.37" {
		t.Errorf("images %v", got)
	}
}

// TestConfigChanges: what the installer would render differently. Adding
// gVisor registers runsc with containerd (its config changes) and brings
// no new file elsewhere; removing runc takes runc's binary out of
// containerd's config; crictl's config appears with crictl.
func TestConfigChanges(t *testing.T) {
	dir := t.TempDir()
	os, ns := specs()
	ns.Components = append(ns.Components[:1:1], bundletest.Component{Name: "gvisor", Version: "20250331.0", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
		URL:   "https://storage.googleapis.com/gvisor/releases/release/20250331.0/x86_64/runsc",
		Files: []bundletest.File{{Path: "/usr/local/bin/runsc", Content: []byte("runsc")}, {Path: "/usr/local/bin/containerd-shim-runsc-v1", Content: []byte("shim")}}}}},
		bundletest.Component{Name: "crictl", Version: "1.32.0", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
			URL:   "https://github.com/kubernetes-sigs/cri-tools/releases/download/v1.32.0/crictl-v1.32.0-linux-amd64.tar.gz",
			Files: []bundletest.File{{Path: "/usr/local/bin/crictl", Content: []byte("crictl")}}}}})
	oldIx, oldB := written(t, filepath.Join(dir, "old.satchel"), os)
	newIx, newB := written(t, filepath.Join(dir, "new.satchel"), ns)
	r, err := diff.Bundles(oldIx, oldB, newIx, newB)
	if err != nil {
		t.Fatal(err)
	}
	byPath := map[string]diff.ConfigChange{}
	for _, c := range r.Configs {
		byPath[c.Path] = c
		t.Logf("%s %s", c.Change, c.Path)
	}
	crictl, ok := byPath["/etc/crictl.yaml"]
	if !ok || crictl.Change != diff.Added || !strings.Contains(crictl.Diff, "+runtime-endpoint: unix:///run/containerd/containerd.sock") {
		t.Errorf("crictl.yaml: %+v", crictl)
	}
	var containerd *diff.ConfigChange
	for p, c := range byPath {
		if strings.HasPrefix(p, "/etc/containerd/") && c.Change == diff.Changed {
			containerd = &c
		}
	}
	if containerd == nil || !strings.Contains(containerd.Diff, "runsc") {
		t.Fatalf("no containerd config change naming runsc: %+v", r.Configs)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	if !strings.Contains(buf.String(), "configurations the installer writes") || !strings.Contains(buf.String(), "+ /etc/crictl.yaml (linux/amd64)") {
		t.Errorf("text:\n%s", buf.String())
	}
}

// TestFindings: a finding is the same across bundles by id and package,
// whatever the version: one still affecting an upgraded package shows
// nothing, one fixed disappears, one new appears, the new ones first.
func TestFindings(t *testing.T) {
	pkg := func(name, v string) audit.Package {
		return audit.Package{Ecosystem: "Go", Name: name, Version: v}
	}
	olds := []audit.Finding{
		{ID: "CVE-2025-31133", Package: pkg("github.com/opencontainers/runc", "1.2.6"), Severity: audit.High, Fixed: []string{"1.2.8"}},
		{ID: "CVE-2024-25621", Package: pkg("github.com/containerd/containerd/v2", "2.0.4")},
	}
	news := []audit.Finding{
		{ID: "CVE-2024-25621", Package: pkg("github.com/containerd/containerd/v2", "2.0.5")},
		{ID: "GO-2026-0001", Package: pkg("stdlib", "1.24.1"), Severity: audit.Medium},
	}
	r := &diff.Result{}
	r.AddFindings(olds, news)
	var got []string
	for _, f := range r.Findings {
		got = append(got, f.Change+" "+f.ID+" "+f.Package.Version)
	}
	if strings.Join(got, "; ") != "added GO-2026-0001 1.24.1; removed CVE-2025-31133 1.2.6" {
		t.Errorf("findings %v", got)
	}
	var buf bytes.Buffer
	r.WriteText(&buf)
	if !strings.Contains(buf.String(), "- [high] CVE-2025-31133 github.com/opencontainers/runc 1.2.6 (fixed in 1.2.8)") {
		t.Errorf("text:\n%s", buf.String())
	}
}
