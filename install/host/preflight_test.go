package host

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

const mib = 1 << 20

func digest(s string) manifest.Digest { return manifest.DigestOf(manifest.SHA256, []byte(s)) }

// testIndex is a Kylin-like bundle: containerd, runc, docker and gVisor are
// static; kata's Go shim needs glibc 2.34 (kata ≥ 3.14) and has no arm64 build.
func testIndex() *manifest.Index {
	file := func(path string, size int64, glibc string) manifest.File {
		return manifest.File{Path: path, Mode: 0o755, Size: size, Glibc: glibc, Digest: digest(path)}
	}
	both := func(files ...manifest.File) []manifest.Artifact {
		return []manifest.Artifact{{Platform: "linux/amd64", Files: files}, {Platform: "linux/arm64", Files: files}}
	}
	ix := &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Platforms:     []string{"linux/amd64", "linux/arm64"},
		Requirements:  manifest.Requirements{MinKernel: "4.19"},
		Components: []manifest.Component{
			{Name: "containerd", Version: "2.0.4", Artifacts: both(
				file("/usr/local/bin/containerd", 50*mib, manifest.GlibcStatic),
				file("/usr/local/bin/ctr", 25*mib, manifest.GlibcStatic),
				file("/usr/local/bin/containerd-shim-runc-v2", 10*mib, manifest.GlibcStatic))},
			{Name: "runc", Version: "1.2.6", Artifacts: both(file("/usr/local/bin/runc", 12*mib, manifest.GlibcStatic))},
			{Name: "docker", Version: "27.5.1", Artifacts: both(
				file("/usr/local/bin/dockerd", 70*mib, manifest.GlibcStatic),
				file("/usr/local/bin/docker", 40*mib, manifest.GlibcStatic))},
			{Name: "gvisor", Version: "20250331.0", Artifacts: both(file("/usr/local/bin/runsc", 60*mib, manifest.GlibcStatic))},
			{Name: "kata", Version: "3.14.0", Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{
				file("/opt/kata/bin/containerd-shim-kata-v2", 60*mib, "2.34"),
				file("/opt/kata/bin/kata-runtime", 55*mib, "2.28"),
				file("/opt/kata/bin/qemu-system-x86_64", 20*mib, "2.17"),
				file("/opt/kata/share/kata-containers/vmlinux.container", 40*mib, ""),
				{Path: "/usr/local/bin/containerd-shim-kata-v2", Type: manifest.TypeSymlink, Target: "/opt/kata/bin/containerd-shim-kata-v2"},
			}}}},
		},
		Images: []manifest.Image{
			{Ref: "registry.k8s.io/pause:3.10", Blobs: []manifest.Digest{digest("pause-index"), digest("pause-layer")}},
			{Ref: "docker.io/library/nginx:1.27.4", Blobs: []manifest.Digest{digest("nginx-layer"), digest("pause-layer")}},
		},
		Blobs: []manifest.Blob{
			{Digest: digest("pause-index"), Size: 1024},
			{Digest: digest("pause-layer"), Size: 1 * mib},
			{Digest: digest("nginx-layer"), Size: 70 * mib},
		},
		Notes: []manifest.Note{
			{ID: "kata-glibc-2.34", Component: "kata", Severity: "error", Text: "kata 3.14 and later are built on Ubuntu 22.04 and need glibc 2.34"},
			{ID: "docker-kata-network", Component: "kata", Severity: "warning", Text: "Docker 27 with kata 3.14: containers started by docker under kata have no network"},
			{ID: "arm64-untested", Platform: "linux/arm64", Severity: "info", Text: "linux/arm64 is built but not tested on Kylin"},
			{ID: "old-kernel-kernel-5.4", Severity: "warning", Text: "some runsc features need kernel 5.4"},
		},
	}
	return ix
}

// kylinFacts is a Kylin V10 SP3 host with everything kata needs except a new enough glibc.
func kylinFacts() *Facts {
	return &Facts{
		Root: "/", Live: true,
		OS:   OSInfo{ID: "kylin", VersionID: "V10", Codename: "Lance", PrettyName: "Kylin Linux Advanced Server V10 (Lance)", Known: true},
		Arch: "amd64", Machine: "x86_64", Kernel: "4.19.90-52.22.v2207.ky10.x86_64",
		Overlay: true, Cgroup: CgroupV1, SystemdInit: true, SystemdInstalled: true,
		Glibc: "2.28", Libc: "/lib64/libc.so.6",
		KVM: KVM{Present: true, Usable: true}, CPUVirt: "vmx",
		Disks:    []Disk{{Path: "/", Free: 100 << 30, Device: 1}, {Path: "/var/lib", Free: 100 << 30, Device: 1}},
		PageSize: PageSize4K,
		Net:      Net{IPTables: Tool{Path: "/usr/sbin/iptables", Target: "/usr/sbin/xtables-legacy-multi", Backend: BackendLegacy}},
	}
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.Severity+":"+f.ID+":"+f.Component)
	}
	return out
}

