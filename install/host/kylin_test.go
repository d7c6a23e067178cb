package host

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

const (
	arm64Host = "kylin-v10-sp3-aarch64-64k"
	amd64Host = "kylin-v10-sp3-x86_64"
)

// kylinIndex is a bundle like the kylin-v10-2025 profile: gVisor release
// binaries, kata-static 3.1.3 for amd64 and 3.2.0 for arm64 (the archive
// names say so; the component version is amd64's, as indexes written
// before per-platform versions record it), and CNI plugins.
func kylinIndex(gvisor string) *manifest.Index {
	file := func(path string, size int64, glibc string) manifest.File {
		return manifest.File{Path: path, Mode: 0o755, Size: size, Glibc: glibc, Digest: digest(path)}
	}
	both := func(files ...manifest.File) []manifest.Artifact {
		return []manifest.Artifact{{Platform: "linux/amd64", Files: files}, {Platform: "linux/arm64", Files: files}}
	}
	kata := func(platform, version, arch string) manifest.Artifact {
		return manifest.Artifact{Platform: platform,
			URL: "https://github.com/kata-containers/kata-containers/releases/download/" + version + "/kata-static-" + version + "-" + arch + ".tar.xz",
			Files: []manifest.File{
				file("/opt/kata/bin/containerd-shim-kata-v2", 50*mib, "2.17"),
				file("/opt/kata/libexec/virtiofsd", 5*mib, manifest.GlibcStatic),
			}}
	}
	return &manifest.Index{
		FormatVersion: manifest.FormatVersion,
		Platforms:     []string{"linux/amd64", "linux/arm64"},
		Requirements:  manifest.Requirements{MinKernel: "4.19"},
		Components: []manifest.Component{
			{Name: "runc", Version: "1.4.3", Artifacts: both(file("/usr/local/bin/runc", 12*mib, manifest.GlibcStatic))},
			{Name: "containerd", Version: "2.3.4", Variant: "static", Artifacts: both(file("/usr/local/bin/containerd", 50*mib, manifest.GlibcStatic))},
			{Name: "docker", Version: "29.7.2", Artifacts: both(file("/usr/local/bin/dockerd", 70*mib, manifest.GlibcStatic))},
			{Name: "gvisor", Version: gvisor, Artifacts: both(file("/usr/local/bin/runsc", 60*mib, manifest.GlibcStatic))},
			{Name: "kata", Version: "3.1.3", Artifacts: []manifest.Artifact{
				kata("linux/amd64", "3.1.3", "x86_64"), kata("linux/arm64", "3.2.0", "arm64")}},
			{Name: "cni", Version: "1.9.1", Artifacts: both(file("/opt/cni/bin/bridge", 4*mib, manifest.GlibcStatic))},
		},
	}
}

var allComponents = []string{"runc", "containerd", "docker", "gvisor", "kata", "cni"}

