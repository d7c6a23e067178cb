package profiles

import (
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// kylin-v10's digests, copied from /work/research/pins.md (each from
// kubernetes-sigs/kubespray roles/kubespray_defaults/vars/main/checksums.yml
// at the commit and line named; none computed). nerdctl 2.2.2: kubespray
// @46dbdd3 as pinned by profile modern.
const (
	ks2ContainerdStaticAmd64 = "sha256:1d0eccd52471ab75e8d4645b538f73dc635f905cd2be776366eb1036a0089595"                                                                 // @46dbdd3 L1572
	ks2ContainerdStaticArm64 = "sha256:ad21f456a69bca9c183a8bde892a7576d5d09ae88b3e376a47bde4a886037ab3"                                                                 // @46dbdd3 L1501
	ks2ContainerdAmd64       = "sha256:9d68969855fbf676cdb8ed758e420fb048d61f984f61de3e53eddfebe484d168"                                                                 // @46dbdd3 L1358
	ks2ContainerdArm64       = "sha256:a985fbb7e18fc0362d31a055338f5d7b0e087a3e27f14c70d1c5965399a29f95"                                                                 // @46dbdd3 L1287
	ks2Runc143Amd64          = "sha256:f6ae8efc0fa40079e1475e97cbe9d1bd3f106a28d6af78a11d9f1bd565515e60"                                                                 // @46dbdd3 L847
	ks2Runc143Arm64          = "sha256:633301e2e32f8a5ad54031aab4901eb00308bec677dd15faa2751e8f9dab5ca4"                                                                 // @46dbdd3 L817
	ks2RunscAmd64            = "sha512:84936438d583ec976800f464e75a83e1515f0890b451b9b4db219c4472b54ca9b106a6772ee683f1e64cce2128871d7637b14d800591f8451b8137f6c39fb2ef" // @46dbdd3 L1014
	ks2RunscArm64            = "sha512:6394fd161a4af0dc9a2c29f75c3016d05275a55744f124e12023fa7666a9f161c68d6ce3803ad49205c6a7b5bee0ad2ccf48edff340db344fdafec678c788aa4" // @46dbdd3 L957
	ks2ShimAmd64             = "sha512:b60d1c418b841ab046951cc7a91f490a221198fbe81ec55dc364432578fddd44e97063793ce6651be397af2f64ec47170dff77a45db277819c3fb08fec9f3ced" // @46dbdd3 L1129
	ks2ShimArm64             = "sha512:a7c0147f635938225e41c9660b95ba5235121a142c11830794e2a52b472783547e2b089bdba4f1344d30f65aeee651b377a1cafadd262a134f5e1ac10c6bf4bb" // @46dbdd3 L1072
	ks2Kata370Amd64          = "sha256:bebf218cafdc082476c7dabbcc5439aee6a41d6dda24dd3cfffbe0a6ae94e23d"                                                                 // @ace96af L895
	ks2Kata370Arm64          = "sha256:23e0d5c4e38c6944729a11c631f947abc5aab19427a44d8691bfb9ad1c38b831"                                                                 // @ace96af L899
	ks2Nerdctl222Amd64       = "sha256:6f637760fb2875e3454e97c3de7438fd17281b5996908cbd8ee1c872b0653cc8"                                                                 // @46dbdd3
	ks2Nerdctl222Arm64       = "sha256:4e222d6be16d94052079a4773e04f21c82e07f9b5847163fed78396e6ad8eeb5"                                                                 // @46dbdd3
	ks2Crictl136Amd64        = "sha256:83855e114566a8a8c44c548d515670f51de3a5e1da8b2effb59870e2f10c25a3"                                                                 // @46dbdd3 L9
	ks2Crictl136Arm64        = "sha256:68328594ccf780a80ae2b092d9f6ce484eec7cf540c275242e8fd954bfd95332"                                                                 // @46dbdd3 L4
)

func TestKylinV10URLsAndDigests(t *testing.T) {
	r := mustResolve(t, spec("kylin-v10", nil))
	gh := "https://github.com/"
	gv := "https://storage.googleapis.com/gvisor/releases/release/20260817.0/"
	tests := []struct{ name, platform, version, url, digest string }{
		{"containerd", "linux/amd64", "2.3.4", gh + "containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-amd64.tar.gz", ks2ContainerdStaticAmd64},
		{"containerd", "linux/arm64", "2.3.4", gh + "containerd/containerd/releases/download/v2.3.4/containerd-static-2.3.4-linux-arm64.tar.gz", ks2ContainerdStaticArm64},
		{"runc", "linux/amd64", "1.4.3", gh + "opencontainers/runc/releases/download/v1.4.3/runc.amd64", ks2Runc143Amd64},
		{"runc", "linux/arm64", "1.4.3", gh + "opencontainers/runc/releases/download/v1.4.3/runc.arm64", ks2Runc143Arm64},
		{"docker", "linux/amd64", "29.7.2", "https://download.docker.com/linux/static/stable/x86_64/docker-29.7.2.tgz", ""},
		{"docker", "linux/arm64", "29.7.2", "https://download.docker.com/linux/static/stable/aarch64/docker-29.7.2.tgz", ""},
		{"runsc", "linux/amd64", "20260817.0", gv + "x86_64/runsc", ks2RunscAmd64},
		{"runsc", "linux/arm64", "20260817.0", gv + "aarch64/runsc", ks2RunscArm64},
		{"containerd-shim-runsc-v1", "linux/amd64", "20260817.0", gv + "x86_64/containerd-shim-runsc-v1", ks2ShimAmd64},
		{"containerd-shim-runsc-v1", "linux/arm64", "20260817.0", gv + "aarch64/containerd-shim-runsc-v1", ks2ShimArm64},
		{"kata", "linux/amd64", "3.7.0", gh + "kata-containers/kata-containers/releases/download/3.7.0/kata-static-3.7.0-amd64.tar.xz", ks2Kata370Amd64},
		{"kata", "linux/arm64", "3.7.0", gh + "kata-containers/kata-containers/releases/download/3.7.0/kata-static-3.7.0-arm64.tar.xz", ks2Kata370Arm64},
		{"nerdctl", "linux/amd64", "2.2.2", gh + "containerd/nerdctl/releases/download/v2.2.2/nerdctl-2.2.2-linux-amd64.tar.gz", ks2Nerdctl222Amd64},
		{"nerdctl", "linux/arm64", "2.2.2", gh + "containerd/nerdctl/releases/download/v2.2.2/nerdctl-2.2.2-linux-arm64.tar.gz", ks2Nerdctl222Arm64},
		{"crictl", "linux/amd64", "1.36.0", gh + "kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-amd64.tar.gz", ks2Crictl136Amd64},
		{"crictl", "linux/arm64", "1.36.0", gh + "kubernetes-sigs/cri-tools/releases/download/v1.36.0/crictl-v1.36.0-linux-arm64.tar.gz", ks2Crictl136Arm64},
		{"cni", "linux/amd64", "1.9.1", gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-amd64-v1.9.1.tgz", upCNI191Amd64},
		{"cni", "linux/arm64", "1.9.1", gh + "containernetworking/plugins/releases/download/v1.9.1/cni-plugins-linux-arm64-v1.9.1.tgz", upCNI191Arm64},
	}
	n := 0
	for _, c := range r.Components {
		n += len(c.Artifacts)
	}
	if n != len(tests) {
		t.Errorf("%d artifacts, want %d", n, len(tests))
	}
	for _, tt := range tests {
		a := artifact(t, r, tt.name, tt.platform)
		if a.URL != tt.url || string(a.Digest) != tt.digest || a.Version != tt.version {
			t.Errorf("%s %s:\n got %s %s %s\nwant %s %s %s", tt.name, tt.platform, a.Version, a.URL, a.Digest, tt.version, tt.url, tt.digest)
		}
	}
	if c, _ := r.Component("containerd"); c.Variant != "static" {
		t.Errorf("containerd variant %s, want static", c.Variant)
	}
	// Every digest kylin-v10 pins is one of the copied constants, and all
	// of them are pinned; only Docker is left for lock.
	known := []string{ks2ContainerdStaticAmd64, ks2ContainerdStaticArm64, ks2ContainerdAmd64, ks2ContainerdArm64,
		ks2Runc143Amd64, ks2Runc143Arm64, ks2RunscAmd64, ks2RunscArm64, ks2ShimAmd64, ks2ShimArm64,
		ks2Kata370Amd64, ks2Kata370Arm64, ks2Nerdctl222Amd64, ks2Nerdctl222Arm64, ks2Crictl136Amd64, ks2Crictl136Arm64,
		upCNI191Amd64, upCNI191Arm64}
	p, _ := Get("kylin-v10")
	pinned := 0
	for _, pin := range p.Pins {
		if pin.Digest == "" {
			if !strings.Contains(pin.URL, "download.docker.com") {
				t.Errorf("unpinned %s: only Docker is left for lock", pin.URL)
			}
			continue
		}
		pinned++
		if !slices.Contains(known, string(pin.Digest)) {
			t.Errorf("pin %s %s is not one copied from pins.md", pin.URL, pin.Digest)
		}
		if !strings.Contains(pin.From, "kubespray") {
			t.Errorf("pin %s: from %q names no source", pin.URL, pin.From)
		}
	}
	if pinned != len(known) {
		t.Errorf("%d pinned digests, want %d", pinned, len(known))
	}
	if !strings.Contains(p.Description, "glibc 2.34") || !strings.Contains(p.Description, "kylin-v10-2025") {
		t.Errorf("description does not say why kata stays at 3.7.0 or where the old set went: %s", p.Description)
	}
}

func noteIDs(ns []manifest.Note) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.ID)
	}
	return out
}