func find(fs []Finding, id, component string) (Finding, bool) {
	for _, f := range fs {
		if f.ID == id && f.Component == component {
			return f, true
		}
	}
	return Finding{}, false
}

func want(t *testing.T, fs []Finding, sev, id, component string) Finding {
	t.Helper()
	f, ok := find(fs, id, component)
	if !ok {
		t.Fatalf("no %s finding %q for %q in %v", sev, id, component, ids(fs))
	}
	if f.Severity != sev {
		t.Errorf("%s/%s: severity %s, want %s", id, component, f.Severity, sev)
	}
	if f.Message == "" || (sev != SeverityInfo && f.Remedy == "") {
		t.Errorf("%s/%s: message %q remedy %q", id, component, f.Message, f.Remedy)
	}
	return f
}

func none(t *testing.T, fs []Finding, id string) {
	t.Helper()
	for _, f := range fs {
		if f.ID == id {
			t.Errorf("unexpected finding %s", f)
		}
	}
}

func TestPreflightKylin(t *testing.T) {
	fs := Preflight(kylinFacts(), testIndex(), PreflightOptions{TargetIsLive: true})
	want(t, fs, SeverityInfo, "os", "")
	want(t, fs, SeverityInfo, "cgroup", "")
	want(t, fs, SeverityInfo, "glibc", "")
	g := want(t, fs, SeverityError, "glibc-too-old", "kata")
	if !strings.Contains(g.Message, "/opt/kata/bin/containerd-shim-kata-v2 needs glibc 2.34") || !strings.Contains(g.Message, "2.28") {
		t.Errorf("glibc message: %s", g.Message)
	}
	n := want(t, fs, SeverityError, "kata-glibc-2.34", "kata")
	if !strings.Contains(n.Message, "glibc 2.28") {
		t.Errorf("note message does not name the host's glibc: %s", n.Message)
	}
	want(t, fs, SeverityWarning, "docker-kata-network", "kata")
	want(t, fs, SeverityWarning, "old-kernel-kernel-5.4", "") // 4.19 < 5.4
	none(t, fs, "arm64-untested")                             // another platform
	for _, id := range []string{"os-unknown", "arch-unsupported", "kernel-too-old", "overlay-missing", "systemd-not-init", "kvm-missing", "cpu-virt-missing", "disk-space", "probe-failed"} {
		none(t, fs, id)
	}
	// Only kata fails: the bundle installs without it.
	if !Failed(fs, nil) || !Failed(fs, []string{"kata"}) || Failed(fs, []string{"containerd", "runc", "docker", "gvisor"}) {
		t.Errorf("Failed: %v", ids(fs))
	}
	comps, whole := FailingComponents(fs)
	if !slices.Equal(comps, []string{"kata"}) || whole {
		t.Errorf("FailingComponents = %v, %v", comps, whole)
	}
	// With kata left out, nothing about kata is said.
	fs = Preflight(kylinFacts(), testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"containerd", "runc"}})
	if Failed(fs, nil) {
		t.Errorf("without kata: %v", ids(fs))
	}
	none(t, fs, "kata-glibc-2.34")
	none(t, fs, "docker-kata-network")
}

func TestPreflightGlibc(t *testing.T) {
	for _, tc := range []struct {
		host    string
		failing bool
	}{{"2.34", false}, {"2.35", false}, {"2.33", true}, {"2.3", true}, {GlibcNone, true}, {"", false}} {
		f := kylinFacts()
		f.Glibc = tc.host
		fs := Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"kata", "containerd"}})
		g, ok := find(fs, "glibc-too-old", "kata")
		if tc.failing != (ok && g.Severity == SeverityError) {
			t.Errorf("glibc %q: finding %v %+v", tc.host, ok, g)
		}
		if tc.host == "" && (!ok || g.Severity != SeverityWarning) {
			t.Errorf("unknown glibc: %+v, want a warning", g)
		}
		if tc.host == GlibcNone && !strings.Contains(g.Message, "none (musl or static)") {
			t.Errorf("no glibc: %s", g.Message)
		}
		_, noted := find(fs, "kata-glibc-2.34", "kata")
		if noted != (tc.failing || tc.host == "") {
			t.Errorf("glibc %q: note kata-glibc-2.34 shown %v", tc.host, noted)
		}
		// Static components never need a glibc.
		if _, ok := find(fs, "glibc-too-old", "containerd"); ok {
			t.Errorf("glibc %q: static containerd flagged", tc.host)
		}
	}
}