func TestKylinAarch64With64KPages(t *testing.T) {
	f := loadHost(t, arm64Host, nil)
	if f.PageSize != PageSize64K || f.Arch != "arm64" || f.PidfdOpen || f.SELinux.Mode != SELinuxEnforcing || f.Glibc != "2.28" || len(f.Problems) > 0 {
		t.Fatalf("facts: page %d arch %s pidfd %v selinux %+v glibc %s problems %q", f.PageSize, f.Arch, f.PidfdOpen, f.SELinux, f.Glibc, f.Problems)
	}
	fs := Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true})

	g := want(t, fs, SeverityError, "page-size", "gvisor")
	for _, s := range []string{"64 KiB", "4 KiB", "Only 4K page size is supported on arm64!", "does not register the runsc runtime"} {
		if !strings.Contains(g.Message, s) {
			t.Errorf("page-size message lacks %q: %s", s, g.Message)
		}
	}
	for _, s := range []string{"kernel-4k", "getconf PAGESIZE", "--components"} {
		if !strings.Contains(g.Remedy, s) {
			t.Errorf("page-size remedy lacks %q: %s", s, g.Remedy)
		}
	}

	v := want(t, fs, SeverityWarning, "virtiofsd-pidfd", "kata")
	for _, s := range []string{"kata 3.2.0 ships virtiofsd 1.8.0", "pidfd_open", "4.19.90-52.22.v2207.ky10.aarch64", "vhost-fs.sock"} {
		if !strings.Contains(v.Message, s) {
			t.Errorf("virtiofsd message lacks %q: %s", s, v.Message)
		}
	}
	for _, s := range []string{"--sandbox=chroot", "virtio_fs_extra_args", `"--thread-pool-size=1", "--announce-submounts", "--sandbox=chroot"`, "virtio-9p"} {
		if !strings.Contains(v.Remedy, s) {
			t.Errorf("virtiofsd remedy lacks %q: %s", s, v.Remedy)
		}
	}

	// vhost and vhost_net load; vhost_vsock is not in this kernel.
	m := want(t, fs, SeverityWarning, "module-missing", "kata")
	if !strings.Contains(m.Message, "vhost_vsock") || strings.Contains(m.Message, "vhost_net") || !strings.Contains(m.Remedy, "modprobe vhost_vsock") || !strings.Contains(m.Remedy, "kylin-iso") {
		t.Errorf("module-missing: %s / %s", m.Message, m.Remedy)
	}
	want(t, fs, SeverityInfo, "selinux", "")
	if s := want(t, fs, SeverityInfo, "selinux", "gvisor"); !strings.Contains(s.Remedy, "label=disable") {
		t.Errorf("selinux gvisor remedy: %s", s.Remedy)
	}
	want(t, fs, SeverityInfo, "selinux", "kata")
	if i := want(t, fs, SeverityInfo, "iptables", ""); !strings.Contains(i.Message, "legacy") {
		t.Errorf("iptables: %s", i.Message)
	}
	want(t, fs, SeverityInfo, "ip-forward", "")
	c := want(t, fs, SeverityInfo, "cgroup", "")
	if !strings.Contains(c.Remedy, "keep cgroup v1") || strings.Contains(c.Remedy, "v2") || strings.Contains(c.Remedy, "unified") {
		t.Errorf("cgroup on 4.19 must not suggest cgroup v2: %s", c.Remedy)
	}
	if k := want(t, fs, SeverityInfo, "kubelet-cgroup-v1", ""); !strings.Contains(k.Remedy, "failCgroupV1: false") {
		t.Errorf("kubelet remedy: %s", k.Remedy)
	}
	for _, id := range []string{"iptables-missing", "ip6tables-missing", "kvm-missing", "cpu-virt-missing", "glibc-too-old", "overlay-missing", "probe-failed", "arch-unsupported", "platform-missing"} {
		none(t, fs, id)
	}
	if comps, whole := FailingComponents(fs); !slices.Equal(comps, []string{"gvisor"}) || whole {
		t.Errorf("FailingComponents = %v, %v: %v", comps, whole, ids(fs))
	}

	// What the plan does with it.
	gv, _ := kylinIndex("20250331.0").Component("gvisor")
	if ok, why := RunscStarts(f, gv); ok || why == "" {
		t.Errorf("RunscStarts = %v %q", ok, why)
	}
	kata, _ := kylinIndex("").Component("kata")
	if kv := KataVersion(kata, f.Platform()); kv != "3.2.0" {
		t.Errorf("KataVersion(arm64) = %s", kv)
	}
	if s := VirtiofsdSandbox(f, "3.2.0"); s != "chroot" {
		t.Errorf("VirtiofsdSandbox = %q", s)
	}
	if got := ModulesToLoad(f, allComponents); !slices.Equal(got, []string{"br_netfilter", "overlay", "vhost", "vhost_net"}) {
		t.Errorf("ModulesToLoad = %v (kvm is built in, vhost_vsock missing)", got)
	}
	if got := SysctlsToSet(f, allComponents); len(got) != 1 || got[0].Key != "net.ipv4.ip_forward" || got[0].Value != "1" {
		t.Errorf("SysctlsToSet = %+v", got)
	}

	// Installing into a directory for another machine, the page size is
	// the running machine's: a warning.
	fs = Preflight(f, kylinIndex("20250331.0"), PreflightOptions{})
	want(t, fs, SeverityWarning, "page-size", "gvisor")
	want(t, fs, SeverityInfo, "virtiofsd-pidfd", "kata")

	// Leaving gvisor out leaves nothing failing.
	fs = Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true, Components: []string{"runc", "containerd", "kata", "cni"}})
	if Failed(fs, nil) {
		t.Errorf("without gvisor: %v", ids(fs))
	}
}