func findNote(ns []manifest.Note, id string) (manifest.Note, bool) {
	i := slices.IndexFunc(ns, func(n manifest.Note) bool { return n.ID == id })
	if i < 0 {
		return manifest.Note{}, false
	}
	return ns[i], true
}

// The seed's set shows its CVEs and end-of-life lines; the new default has
// security notes only for kata 3.7.0 (no kata usable on glibc 2.28 fixes
// the 2026 kata CVEs), and none once kata is left out.
func TestSecurityAndEOLNotes(t *testing.T) {
	old := mustResolve(t, spec("kylin-v10-2025", nil))
	for _, id := range []string{"runc-cve-2025-31133", "runc-cve-2025-52565", "runc-cve-2025-52881", "runc-cve-2026-41579"} {
		n, ok := findNote(old.Notes, id)
		if !ok {
			t.Errorf("kylin-v10-2025 lacks %s: %v", id, noteIDs(old.Notes))
			continue
		}
		if n.Kind != manifest.NoteSecurity || n.Component != "runc" || n.Version != "1.2.6" || n.Platform != "" ||
			len(n.CVEs) == 0 || !strings.Contains(n.Text, n.CVEs[0]) || !strings.HasPrefix(n.Source, "https://github.com/opencontainers/runc/security/advisories/GHSA-") {
			t.Errorf("%s: %+v", id, n)
		}
	}
	if n, _ := findNote(old.Notes, "runc-cve-2025-31133"); !reflect.DeepEqual(n.FixedIn, []string{"1.2.8", "1.3.3", "1.4.0-rc.3"}) || !strings.Contains(n.Text, "Fixed in 1.2.8, 1.3.3, 1.4.0-rc.3") {
		t.Errorf("fixed-in: %+v", n)
	}
	for _, id := range []string{"containerd-2.0-eol", "runc-1.2-eol", "docker-27-eol", "kata-unsupported"} {
		n, ok := findNote(old.Notes, id)
		if !ok || n.Kind != manifest.NoteEOL || n.Date == "" || n.Source == "" {
			t.Errorf("kylin-v10-2025 %s: %+v (%v)", id, n, ok)
		}
	}
	if n, _ := findNote(old.Notes, "containerd-2.0-eol"); n.Date != "2025-11-07" || n.Version != "2.0.4" {
		t.Errorf("containerd 2.0 end of life: %+v", n)
	}
	for _, id := range []string{"containerd-cve-2024-25621", "containerd-cve-2026-53488", "docker-cve-2026-41567", "kata-cve-2026-44210"} {
		if _, ok := findNote(old.Notes, id); !ok {
			t.Errorf("kylin-v10-2025 lacks %s", id)
		}
	}
	// containerd 2.0.4 is the fix of CVE-2024-40635: not affected.
	if _, ok := findNote(old.Notes, "containerd-cve-2024-40635"); ok {
		t.Error("containerd 2.0.4 flagged for CVE-2024-40635, which it fixes")
	}

	cur := mustResolve(t, spec("kylin-v10", nil))
	var sec []string
	for _, n := range KnownVulnerable(cur.Notes) {
		sec = append(sec, n.ID)
		if n.Component != "kata" || n.Version != "3.7.0" {
			t.Errorf("kylin-v10: security note on a patched pin: %+v", n)
		}
	}
	if want := []string{"kata-cve-2026-24834", "kata-cve-2026-41326", "kata-cve-2026-47243", "kata-cve-2026-44210"}; !reflect.DeepEqual(sec, want) {
		t.Errorf("kylin-v10 security notes %v, want %v", sec, want)
	}
	for _, n := range cur.Notes {
		if n.Kind == manifest.NoteEOL && n.Component != "kata" {
			t.Errorf("kylin-v10: end-of-life note %+v", n)
		}
	}
	noKata := mustResolve(t, spec("kylin-v10", nil, manifest.ComponentSpec{Name: "kata", Exclude: true}))
	if v := KnownVulnerable(noKata.Notes); len(v) != 0 {
		t.Errorf("kylin-v10 without kata: %+v", v)
	}
	// A spec that pins an old runc over kylin-v10 gets the notes too: they
	// follow the release, not the profile.
	over := mustResolve(t, spec("kylin-v10", nil, manifest.ComponentSpec{Name: "runc", Version: "1.3.2"}))
	if _, ok := findNote(over.Notes, "runc-cve-2025-31133"); !ok {
		t.Errorf("runc 1.3.2 over kylin-v10: %v", noteIDs(over.Notes))
	}
	if _, ok := findNote(over.Notes, "runc-1.2-eol"); ok {
		t.Error("runc 1.3.2 flagged as 1.2 end of life")
	}
}

