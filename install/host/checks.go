package host

import (
	"fmt"
	"net/netip"
	"path"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/internal/human"
)

// Checks for what the target (Kylin V10: kernel 4.19, 64 KiB pages on
// aarch64, cgroup v1, SELinux) offers the runtimes. Remedies work on a
// host without a network: packages come from the installation media.

// localRepo says how to make the installation media a package source on
// a host without a network; installFromMedia installs packages from it.
func (p *preflight) localRepo() string {
	switch strings.ToLower(p.f.OS.ID) {
	case "debian", "ubuntu":
		return "add the installation media as a package source (apt-cdrom add, or a file: source for the mounted image)"
	}
	return "mount the Kylin V10 installation ISO as a local repository: mount -o loop,ro <the ISO> /mnt/kylin-iso; " +
		"write /etc/yum.repos.d/kylin-iso.repo with [kylin-iso] baseurl=file:///mnt/kylin-iso gpgcheck=1"
}

func (p *preflight) installCmd(pkgs string) string {
	switch strings.ToLower(p.f.OS.ID) {
	case "debian", "ubuntu":
		return "apt-get install " + pkgs
	}
	return "yum --disablerepo='*' --enablerepo=kylin-iso install " + pkgs
}

func (p *preflight) installFromMedia(pkgs string) string {
	return p.localRepo() + "; then " + p.installCmd(pkgs)
}

// pageSize: gVisor's release binaries are 4 KiB builds (RunscStarts).
func (p *preflight) pageSize() {
	if !p.has(component.Gvisor) || p.artifact(component.Gvisor) == nil {
		return
	}
	c, _ := p.ix.Component(component.Gvisor)
	ok, why := RunscStarts(p.f, c)
	if ok {
		return
	}
	p.add(Finding{ID: "page-size", Severity: p.runtime(SeverityError), Component: component.Gvisor,
		Message: fmt.Sprintf("the kernel uses %s pages; gvisor %s's runsc is built for %s pages and cannot start a sandbox: %s; satchel does not register the runsc runtime here",
			pageSizeName(p.f.PageSize), c.VersionFor(p.f.Platform()), pageSizeName(RunscPageSize(c)), why),
		Remedy: "boot Kylin's 4K-page kernel: copy Kylin's kernel-4k repository to this host, add it as a local yum repository (as with the ISO), " +
			"install its kernel, make it the default (grubby --set-default /boot/vmlinuz-<its release>) and reboot; `getconf PAGESIZE` then prints 4096. " +
			"Or leave gvisor out of the components (--components)"})
}

func pageSizeName(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n/1024)
	}
	return fmt.Sprintf("%d-byte", n)
}

// kataVirtiofsd: virtiofsd ≥ 1.4 on a kernel without pidfd_open
// (VirtiofsdSandbox). The seed's kata 3.12 failed this way on Kylin V10:
// QEMU reports "vhost-fs.sock: Connection refused" (kata-containers#11139).
func (p *preflight) kataVirtiofsd() {
	if !p.has(component.Kata) || p.artifact(component.Kata) == nil || p.f.PidfdOpen {
		return
	}
	c, _ := p.ix.Component(component.Kata)
	kv := KataVersion(c, p.f.Platform())
	vf := KataVirtiofsd(kv)
	if !VirtiofsdNeedsPidfdOpen(vf) {
		return
	}
	kernel := fmt.Sprintf("kernel %s has no pidfd_open(2) (added in Linux 5.3)", p.f.Kernel)
	if p.f.PidfdOpenError != "" {
		kernel = "whether the kernel has pidfd_open(2) (Linux 5.3) could not be checked: " + p.f.PidfdOpenError
	}
	p.add(Finding{ID: "virtiofsd-pidfd", Severity: p.runtime(SeverityWarning), Component: component.Kata,
		Message: fmt.Sprintf("kata %s ships virtiofsd %s, whose default sandbox (namespace) forks through pidfd_open(2); %s: with the default, virtiofsd fails and QEMU reports \"vhost-fs.sock: Connection refused\"",
			kv, vf, kernel),
		Remedy: `satchel configures kata's virtiofsd with --sandbox=chroot, which does not fork (virtio_fs_extra_args = ["--thread-pool-size=1", "--announce-submounts", "--sandbox=chroot"] in kata's configuration-qemu.toml); ` +
			`to avoid virtiofsd instead, set shared_fs = "virtio-9p" there`})
}