func TestPreflightOSAndArch(t *testing.T) {
	f := kylinFacts()
	f.OS = parseOSRelease([]byte("ID=exampleos\nID_LIKE=rhel\n"))
	fs := Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"runc"}})
	if w := want(t, fs, SeverityWarning, "os-unknown", ""); !strings.Contains(w.Message, "like rhel") {
		t.Errorf("os-unknown: %s", w.Message)
	}
	if Failed(fs, nil) {
		t.Errorf("an unknown OS alone fails: %v", ids(fs))
	}
	f.OS = OSInfo{}
	want(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), SeverityWarning, "os-unknown", "")

	f = kylinFacts()
	f.Arch = "loong64"
	fs = Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true})
	want(t, fs, SeverityError, "arch-unsupported", "")
	if _, whole := FailingComponents(fs); !whole {
		t.Error("a wrong arch is not a whole-bundle failure")
	}
	none(t, fs, "platform-missing")

	f.Arch = "arm64"
	f.CPUVirt = ""
	fs = Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true})
	want(t, fs, SeverityError, "platform-missing", "kata")
	none(t, fs, "cpu-virt-missing") // vmx/svm are x86 flags
	want(t, fs, SeverityInfo, "arm64-untested", "")

	fs = Preflight(kylinFacts(), testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"runc", "crun"}})
	want(t, fs, SeverityError, "component-missing", "crun")
}

func TestPreflightKernel(t *testing.T) {
	f := kylinFacts()
	f.Kernel = "4.18.0-348.el8.x86_64"
	fs := Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true})
	want(t, fs, SeverityError, "kernel-too-old", "")
	fs = Preflight(f, testIndex(), PreflightOptions{TargetIsLive: false})
	if k := want(t, fs, SeverityError, "kernel-too-old", ""); !strings.Contains(k.Message, "running kernel") {
		t.Errorf("into a directory, the message should say it is the running kernel: %s", k.Message)
	}
	f.Kernel = "4.19.0"
	none(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), "kernel-too-old")
}

// Checks about the running machine are errors on the live system and
// warnings when installing into a directory for another machine.
func TestPreflightRuntimeChecks(t *testing.T) {
	bare := kylinFacts()
	bare.Overlay = false
	bare.Cgroup = CgroupNone
	bare.SystemdInit = false
	bare.KVM = KVM{Error: "/dev/kvm does not exist"}
	bare.CPUVirt = ""
	bare.Glibc = "2.35"
	for _, live := range []bool{true, false} {
		t.Run(fmt.Sprintf("live=%v", live), func(t *testing.T) {
			sev := SeverityError
			if !live {
				sev = SeverityWarning
			}
			fs := Preflight(bare, testIndex(), PreflightOptions{TargetIsLive: live})
			want(t, fs, sev, "overlay-missing", "containerd")
			want(t, fs, sev, "overlay-missing", "docker")
			want(t, fs, sev, "cgroup-missing", "containerd")
			k := want(t, fs, sev, "kvm-missing", "kata")
			for _, s := range []string{"VT-x", "AMD-V", "nested", "VirtualBox", "VMware", "kata-runtime check"} {
				if !strings.Contains(k.Remedy, s) {
					t.Errorf("kvm remedy lacks %q: %s", s, k.Remedy)
				}
			}
			want(t, fs, sev, "cpu-virt-missing", "kata")
			if live {
				want(t, fs, SeverityWarning, "systemd-not-init", "")
			} else {
				none(t, fs, "systemd-not-init") // the tree has systemd
			}
			if Failed(fs, []string{"runc", "gvisor"}) {
				t.Errorf("runc+gvisor fail: %v", ids(fs))
			}
			if Failed(fs, nil) != live {
				t.Errorf("Failed = %v with live=%v: %v", Failed(fs, nil), live, ids(fs))
			}
		})
	}
	bare.SystemdInstalled = false
	want(t, Preflight(bare, testIndex(), PreflightOptions{TargetIsLive: false}), SeverityWarning, "systemd-not-init", "")

	f := kylinFacts()
	f.KVM = KVM{Present: true, Error: "KVM_CREATE_VM: operation not permitted"}
	if k := want(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), SeverityError, "kvm-missing", "kata"); !strings.Contains(k.Message, "KVM_CREATE_VM") {
		t.Errorf("kvm message: %s", k.Message)
	}
}