// A component's release may differ per platform; the artifact records it,
// and notes are evaluated per artifact against it.
func TestPerArtifactVersions(t *testing.T) {
	old := mustResolve(t, spec("kylin-v10-2025", nil))
	if a := artifact(t, old, "kata", "linux/amd64"); a.Version != "3.1.3" {
		t.Errorf("kata amd64 %s, want 3.1.3", a.Version)
	}
	if a := artifact(t, old, "kata", "linux/arm64"); a.Version != "3.2.0" || a.Digest != upKata320Arm64 || !strings.HasSuffix(a.URL, "/3.2.0/kata-static-3.2.0-arm64.tar.xz") {
		t.Errorf("kata arm64 %+v, want 3.2.0 pinned", a)
	}
	if n, ok := findNote(old.Notes, "kata-arm64-untested"); !ok || n.Platform != "linux/arm64" || n.Version != "3.2.0" {
		t.Errorf("kata-arm64-untested: %+v %v", n, ok)
	}

	both := []string{"linux/amd64", "linux/arm64"}
	r := mustResolve(t, spec("", both, manifest.ComponentSpec{Name: "kata", Version: "3.1.3",
		Versions: map[string]string{"linux/arm64": "3.14.0"}}))
	if a := artifact(t, r, "kata", "linux/arm64"); a.Version != "3.14.0" || !strings.HasSuffix(a.URL, "/3.14.0/kata-static-3.14.0-arm64.tar.xz") {
		t.Errorf("kata arm64 %+v", a)
	}
	for _, id := range []string{NoteKataGlibc, NoteKataVirtiofsdKylinV10} {
		var pls []string
		for _, n := range r.Notes {
			if n.ID == id {
				pls = append(pls, n.Platform)
			}
		}
		if !reflect.DeepEqual(pls, []string{"linux/arm64"}) {
			t.Errorf("%s on %v, want linux/arm64 only (amd64 carries 3.1.3)", id, pls)
		}
	}
	// An advisory that holds on both platforms, for different releases,
	// is given per platform with each release.
	var ks []string
	for _, n := range r.Notes {
		if n.ID == "kata-cve-2026-24834" {
			ks = append(ks, n.Platform+"="+n.Version)
		}
	}
	if !reflect.DeepEqual(ks, []string{"linux/amd64=3.1.3", "linux/arm64=3.14.0"}) {
		t.Errorf("kata-cve-2026-24834: %v", ks)
	}

	// platforms: the other platforms carry none of it, and a note says so.
	r = mustResolve(t, spec("kylin-v10", both, manifest.ComponentSpec{Name: "gvisor", Platforms: []string{"linux/amd64"}}))
	g, _ := r.Component("gvisor")
	if len(g.Artifacts) != 2 || g.Artifacts[0].Platform != "linux/amd64" || g.Artifacts[1].Platform != "linux/amd64" || !reflect.DeepEqual(g.Absent, []string{"linux/arm64"}) {
		t.Errorf("gvisor %+v", g)
	}
	if n, ok := findNote(r.Notes, "gvisor-platforms"); !ok || n.Platform != "linux/arm64" || n.Component != "" || !strings.Contains(n.Text, "linux/amd64 only") {
		t.Errorf("gvisor-platforms: %+v %v", n, ok)
	}
	// The profile's arm64 gVisor note goes with gVisor's arm64 artifacts.
	if _, ok := findNote(r.Notes, "gvisor-arm64-page-size"); ok {
		t.Error("gvisor-arm64-page-size kept without arm64 gVisor")
	}
}