// moduleUse says what a module is for, in findings.
var moduleUse = map[string]string{
	"br_netfilter": "br_netfilter: bridged container traffic passes iptables only with it (port mappings between containers on one bridge, Kubernetes services)",
	"vhost":        "vhost: `kata-runtime check` requires it",
	"vhost_net":    "vhost_net: `kata-runtime check` requires it",
	"vhost_vsock":  "vhost_vsock: kata's runtime reaches the agent in the VM over vsock, although `kata-runtime check` lists it as optional",
}

// modules reports the modules selected components need that the running
// kernel lacks. overlay is overlay-missing's, kvm kvm-missing's.
func (p *preflight) modules() {
	for _, comp := range p.selected {
		var names, uses []string
		sev := ""
		for _, m := range componentModules(comp) {
			if m.Name == "overlay" || p.f.Module(m.Name).State != ModuleMissing {
				continue
			}
			names = append(names, m.Name)
			uses = append(uses, moduleUse[m.Name])
			if m.Required {
				sev = SeverityError
			} else if sev == "" {
				sev = SeverityWarning
			}
		}
		if len(names) == 0 {
			continue
		}
		p.add(Finding{ID: "module-missing", Severity: p.runtime(sev), Component: comp,
			Message: fmt.Sprintf("kernel %s lacks %s (not loaded, not built in, not in /lib/modules/%s/modules.dep): %s",
				p.f.Kernel, strings.Join(names, ", "), p.f.Kernel, strings.Join(uses, "; ")),
			Remedy: fmt.Sprintf("a module is part of a kernel build: if modprobe %s fails, look on the installation media for a modules package of kernel %s (%s; then yum --disablerepo='*' --enablerepo=kylin-iso list 'kernel*') and install it, or boot a kernel built with it",
				names[0], p.f.Kernel, p.localRepo())})
	}
}

// selinux explains what the SELinux mode means for each runtime.
func (p *preflight) selinux() {
	s := p.f.SELinux
	if !s.On() {
		return
	}
	mode := s.Mode
	if mode == "" {
		mode = "unknown"
	}
	if s.Config != "" && s.Config != s.Mode {
		mode += ", " + s.Config + " after a reboot"
	}
	if s.Policy != "" {
		mode += ", policy " + s.Policy
	}
	labelled := "Docker (\"selinux-enabled\", default false) and containerd's CRI (enable_selinux, default false) do not label containers unless configured to, so containers get no SELinux label of their own"
	if len(s.Labelling) > 0 {
		labelled = "the existing configuration of " + engines(s.Labelling) + " turns SELinux labelling of containers on, and satchel keeps it"
	}
	p.add(Finding{ID: "selinux", Severity: SeverityInfo, Message: "SELinux is " + mode + ": " + labelled,
		Remedy: "labelling containers needs a container SELinux policy on the host and selinux-enabled (Docker) or enable_selinux (containerd) set to true"})

	if p.has(component.Gvisor) {
		// runsc/specutils/specutils.go L160-161 refuses a spec with
		// Process.SelinuxLabel ("SELinux is not supported"); gVisor's FAQ
		// (g3doc/user_guide/FAQ.md L149-162) says to pass label=disable.
		f := Finding{ID: "selinux", Severity: SeverityInfo, Component: component.Gvisor,
			Message: "gVisor does not support SELinux labels: runsc refuses a container whose spec carries one (\"SELinux is not supported\")",
			Remedy:  "keep SELinux labelling off in Docker and containerd on hosts that run gVisor, or start gVisor containers with label=disable (docker run --security-opt label=disable; pods without seLinuxOptions)"}
		if len(s.Labelling) > 0 && (s.Mode == SELinuxEnforcing || s.Mode == SELinuxPermissive) {
			f.Severity = SeverityWarning
			verb := " labels"
			if len(s.Labelling) > 1 {
				verb = " label"
			}
			f.Message += "; " + engines(s.Labelling) + verb + " containers here, so every runsc container started without label=disable fails"
		}
		p.add(f)
	}
	if p.has(component.Kata) {
		// configuration-qemu.toml.in L472-480 @3.7.0; docs/Developer-Guide.md
		// L102-121: guest SELinux needs a rootfs built with SELINUX=yes.
		p.add(Finding{ID: "selinux", Severity: SeverityInfo, Component: component.Kata,
			Message: "kata applies a container's SELinux label to its QEMU process (disable_selinux = false, the default) and runs the guest without SELinux (disable_guest_selinux = true: kata-static's guest image is not built with SELINUX=yes)"})
	}
}