func TestPreflightConflicts(t *testing.T) {
	f := kylinFacts()
	f.Conflicts = []Conflict{
		{Kind: "package", Name: "docker-ce", Version: "26.1.3-1.el8", Manager: "rpm", Component: "docker"},
		{Kind: "package", Name: "containerd.io", Version: "1.6.32-3.1.el8", Manager: "rpm", Component: "containerd"},
		{Kind: "package", Name: "runc", Version: "1.1.12-1", Manager: "rpm", Component: "runc"},
		{Kind: "binary", Name: "dockerd", Path: "/usr/bin/dockerd", Component: "docker"},         // the package's
		{Kind: "binary", Name: "runc", Path: "/usr/local/bin/runc", Component: "runc"},           // ours: replaced
		{Kind: "binary", Name: "ctr", Path: "/usr/local/sbin/ctr", Component: "containerd"},      // covered by the package finding
		{Kind: "binary", Name: "containerd", Path: "/opt/bin/containerd", Component: "gvisor-x"}, // not selected
	}
	fs := Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"containerd", "runc", "docker"}})
	d := want(t, fs, SeverityError, "package-conflict", "docker")
	if !strings.Contains(d.Remedy, "rpm -e docker-ce") || !strings.Contains(d.Remedy, "systemctl disable --now") {
		t.Errorf("docker remedy: %s", d.Remedy)
	}
	c := want(t, fs, SeverityError, "package-conflict", "containerd")
	if !strings.Contains(c.Remedy, "rpm -e containerd.io") || !strings.Contains(c.Message, "containerd.io 1.6.32-3.1.el8 (rpm)") {
		t.Errorf("containerd: %s / %s", c.Message, c.Remedy)
	}
	want(t, fs, SeverityWarning, "package-conflict", "runc")
	none(t, fs, "binary-conflict")

	// Without packages, a stray binary is a warning; ours is not mentioned.
	f.Conflicts = []Conflict{
		{Kind: "binary", Name: "containerd", Path: "/usr/bin/containerd", Component: "containerd"},
		{Kind: "binary", Name: "containerd", Path: "/usr/local/bin/containerd", Component: "containerd"},
	}
	fs = Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"containerd"}})
	b := want(t, fs, SeverityWarning, "binary-conflict", "containerd")
	if !strings.Contains(b.Message, "/usr/bin/containerd") {
		t.Errorf("binary message: %s", b.Message)
	}
	if n := strings.Count(strings.Join(ids(fs), " "), "binary-conflict"); n != 1 {
		t.Errorf("%d binary findings, want 1 (ours is replaced, not a conflict)", n)
	}

	// Into a directory, a package conflict is a warning; dpkg gets apt-get.
	f.Conflicts = []Conflict{{Kind: "package", Name: "docker.io", Version: "20.10.24", Manager: "dpkg", Component: "docker"}}
	d = want(t, Preflight(f, testIndex(), PreflightOptions{Components: []string{"docker"}}), SeverityWarning, "package-conflict", "docker")
	if !strings.Contains(d.Remedy, "apt-get remove docker.io") {
		t.Errorf("dpkg remedy: %s", d.Remedy)
	}
}

func TestPreflightDisk(t *testing.T) {
	ix := testIndex()
	// What the documented estimate gives for containerd+runc+docker on amd64.
	var files, largest int64
	for _, c := range []string{"containerd", "runc", "docker"} {
		comp, _ := ix.Component(c)
		a, _ := comp.Artifact("linux/amd64")
		for _, fl := range a.Files {
			files += fl.Size
			largest = max(largest, fl.Size)
		}
	}
	images := int64(1024 + mib + 70*mib) // shared pause layer counted once
	need := func(factor int64) uint64 {
		n := files + largest + images*factor
		return uint64(n + n*marginPct/100)
	}
	comps := []string{"containerd", "runc", "docker"}
	for _, tc := range []struct {
		free   uint64
		stage  bool
		failed bool
	}{
		{need(6), false, false},
		{need(6) - 1, false, true},
		{need(6), true, true},
		{need(7), true, false},
		{1, false, true},
	} {
		f := kylinFacts()
		f.Disks = []Disk{{Path: "/", Free: tc.free, Device: 7}, {Path: "/var/lib", Free: tc.free, Device: 7}}
		fs := Preflight(f, ix, PreflightOptions{TargetIsLive: true, Components: comps, StageImages: tc.stage})
		d, ok := find(fs, "disk-space", "")
		if ok != tc.failed {
			t.Errorf("free %d staged %v: disk finding %v (%s)", tc.free, tc.stage, ok, d.Message)
		}
		if ok && (d.Severity != SeverityError || !strings.Contains(d.Remedy, "free ")) {
			t.Errorf("disk finding %+v", d)
		}
	}

	// Separate filesystems are checked separately: a full /var/lib fails
	// even with room elsewhere, and is named.
	f := kylinFacts()
	f.Disks = []Disk{{Path: "/", Free: 100 << 30, Device: 1}, {Path: "/usr/local", Free: 100 << 30, Device: 1}, {Path: "/var/lib", Free: 10 * mib, Device: 2}}
	d := want(t, Preflight(f, ix, PreflightOptions{TargetIsLive: true, Components: comps}), SeverityError, "disk-space", "")
	if !strings.Contains(d.Message, "/var/lib") {
		t.Errorf("disk message does not name /var/lib: %s", d.Message)
	}
}