func TestKylinAarch64GvisorReleases(t *testing.T) {
	f := loadHost(t, arm64Host, nil)
	// Since release-20260330.0 runsc no longer panics: `runsc boot` stops.
	g := want(t, Preflight(f, kylinIndex("20260817.0"), PreflightOptions{TargetIsLive: true, Components: []string{"gvisor"}}), SeverityError, "page-size", "gvisor")
	if !strings.Contains(g.Message, "host page size (65536) does not match compiled page size (4096)") {
		t.Errorf("page-size message: %s", g.Message)
	}
	// A 64K build runs here, and not on a 4K kernel.
	ix := kylinIndex("20260817.0")
	gv, _ := ix.Component("gvisor")
	gv.Variant = GvisorVariant64K
	none(t, Preflight(f, ix, PreflightOptions{TargetIsLive: true, Components: []string{"gvisor"}}), "page-size")
	f.PageSize = PageSize4K
	want(t, Preflight(f, ix, PreflightOptions{TargetIsLive: true, Components: []string{"gvisor"}}), SeverityError, "page-size", "gvisor")
}

func TestKylinAarch64ModulesMissing(t *testing.T) {
	f := loadHost(t, arm64Host, func(dir string) {
		// A kernel without vhost_net and br_netfilter.
		dep := filepath.Join(dir, "lib/modules/4.19.90-52.22.v2207.ky10.aarch64/modules.dep")
		b, _ := os.ReadFile(dep)
		var keep []string
		for _, l := range strings.Split(string(b), "\n") {
			if !strings.Contains(l, "vhost_net.ko") && !strings.Contains(l, "br_netfilter.ko") {
				keep = append(keep, l)
			}
		}
		os.WriteFile(dep, []byte(strings.Join(keep, "\n")), 0o644)
	})
	fs := Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true})
	m := want(t, fs, SeverityError, "module-missing", "kata")
	if !strings.Contains(m.Message, "vhost_net") || !strings.Contains(m.Message, "vhost_vsock") || !strings.Contains(m.Message, "kata-runtime check") {
		t.Errorf("kata modules: %s", m.Message)
	}
	for _, c := range []string{"docker", "cni"} {
		if b := want(t, fs, SeverityWarning, "module-missing", c); !strings.Contains(b.Message, "br_netfilter") {
			t.Errorf("%s: %s", c, b.Message)
		}
	}
	if comps, _ := FailingComponents(fs); !slices.Equal(comps, []string{"gvisor", "kata"}) {
		t.Errorf("FailingComponents = %v", comps)
	}
}

func TestKylinX86_64(t *testing.T) {
	f := loadHost(t, amd64Host, nil)
	if f.PageSize != PageSize4K || f.Arch != "amd64" || f.CPUVirt != "vmx" || len(f.Problems) > 0 {
		t.Fatalf("facts: page %d arch %s cpu %s problems %q", f.PageSize, f.Arch, f.CPUVirt, f.Problems)
	}
	fs := Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true})
	none(t, fs, "page-size")       // gVisor passes on 4K pages
	none(t, fs, "virtiofsd-pidfd") // kata 3.1.3 ships virtiofsd 1.3.0
	none(t, fs, "module-missing")
	if Failed(fs, nil) {
		t.Errorf("x86_64 fails: %v", ids(fs))
	}
	if ok, _ := RunscStarts(f, nil); !ok {
		t.Error("RunscStarts on x86_64")
	}
	if s := VirtiofsdSandbox(f, "3.1.3"); s != "" {
		t.Errorf("VirtiofsdSandbox(3.1.3) = %q", s)
	}
	// Docker labels containers and SELinux is on: runsc refuses them.
	g := want(t, fs, SeverityWarning, "selinux", "gvisor")
	if !strings.Contains(g.Message, "Docker labels containers here") || !strings.Contains(g.Remedy, "label=disable") {
		t.Errorf("selinux gvisor: %s / %s", g.Message, g.Remedy)
	}
	if s := want(t, fs, SeverityInfo, "selinux", ""); !strings.Contains(s.Message, "permissive, enforcing after a reboot") {
		t.Errorf("selinux: %s", s.Message)
	}
	if i := want(t, fs, SeverityInfo, "iptables", ""); !strings.Contains(i.Message, "xtables-nft-multi, nf_tables") {
		t.Errorf("iptables: %s", i.Message)
	}
	want(t, fs, SeverityWarning, "ip6tables-missing", "docker")
	want(t, fs, SeverityWarning, "ip6tables-missing", "cni")
	ipf := want(t, fs, SeverityWarning, "ip-forward", "")
	if !strings.Contains(ipf.Message, "/etc/sysctl.conf sets net.ipv4.ip_forward = 0") || !strings.Contains(ipf.Remedy, "/etc/sysctl.conf") {
		t.Errorf("ip-forward: %s / %s", ipf.Message, ipf.Remedy)
	}
	if k := want(t, fs, SeverityInfo, "kubelet-cgroup-v1", ""); !strings.Contains(k.Message, "/usr/bin/kubelet") || !strings.Contains(k.Message, "does not set it") {
		t.Errorf("kubelet: %s", k.Message)
	}
	// kvm_intel is loaded at boot by the administrator's file.
	if got := ModulesToLoad(f, allComponents); !slices.Equal(got, []string{"br_netfilter", "kvm", "overlay", "vhost", "vhost_net", "vhost_vsock"}) {
		t.Errorf("ModulesToLoad = %v", got)
	}
	if got := ModulesToLoad(f, []string{"runc"}); got != nil {
		t.Errorf("ModulesToLoad(runc) = %v", got)
	}

	// kata 3.2.0 on this kernel would need the chroot sandbox too.
	ix := kylinIndex("20250331.0")
	k, _ := ix.Component("kata")
	k.Artifacts[0].URL = strings.ReplaceAll(k.Artifacts[0].URL, "3.1.3", "3.2.0")
	want(t, Preflight(f, ix, PreflightOptions{TargetIsLive: true}), SeverityWarning, "virtiofsd-pidfd", "kata")
}