// cniSubnet checks the default network's subnet against the host's
// routes: a container network over a subnet the host reaches through an
// interface would cut the host off from it (issue 9).
func (p *preflight) cniSubnet() {
	if !p.has(component.CNI) || p.o.CNISubnet == "" {
		return
	}
	pfx, err := netip.ParsePrefix(p.o.CNISubnet)
	if err != nil {
		return // the plan refuses it with the reason
	}
	if r, ok := p.f.Net.RouteOverlapping(pfx); ok {
		p.add(Finding{ID: "cni-subnet", Severity: p.runtime(SeverityError), Component: component.CNI,
			Message: fmt.Sprintf("the default container network %s overlaps the host's route to %s (%s)", pfx, r.Prefix, r.Interface),
			Remedy:  "choose a subnet the host does not use (satchel-install apply --cni-subnet 10.89.0.0/16, say)"})
	}
}

// network checks the host tools a bundle cannot carry (issue 9).
func (p *preflight) network() {
	if !p.has(component.Docker) && !p.has(component.CNI) && !p.has(component.Containerd) && !p.has(component.Nerdctl) {
		return
	}
	n := p.f.Net
	if n.IPTables.Path == "" {
		msg := "no iptables in the target (looked in " + strings.Join(iptablesDirs, ", ") + ")"
		remedy := p.installFromMedia("iptables")
		// Into a directory, the tree may get iptables later (an image
		// build installs packages in any order): a warning there.
		add := func(comp, sev, why string) {
			p.add(Finding{ID: "iptables-missing", Severity: p.runtime(sev), Component: comp, Message: msg + ": " + why, Remedy: remedy})
		}
		needed := false
		for _, d := range component.All() {
			if why := d.NeedsHostTool("iptables"); why != "" && p.has(d.Name) {
				add(d.Name, SeverityError, why)
				needed = true
			}
		}
		if !needed {
			add("", SeverityWarning, "container networks that publish ports (CNI portmap, nerdctl run -p) need it")
		}
	} else {
		backend := n.IPTables.Backend
		if backend == "" {
			backend = "unknown"
		}
		via := ""
		if n.IPTables.Target != n.IPTables.Path {
			via = " -> " + path.Base(n.IPTables.Target)
		}
		p.add(Finding{ID: "iptables", Severity: SeverityInfo,
			Message: fmt.Sprintf("iptables: %s%s, %s backend; Docker, the CNI plugins and any Kubernetes network plugin must use the same one", n.IPTables.Path, via, backend)})
	}
	if n.IPv6 && n.IP6Tables.Path == "" {
		for _, d := range component.All() {
			if comp := d.Name; p.has(comp) && d.NeedsHostTool("iptables") != "" {
				p.add(Finding{ID: "ip6tables-missing", Severity: SeverityWarning, Component: comp,
					Message: "IPv6 is enabled but the target has no ip6tables: IPv6 port mappings and isolation rules cannot be set up",
					Remedy:  p.installFromMedia("iptables") + " (RHEL-like systems ship ip6tables in it); or keep containers on IPv4"})
			}
		}
	}
	p.ipForward()
}

// ipForward: routed container traffic needs net.ipv4.ip_forward = 1;
// apply sets it (SysctlsToSet) unless a later sysctl file turns it off.
func (p *preflight) ipForward() {
	if !slices.ContainsFunc(component.All(), func(d *component.Descriptor) bool { return d.Networks && p.has(d.Name) }) {
		return
	}
	s := p.f.Sysctl("net.ipv4.ip_forward")
	if s.BootFile != "" && s.BootFile != SysctlFile && s.Boot != "1" && sysctlAfter(s.BootFile, SysctlFile) {
		p.add(Finding{ID: "ip-forward", Severity: SeverityWarning,
			Message: fmt.Sprintf("%s sets net.ipv4.ip_forward = %s at boot, after satchel's %s: after a reboot containers cannot reach beyond the host", s.BootFile, s.Boot, SysctlFile),
			Remedy:  fmt.Sprintf("remove net.ipv4.ip_forward from %s, or set it to 1 there", s.BootFile)})
		return
	}
	if s.Value == "0" {
		p.add(Finding{ID: "ip-forward", Severity: SeverityInfo,
			Message: "IPv4 forwarding is off (net.ipv4.ip_forward = 0); apply turns it on, now and at boot (" + SysctlFile + "), for containers on bridge networks"})
	}
}

// sysctlAfter reports whether file a is applied after file b at boot:
// files by name, /etc/sysctl.conf last.
func sysctlAfter(a, b string) bool {
	if a == "/etc/sysctl.conf" {
		return true
	}
	if b == "/etc/sysctl.conf" {
		return false
	}
	return path.Base(a) > path.Base(b)
}