func TestPreflightProblems(t *testing.T) {
	f := kylinFacts()
	f.Problems = []string{"cpuinfo: permission denied"}
	p := want(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true, Components: []string{"runc"}}), SeverityWarning, "probe-failed", "")
	if !strings.Contains(p.Message, "cpuinfo") {
		t.Errorf("probe message: %s", p.Message)
	}
}

func TestFindingString(t *testing.T) {
	s := Finding{ID: "kvm-missing", Severity: SeverityError, Component: "kata", Message: "no KVM", Remedy: "enable it"}.String()
	if s != "error: kata: no KVM [kvm-missing]\n  remedy: enable it" {
		t.Errorf("%q", s)
	}
}

// Security and end-of-life notes of the index (issue 10) are findings with
// their CVEs, fix and source, and a remedy that names the fixed releases;
// a note for another platform, or about a component not installed, is not.
func TestPreflightReleaseNotes(t *testing.T) {
	ix := testIndex()
	ix.Notes = append(ix.Notes,
		manifest.Note{ID: "kata-cve-2026-44210", Kind: manifest.NoteSecurity, Component: "kata", Version: "3.7.0", Severity: "warning",
			CVEs: []string{"CVE-2026-44210"}, FixedIn: []string{"3.31.0"}, Source: "https://github.com/kata-containers/kata-containers/security/advisories/GHSA-rr59-xxvx-96qr",
			Text: "kata 3.7.0: CVE-2026-44210 (VM escape). Fixed in 3.31.0. Source: https://github.com/kata-containers/kata-containers/security/advisories/GHSA-rr59-xxvx-96qr"},
		manifest.Note{ID: "kata-unsupported", Kind: manifest.NoteEOL, Component: "kata", Version: "3.7.0", Severity: "warning", Date: "2026-06-22",
			Source: "https://github.com/kata-containers/kata-containers/blob/main/docs/Release-Process.md", Text: "kata 3.7.0: end of life 2026-06-22"},
		manifest.Note{ID: "runc-cve-2025-31133", Kind: manifest.NoteSecurity, Component: "runc", Version: "1.2.6", Platform: "linux/arm64", Severity: "warning",
			CVEs: []string{"CVE-2025-31133"}, FixedIn: []string{"1.2.8"}, Source: "https://example.test", Text: "runc 1.2.6 on arm64"},
		manifest.Note{ID: "gvisor-platforms", Platform: "linux/amd64", Severity: "info", Text: "gvisor is not in this bundle for linux/amd64: it ships for linux/arm64 only, so a linux/amd64 host gets none of it."},
	)
	fs := Preflight(kylinFacts(), ix, PreflightOptions{TargetIsLive: true})
	f := want(t, fs, SeverityWarning, "kata-cve-2026-44210", "kata")
	if !strings.Contains(f.Message, "CVE-2026-44210") || !strings.Contains(f.Message, "GHSA-rr59") || !strings.Contains(f.Remedy, "3.31.0") {
		t.Errorf("security finding: %+v", f)
	}
	if f := want(t, fs, SeverityWarning, "kata-unsupported", "kata"); !strings.Contains(f.Remedy, "maintained kata") {
		t.Errorf("eol finding: %+v", f)
	}
	want(t, fs, SeverityInfo, "gvisor-platforms", "")
	if _, ok := find(fs, "runc-cve-2025-31133", "runc"); ok {
		t.Error("an arm64 note on an amd64 host")
	}
	fs = Preflight(kylinFacts(), ix, PreflightOptions{TargetIsLive: true, Components: []string{"containerd", "runc"}})
	if _, ok := find(fs, "kata-cve-2026-44210", "kata"); ok {
		t.Error("a kata note without kata")
	}
}
