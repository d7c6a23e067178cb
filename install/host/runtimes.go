package host

import (
	"path"
	"regexp"
	"slices"
	"strconv"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// What the plan should do with the facts: the helpers below turn facts into
// the settings apply writes, so that preflight's findings and the plan say
// the same thing.

// GvisorVariant64K marks a gvisor component built for 64 KiB pages
// (bazel build --define=pagesize=64k //runsc:runsc, google/gvisor PR
// #12656, first in release-20260309.0). gVisor's release binaries are 4K
// builds: no pagesize define appears in its release tooling (.buildkite/,
// tools/*.sh, Makefile @release-20260817.0).
const GvisorVariant64K = "pagesize-64k"

// RunscPageSize is the page size a gvisor component's runsc was built for.
func RunscPageSize(c *manifest.Component) int {
	if c != nil && c.Variant == GvisorVariant64K {
		return PageSize64K
	}
	return PageSize4K
}

// RunscStarts reports whether the bundle's runsc can start sandboxes on
// the host, and if not, why (upstream's error). Only arm64 kernels come in
// more than one page size; on amd64 it is always 4 KiB.
//
// The plan should not register the runsc runtime (containerd, Docker, the
// gvisor RuntimeClass) when it cannot start.
func RunscStarts(f *Facts, c *manifest.Component) (bool, string) {
	if f.Arch != "arm64" || f.PageSize <= 0 {
		return true, ""
	}
	built := RunscPageSize(c)
	if f.PageSize == built {
		return true, ""
	}
	version := ""
	if c != nil {
		version = c.VersionFor("linux/arm64")
	}
	// Until release-20260330.0 hostarch panics at init ("Only 4K page size
	// is supported on arm64!", pkg/hostarch/hostarch_arm64.go L98
	// @release-20250331.0; google/gvisor#8196, which has a report from
	// kylin 4.19.90-52.39.v2207.ky10.aarch64). Since then (PR #12775,
	// commit bf87740ed) hostarch only warns and `runsc boot` stops:
	// runsc/cmd/sentry/sentrycmd/boot.go L339-341 @release-20260817.0.
	if built == PageSize4K && version != "" && compareVersions(version, "20260330.0") < 0 {
		return false, `runsc panics at start: "Only 4K page size is supported on arm64!"`
	}
	return false, "`runsc boot` fails: \"host page size (" + strconv.Itoa(f.PageSize) + ") does not match compiled page size (" + strconv.Itoa(built) + ")\""
}

// kataVirtiofsd maps kata-static releases to the virtiofsd they ship,
// from versions.yaml at each tag (externals.virtiofsd.version; for ≤ 3.2.0
// x86_64 takes the gitlab release zip of that version).
var kataVirtiofsd = []struct{ kata, virtiofsd string }{
	{"3.1.3", "1.3.0"},   // versions.yaml L290-293 @3.1.3
	{"3.2.0", "1.8.0"},   // L313-316 @3.2.0
	{"3.7.0", "1.8.0"},   // L341-344 @3.7.0
	{"3.12.0", "1.8.0"},  // kata-containers#11139 (QEMU 9.1.2, virtiofsd 1.8.0)
	{"3.13.0", "1.13.0"}, // L354-358 @3.13.0: cecc61bca981, "v1.13.0 + seccomp patch allowing the tkill syscall"
}

// KataVirtiofsd returns the virtiofsd version a kata-static release ships:
// the version of the nearest release at or below it in kataVirtiofsd (the
// pin only moves forward between the releases listed), "" below 3.1.3.
func KataVirtiofsd(kataVersion string) string {
	v := ""
	for _, e := range kataVirtiofsd {
		if compareVersions(kataVersion, e.kata) >= 0 {
			v = e.virtiofsd
		}
	}
	return v
}

// VirtiofsdNeedsPidfdOpen reports whether a virtiofsd version's default
// sandbox needs pidfd_open(2). virtiofsd v1.4.0 added it: commit a7ef12709a7d
// "sandbox: Fix PR_SET_PDEATHSIG race condition" makes util::sfork() call
// pidfd_open before fork() and fail when it fails (src/util.rs L53-68
// @v1.8.0); v1.3.0 still forks with plain libc::fork() (src/sandbox.rs
// L376). Only the default "namespace" sandbox forks (enter_namespace calls
// sfork, sandbox.rs L385 and L454 @v1.8.0, L424/L499 @v1.13.0).
func VirtiofsdNeedsPidfdOpen(virtiofsdVersion string) bool {
	return virtiofsdVersion != "" && compareVersions(virtiofsdVersion, "1.4.0") >= 0
}

// VirtiofsdSandboxChroot is the virtiofsd sandbox that works without
// pidfd_open: enter_chroot() opens /proc/self/fd and mountinfo, then
// chroot()s, without forking (src/sandbox.rs L466-500 @v1.8.0). It needs
// root (L517), which kata runs virtiofsd as; --sandbox takes
// namespace|chroot|none, default namespace (src/main.rs L527-529).
const VirtiofsdSandboxChroot = "chroot"

// VirtiofsdSandbox returns the virtiofsd sandbox mode kata must configure
// on this host, "" for virtiofsd's default. It is "chroot" when the
// bundle's kata ships a virtiofsd ≥ 1.4 and the kernel has no pidfd_open
// (or the probe could not tell: chroot works on every kernel).
//
// The plan renders it into the hypervisor section of kata's
// configuration-qemu.toml: virtio_fs_extra_args is appended verbatim to
// virtiofsd's command line (src/runtime/virtcontainers/virtiofsd.go
// args(), L182-200 @3.7.0, L183-201 @3.1.3), default
// ["--thread-pool-size=1", "--announce-submounts"] (src/runtime/Makefile
// DEFVIRTIOFSEXTRAARGS L265 @3.7.0, L213 @3.1.3), so the setting becomes
// ["--thread-pool-size=1", "--announce-submounts", "--sandbox=chroot"].
func VirtiofsdSandbox(f *Facts, kataVersion string) string {
	if f.PidfdOpen || !VirtiofsdNeedsPidfdOpen(KataVirtiofsd(kataVersion)) {
		return ""
	}
	return VirtiofsdSandboxChroot
}

// kataStaticVersion reads the release from a kata-static archive's name
// (kata-static-3.2.0-arm64.tar.xz).
var kataStaticVersion = regexp.MustCompile(`^kata-static-(\d+\.\d+\.\d+)-`)

// KataVersion is the kata release of the component's files for a
// platform: the artifact's recorded release; in indexes written before
// artifacts had versions, the archive's upstream name, which wins over the
// component's version there (issue 10: "kata 3.1.3" next to the 3.2.0
// arm64 archive).
func KataVersion(c *manifest.Component, platform string) string {
	for _, a := range c.ArtifactsFor(platform) {
		if a.Version != "" {
			return a.Version
		}
		if m := kataStaticVersion.FindStringSubmatch(path.Base(a.URL)); m != nil {
			return m[1]
		}
	}
	return c.Version
}

// componentModules are the kernel modules a component needs: its
// descriptor's (package component, where each is cited).
func componentModules(name string) []component.Module {
	if d, ok := component.Lookup(name); ok {
		return d.Modules
	}
	return nil
}

// kvmModules are the KVM modules for the host's CPU.
func kvmModules(f *Facts) []string {
	switch {
	case f.Arch != "amd64":
		return []string{"kvm"}
	case f.CPUVirt == "svm":
		return []string{"kvm", "kvm_amd"}
	case f.CPUVirt == "vmx":
		return []string{"kvm", "kvm_intel"}
	}
	return []string{"kvm"}
}

// ModulesToLoad lists, sorted, the modules the selected components need
// that are modules (loaded now, or loadable) rather than built in, and that
// no modules-load.d file other than satchel's loads at boot.
//
// The plan writes them, one per line, to ModulesLoadFile
// (/etc/modules-load.d/satchel.conf), which systemd-modules-load reads at
// boot, and loads them now with modprobe; uninstall removes the file. An
// empty list means no file.
func ModulesToLoad(f *Facts, components []string) []string {
	var out []string
	want := func(n string) {
		m := f.Module(n)
		if (m.State == ModuleLoaded || m.State == ModuleLoadable) && (m.BootFile == "" || m.BootFile == ModulesLoadFile) && !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	for _, c := range components {
		for _, m := range componentModules(c) {
			want(m.Name)
		}
		if c == component.Kata {
			for _, n := range kvmModules(f) {
				want(n)
			}
		}
	}
	slices.Sort(out)
	return out
}

// SysctlFile is the sysctl.d file satchel writes (see SysctlsToSet).
const SysctlFile = "/etc/sysctl.d/99-satchel.conf"

// SysctlsToSet lists the kernel settings the selected components need
// that the root's configuration does not already set at boot: IPv4
// forwarding for the components that put containers on networks
// (component.Descriptor.Networks: containerd, Docker, the CNI plugins).
//
// The plan writes them as "key = value" lines to SysctlFile and applies
// them now (writing /proc/sys, as `sysctl -w` does) on the live system;
// uninstall removes the file (and does not turn forwarding off, which other
// software may rely on by then).
func SysctlsToSet(f *Facts, components []string) []Sysctl {
	if !slices.ContainsFunc(components, func(c string) bool {
		d, ok := component.Lookup(c)
		return ok && d.Networks
	}) {
		return nil
	}
	s := f.Sysctl("net.ipv4.ip_forward")
	if s.Boot == "1" && s.BootFile != SysctlFile {
		return nil
	}
	return []Sysctl{{Key: "net.ipv4.ip_forward", Value: "1", Boot: "1", BootFile: SysctlFile}}
}

// KataAnnotationOverride reports whether a kata release lets pods pass
// virtiofsd arguments through the virtio_fs_extra_args annotation by
// default: kata before 3.31.0 lists it in DEFENABLEANNOTATIONS
// (src/runtime/Makefile L221 @3.7.0), which is CVE-2026-44210 /
// GHSA-rr59-xxvx-96qr, a VM escape; 3.31.0 dropped it (commit c945d2701c,
// "runtime: disable virtiofsd extra-args annotation by default"). The plan
// removes it from enable_annotations for such releases. An unknown
// version counts as affected.
func KataAnnotationOverride(kataVersion string) bool {
	if kataVersion == "" {
		return true
	}
	return manifest.CompareVersions(kataVersion, "3.31.0") < 0
}