// cgroup: cgroup v1 is the right mode on 4.19. Kubernetes supports cgroup
// v2 only on kernel 5.8 and later (kubernetes/website content/en/docs/
// concepts/architecture/cgroups.md @0637786b, "Requirements").
func (p *preflight) cgroup() {
	switch p.f.Cgroup {
	case CgroupNone:
		if p.has(component.Containerd) {
			p.add(Finding{ID: "cgroup-missing", Severity: p.runtime(SeverityError), Component: component.Containerd,
				Message: "no cgroup filesystem is mounted at /sys/fs/cgroup: containers cannot be limited or even started",
				Remedy:  "boot with systemd, which mounts cgroups"})
		}
	case CgroupV2:
		p.add(Finding{ID: "cgroup", Severity: SeverityInfo, Message: "cgroup v2 (unified hierarchy)"})
	case CgroupV1, CgroupHybrid:
		// runc docs/deprecated.md L5-11 (cgroup v1 deprecated in v1.4.0,
		// "(May 2029)"); containerd RELEASES.md L615-620 (deprecated in
		// v2.2, May 2029); Docker 29 warns at start (daemon/info_unix.go
		// L150-152 @docker-v29.7.2).
		msg := "cgroup " + p.f.Cgroup + ": the bundled runtimes support it; runc 1.4 and containerd 2.2 deprecate cgroup v1 but keep it supported until at least May 2029"
		remedy := ""
		if p.f.Kernel == "" || compareVersions(p.f.Kernel, "5.8") < 0 {
			msg += fmt.Sprintf("; on kernel %s cgroup v1 is the right mode: Kubernetes supports cgroup v2 only on kernel 5.8 and later", orUnknown(p.f.Kernel))
			remedy = "keep cgroup v1"
		} else {
			remedy = "cgroup v2 is an option on this kernel: boot with systemd.unified_cgroup_hierarchy=1 (runc recommends systemd 244 or later for it) and use the systemd cgroup driver in kubelet and containerd; or stay on cgroup v1"
		}
		p.add(Finding{ID: "cgroup", Severity: SeverityInfo, Message: msg, Remedy: remedy})
		p.kubeletCgroupV1()
	}
}

// kubeletCgroupV1: KEP-5573 (kubernetes/enhancements keps/sig-node/
// 5573-remove-cgroup-v1 @ebf755aa): "Clusters upgrading to Kubernetes
// v1.35+ on cgroup v1 hosts will fail to start kubelet unless FailCgroupV1
// is set to false"; the kubelet configuration field is failCgroupV1.
func (p *preflight) kubeletCgroupV1() {
	k := p.f.Kubelet
	msg := "Kubernetes 1.35 and later do not start kubelet on cgroup v1 unless its configuration sets failCgroupV1: false (KEP-5573)"
	remedy := "for kubelet 1.35 and later, add failCgroupV1: false to the kubelet configuration file (kubeadm: " + kubeletConfig + ") and restart kubelet; older kubelets do not know the field"
	switch {
	case k.FailCgroupV1 == "false":
		msg += "; " + k.Config + " sets it"
		remedy = ""
	case k.Path != "" && k.Config != "":
		msg += fmt.Sprintf("; kubelet is at %s and %s does not set it", k.Path, k.Config)
	case k.Path != "":
		msg += "; kubelet is at " + k.Path
	}
	p.add(Finding{ID: "kubelet-cgroup-v1", Severity: SeverityInfo, Message: msg, Remedy: remedy})
}

// engines names engines for people: "Docker and containerd".
func engines(names []string) string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = n
		if n == component.Docker {
			out[i] = "Docker"
		}
	}
	return strings.Join(out, " and ")
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// saturating arithmetic for the disk estimate: sizes come from a bundle,
// and a sum that wraps would pass any check.
func addSat(a, b uint64) uint64 {
	if s := a + b; s >= a {
		return s
	}
	return ^uint64(0)
}

func mulSat(a, b uint64) uint64 {
	if a == 0 || b == 0 {
		return 0
	}
	if a > ^uint64(0)/b {
		return ^uint64(0)
	}
	return a * b
}

// size reads a size from the index: negative sizes count as 0.
func size(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}

// humanBytes is human.Bytes for uint64, saturating at the int64 maximum.
func humanBytes(n uint64) string {
	if n > 1<<63-1 {
		return "more than " + human.Bytes(1<<63-1)
	}
	return human.Bytes(int64(n))
}