func TestKylinIPTablesMissing(t *testing.T) {
	f := loadHost(t, amd64Host, func(dir string) {
		for _, p := range []string{"usr/sbin/iptables", "usr/sbin/iptables-nft", "usr/sbin/xtables-nft-multi"} {
			if err := os.Remove(filepath.Join(dir, "root", p)); err != nil {
				t.Fatal(err)
			}
		}
	})
	if f.Net.IPTables.Path != "" {
		t.Fatalf("iptables found: %+v", f.Net.IPTables)
	}
	fs := Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true})
	for _, c := range []string{"docker", "cni"} {
		m := want(t, fs, SeverityError, "iptables-missing", c)
		if !strings.Contains(m.Remedy, "yum --disablerepo='*' --enablerepo=kylin-iso install iptables") || !strings.Contains(m.Remedy, "mount -o loop") {
			t.Errorf("%s remedy: %s", c, m.Remedy)
		}
	}
	none(t, fs, "iptables")
	if comps, _ := FailingComponents(fs); !slices.Equal(comps, []string{"cni", "docker"}) {
		t.Errorf("FailingComponents = %v", comps)
	}
	// Without docker and cni it is a warning about the whole bundle.
	fs = Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true, Components: []string{"runc", "containerd"}})
	want(t, fs, SeverityWarning, "iptables-missing", "")
	if Failed(fs, nil) {
		t.Errorf("containerd alone fails: %v", ids(fs))
	}
	// A runc-only install needs no network tools.
	none(t, Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true, Components: []string{"runc"}}), "iptables-missing")

	// An iptables that is a directory, or not executable, is no iptables.
	f = loadHost(t, amd64Host, func(dir string) {
		os.Remove(filepath.Join(dir, "root/usr/sbin/iptables"))
		os.Mkdir(filepath.Join(dir, "root/usr/sbin/iptables"), 0o755)
		os.Chmod(filepath.Join(dir, "root/usr/sbin/xtables-nft-multi"), 0o644)
	})
	if f.Net.IPTables.Path != "" {
		t.Errorf("iptables: %+v", f.Net.IPTables)
	}
}

func TestKylinKubeletConfigured(t *testing.T) {
	f := loadHost(t, amd64Host, func(dir string) {
		os.WriteFile(filepath.Join(dir, "root", kubeletConfig), []byte("kind: KubeletConfiguration\nfailCgroupV1: false # cgroup v1 on 4.19\n"), 0o644)
	})
	if f.Kubelet.FailCgroupV1 != "false" {
		t.Fatalf("kubelet %+v", f.Kubelet)
	}
	k := want(t, Preflight(f, kylinIndex("20250331.0"), PreflightOptions{TargetIsLive: true}), SeverityInfo, "kubelet-cgroup-v1", "")
	if k.Remedy != "" || !strings.Contains(k.Message, "sets it") {
		t.Errorf("kubelet: %s / %s", k.Message, k.Remedy)
	}
}

func TestKylinIPTablesMissingIntoDirectory(t *testing.T) {
	f := loadHost(t, amd64Host, func(dir string) {
		os.Remove(filepath.Join(dir, "root/usr/sbin/iptables"))
	})
	fs := Preflight(f, kylinIndex("20250331.0"), PreflightOptions{})
	want(t, fs, SeverityWarning, "iptables-missing", "docker")
	want(t, fs, SeverityWarning, "iptables-missing", "cni")
}