func TestVersionRanges(t *testing.T) {
	tests := []struct {
		component, rng string
		in, out        []string
	}{
		{"runc", "< 1.2.8", []string{"1.2.6", "1.0.0-rc3", "1.2.8-rc.1"}, []string{"1.2.8", "1.3.0"}},
		{"runc", ">= 1.4.0-rc.1, < 1.4.0-rc.3", []string{"1.4.0-rc.1", "1.4.0-rc.2"}, []string{"1.4.0-rc.3", "1.4.0", "1.3.9"}},
		{"containerd", ">= 2.0.0-0, < 2.1.0-0", []string{"2.0.0-rc.1", "2.0.0", "2.0.11"}, []string{"1.7.27", "2.1.0-beta.0", "2.1.0"}},
		{"gvisor", "< 20260101.0", []string{"20250331.0"}, []string{"20260817.0"}},
		{"kata", "= 3.7.0", []string{"3.7.0"}, []string{"3.7.1"}},
	}
	for _, tt := range tests {
		n := Note{Note: manifest.Note{Component: tt.component}, Affected: []string{tt.rng}}
		for _, v := range tt.in {
			if !n.appliesTo(v) {
				t.Errorf("%s %s not in %q", tt.component, v, tt.rng)
			}
		}
		for _, v := range tt.out {
			if n.appliesTo(v) {
				t.Errorf("%s %s in %q", tt.component, v, tt.rng)
			}
		}
	}
	for _, bad := range []string{"1.2.8", "<< 1.2.8", "< v1.2.8", ">= 1.0.0,"} {
		if _, err := parseRange("runc", bad); err == nil {
			t.Errorf("range %q accepted", bad)
		}
	}
}

// Every advisory loads and is consistent: its fixed releases are outside
// its affected ranges, its source is an https URL, its component known.
func TestAdvisories(t *testing.T) {
	ads := Advisories()
	if len(ads) < 30 {
		t.Fatalf("%d advisories", len(ads))
	}
	seen := map[string]bool{}
	for _, n := range ads {
		if seen[n.ID] {
			t.Errorf("advisory %s twice", n.ID)
		}
		seen[n.ID] = true
		if !knownComponent(n.Component) || !strings.HasPrefix(n.Source, "https://") {
			t.Errorf("%s: component %q source %q", n.ID, n.Component, n.Source)
		}
		for _, f := range n.FixedIn {
			if n.appliesTo(f) {
				t.Errorf("%s: fixed release %s is in its affected ranges %v", n.ID, f, n.Affected)
			}
		}
		for _, c := range n.CVEs {
			if !strings.HasPrefix(c, "CVE-") {
				t.Errorf("%s: %q is not a CVE id", n.ID, c)
			}
		}
	}
	// A note of an unknown kind, or a security note without its facts, is refused.
	for _, n := range []Note{
		{Note: manifest.Note{ID: "x", Component: "runc", Severity: "warning", Text: "t", Kind: "rumour"}},
		{Note: manifest.Note{ID: "x", Component: "runc", Severity: "warning", Text: "t", Kind: manifest.NoteSecurity, CVEs: []string{"CVE-1"}}},
		{Note: manifest.Note{ID: "x", Component: "runc", Severity: "warning", Text: "t", Kind: manifest.NoteEOL, Source: "https://x"}},
		{Note: manifest.Note{ID: "x", Component: "runc", Severity: "warning", Text: "t"}, Affected: []string{"1.2.8"}},
	} {
		if err := n.validate(); err == nil {
			t.Errorf("accepted %+v", n)
		}
	}
}

func TestSpecVersionsAndPlatformsValidate(t *testing.T) {
	for _, c := range []manifest.ComponentSpec{
		{Name: "kata", Version: "3.1.3", Versions: map[string]string{"linux/s390x": "3.2.0"}},
		{Name: "kata", Version: "3.1.3", Versions: map[string]string{"linux/arm64": "v3.2.0"}},
		{Name: "gvisor", Version: "20260817.0", Platforms: []string{"linux/riscv64"}},
	} {
		if _, err := Resolve(spec("", []string{"linux/amd64", "linux/arm64"}, c)); err == nil {
			t.Errorf("accepted %+v", c)
		}
	}
}
