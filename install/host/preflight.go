package host

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// Severities of a Finding.
const (
	SeverityError   = "error"   // the install (or the component) cannot work
	SeverityWarning = "warning" // it installs, but something will not work or needs attention
	SeverityInfo    = "info"    // worth knowing
)

// Finding is one preflight result.
type Finding struct {
	ID       string `json:"id"`
	Severity string `json:"severity"`
	// Component is the component concerned; "" means the whole bundle.
	Component string `json:"component,omitempty"`
	Message   string `json:"message"`
	Remedy    string `json:"remedy,omitempty"`
}

// String formats a finding for people: "error: kata: message\n  remedy: …".
func (f Finding) String() string {
	s := f.Severity + ": "
	if f.Component != "" {
		s += f.Component + ": "
	}
	s += f.Message + " [" + f.ID + "]"
	if f.Remedy != "" {
		s += "\n  remedy: " + f.Remedy
	}
	return s
}

// PreflightOptions say what is being installed where.
type PreflightOptions struct {
	// Components are the selected component names; nil selects all of the bundle's.
	Components []string
	// TargetIsLive is true when installing onto the running system (--root /).
	TargetIsLive bool
	// StageImages is true when images are staged on disk for import at first
	// boot (containerd not reachable), which needs their size once more.
	StageImages bool
	// CNISubnet is the default network's subnet, when apply writes one.
	CNISubnet string
}

// Preflight checks facts against a bundle and returns the findings, in a
// stable order. It never fails: what it cannot check is a finding too.
func Preflight(f *Facts, ix *manifest.Index, opts PreflightOptions) []Finding {
	p := &preflight{f: f, ix: ix, o: opts}
	p.selected = opts.Components
	if p.selected == nil {
		for _, c := range ix.Components {
			p.selected = append(p.selected, c.Name)
		}
	}
	for _, name := range p.selected {
		if _, ok := ix.Component(name); !ok {
			p.add(Finding{ID: "component-missing", Severity: SeverityError, Component: name,
				Message: fmt.Sprintf("the bundle has no component %q", name),
				Remedy:  "choose from the bundle's components: " + strings.Join(componentNames(ix), ", ")})
		}
	}
	p.os()
	p.arch()
	p.kernel()
	p.pageSize()
	p.overlay()
	p.cgroup()
	p.systemd()
	p.glibc()
	p.kata()
	p.kataVirtiofsd()
	p.modules()
	p.selinux()
	p.network()
	p.cniSubnet()
	p.conflicts()
	p.disk()
	p.notes()
	for _, pr := range f.Problems {
		p.add(Finding{ID: "probe-failed", Severity: SeverityWarning, Message: "could not check: " + pr,
			Remedy: "the checks that need this were skipped; run `satchel-install doctor` after installing"})
	}
	return p.out
}

// Failed reports whether findings hold an error that concerns the whole
// bundle or one of components (nil: any component).
func Failed(findings []Finding, components []string) bool {
	for _, f := range findings {
		if f.Severity == SeverityError && (f.Component == "" || components == nil || slices.Contains(components, f.Component)) {
			return true
		}
	}
	return false
}

// FailingComponents lists, sorted, the components with error findings, and
// whether an error concerns the whole bundle (then no choice of components
// avoids it).
func FailingComponents(findings []Finding) (components []string, whole bool) {
	for _, f := range findings {
		if f.Severity != SeverityError {
			continue
		}
		if f.Component == "" {
			whole = true
		} else if !slices.Contains(components, f.Component) {
			components = append(components, f.Component)
		}
	}
	slices.Sort(components)
	return components, whole
}

type preflight struct {
	f        *Facts
	ix       *manifest.Index
	o        PreflightOptions
	selected []string
	out      []Finding
}

func (p *preflight) add(f Finding) { p.out = append(p.out, f) }

func (p *preflight) has(component string) bool { return slices.Contains(p.selected, component) }

// runtime lowers the severity of a check about the running machine when the
// target is a directory that will run elsewhere.
func (p *preflight) runtime(sev string) string {
	if p.o.TargetIsLive {
		return sev
	}
	if sev == SeverityError {
		return SeverityWarning
	}
	return SeverityInfo
}

func componentNames(ix *manifest.Index) []string {
	var n []string
	for _, c := range ix.Components {
		n = append(n, c.Name)
	}
	return n
}

// artifact returns a selected component's files for the target platform,
// merged into one artifact (gVisor ships runsc and its shim as two).
func (p *preflight) artifact(name string) *manifest.Artifact {
	c, ok := p.ix.Component(name)
	if !ok {
		return nil
	}
	return mergedArtifact(c, p.f.Platform())
}

func mergedArtifact(c *manifest.Component, platform string) *manifest.Artifact {
	arts := c.ArtifactsFor(platform)
	if len(arts) == 0 {
		return nil
	}
	m := arts[0]
	m.Files = nil
	for _, a := range arts {
		m.Files = append(m.Files, a.Files...)
	}
	return &m
}

func (p *preflight) os() {
	o := p.f.OS
	if o.Known {
		p.add(Finding{ID: "os", Severity: SeverityInfo, Message: "operating system: " + o.String()})
		return
	}
	msg := "unknown operating system " + o.String()
	if o.ID == "" {
		msg = "no /etc/os-release in the target: operating system unknown"
	} else if len(o.IDLike) > 0 {
		msg += " (like " + strings.Join(o.IDLike, ", ") + ")"
	}
	p.add(Finding{ID: "os-unknown", Severity: SeverityWarning, Message: msg,
		Remedy: "satchel is built for Kylin V10, UOS, openEuler, CentOS/RHEL/Rocky, Debian and Ubuntu; the static binaries may still work: check with `satchel-install doctor` after installing"})
}

func (p *preflight) arch() {
	pl := p.f.Platform()
	if !slices.Contains(p.ix.Platforms, pl) {
		p.add(Finding{ID: "arch-unsupported", Severity: SeverityError,
			Message: fmt.Sprintf("the target is %s; the bundle carries %s", pl, strings.Join(p.ix.Platforms, ", ")),
			Remedy:  fmt.Sprintf("use a bundle built for %s (satchel-bundle build --platform %s)", pl, pl)})
		return
	}
	for _, name := range p.selected {
		if c, ok := p.ix.Component(name); ok && p.artifact(name) == nil {
			p.add(Finding{ID: "platform-missing", Severity: SeverityError, Component: name,
				Message: fmt.Sprintf("%s %s has no %s build in this bundle", name, c.Version, pl),
				Remedy:  fmt.Sprintf("leave %s out with --components, or bundle a %s version that ships for %s", name, name, pl)})
		}
	}
}

func (p *preflight) kernel() {
	min := p.ix.Requirements.MinKernel
	if min == "" || p.f.Kernel == "" {
		return
	}
	if compareVersions(p.f.Kernel, min) >= 0 {
		return
	}
	msg := fmt.Sprintf("kernel %s is older than %s, the oldest the bundled components support", p.f.Kernel, min)
	if !p.o.TargetIsLive {
		msg += " (this is the running kernel; the target tree may boot another)"
	}
	p.add(Finding{ID: "kernel-too-old", Severity: SeverityError, Message: msg,
		Remedy: "upgrade the kernel to " + min + " or later, or build a bundle with components for this kernel; when installing into a directory for another machine, give that machine's kernel release"})
}

func (p *preflight) overlay() {
	if p.f.Overlay {
		return
	}
	for _, c := range []string{"containerd", "docker"} {
		if !p.has(c) {
			continue
		}
		p.add(Finding{ID: "overlay-missing", Severity: p.runtime(SeverityError), Component: c,
			Message: fmt.Sprintf("kernel %s has no overlay filesystem (not in /proc/filesystems, no overlay module): %s's overlayfs snapshotter needs it", p.f.Kernel, c),
			Remedy:  "load it with `modprobe overlay` and make it permanent: echo overlay > /etc/modules-load.d/overlay.conf; or use a kernel built with CONFIG_OVERLAY_FS"})
	}
}

func (p *preflight) systemd() {
	if p.o.TargetIsLive {
		if !p.f.SystemdInit {
			p.add(Finding{ID: "systemd-not-init", Severity: SeverityWarning,
				Message: "systemd is not running as init (PID 1): units are written and enabled, but no service is started",
				Remedy:  "start containerd (and dockerd) yourself, e.g. from your init system, or install on a host booted with systemd"})
		}
		return
	}
	if !p.f.SystemdInstalled {
		p.add(Finding{ID: "systemd-not-init", Severity: SeverityWarning,
			Message: "the target tree has no systemd: units are written, but nothing there will start them",
			Remedy:  "install systemd in the tree, or start containerd (and dockerd) by the tree's own init"})
	}
}

// glibcNeed is the highest glibc a component's files need on the target platform.
func (p *preflight) glibcNeed(name string) (need, file string) {
	a := p.artifact(name)
	if a == nil {
		return "", ""
	}
	for _, fl := range a.Files {
		if fl.Glibc == "" || fl.Glibc == manifest.GlibcStatic {
			continue
		}
		if need == "" || compareVersions(fl.Glibc, need) > 0 {
			need, file = fl.Glibc, fl.Path
		}
	}
	return need, file
}

func (p *preflight) glibc() {
	host := p.f.Glibc
	switch {
	case host == GlibcNone && p.f.Libc != "":
		p.add(Finding{ID: "glibc", Severity: SeverityInfo, Message: "no glibc in the target (" + p.f.Libc + "): only static binaries run"})
	case host == GlibcNone:
		p.add(Finding{ID: "glibc", Severity: SeverityInfo, Message: "no glibc found in the target (musl or static): only static binaries run"})
	case host != "":
		p.add(Finding{ID: "glibc", Severity: SeverityInfo, Message: "glibc " + host + " (" + p.f.Libc + ")"})
	}
	for _, name := range p.selected {
		need, file := p.glibcNeed(name)
		if need == "" {
			continue
		}
		remedy := fmt.Sprintf("bundle a %s build linked statically (e.g. containerd's static variant) or against glibc %s or older, or leave %s out with --components", name, orNone(host), name)
		switch {
		case host == "":
			p.add(Finding{ID: "glibc-too-old", Severity: SeverityWarning, Component: name,
				Message: fmt.Sprintf("the target's glibc version is unknown; %s needs glibc %s", file, need), Remedy: remedy})
		case host == GlibcNone || compareVersions(host, need) < 0:
			p.add(Finding{ID: "glibc-too-old", Severity: SeverityError, Component: name,
				Message: fmt.Sprintf("%s needs glibc %s; the target has %s", file, need, glibcName(host)), Remedy: remedy})
		}
	}
}

func orNone(v string) string {
	if v == "" || v == GlibcNone {
		return "(none)"
	}
	return v
}

func glibcName(v string) string {
	if v == GlibcNone {
		return "none (musl or static)"
	}
	return v
}

const kvmRemedy = "enable VT-x (Intel) or AMD-V (AMD) in the firmware (BIOS/UEFI) setup; in a virtual machine enable nested virtualization " +
	"(VirtualBox: VBoxManage modifyvm VM --nested-hw-virt on; VMware: \"Virtualize Intel VT-x/EPT or AMD-V/RVI\"; KVM: options kvm_intel nested=1 or kvm_amd nested=1, and CPU mode host-passthrough); " +
	"load the module (modprobe kvm_intel or kvm_amd); `kata-runtime check` then confirms. Or leave kata out with --components"

func (p *preflight) kata() {
	if !p.has("kata") {
		return
	}
	if !p.f.KVM.Usable {
		msg := "kata runs each pod in a VM and needs KVM: "
		if !p.f.KVM.Present {
			msg += "/dev/kvm does not exist"
		} else {
			msg += "/dev/kvm cannot run a VM (" + p.f.KVM.Error + ")"
		}
		p.add(Finding{ID: "kvm-missing", Severity: p.runtime(SeverityError), Component: "kata", Message: msg, Remedy: kvmRemedy})
	}
	// vmx/svm are x86 flags; arm64 shows virtualization through /dev/kvm only.
	if p.f.Arch == "amd64" && p.f.CPUVirt == "" {
		p.add(Finding{ID: "cpu-virt-missing", Severity: p.runtime(SeverityError), Component: "kata",
			Message: "the CPU flags in /proc/cpuinfo show neither vmx (Intel VT-x) nor svm (AMD-V); `kata-runtime check` requires one",
			Remedy:  kvmRemedy})
	}
}

func (p *preflight) conflicts() {
	// Files this bundle installs are replaced, not in conflict.
	ours := map[string]bool{}
	for i := range p.ix.Components {
		if a := mergedArtifact(&p.ix.Components[i], p.f.Platform()); a != nil {
			for _, fl := range a.Files {
				ours[fl.Path] = true
			}
		}
	}
	type group struct {
		manager string
		pkgs    []string
	}
	byComp := map[string]*group{}
	var order []string
	for _, c := range p.f.Conflicts {
		if c.Kind != "package" || !p.has(c.Component) {
			continue
		}
		g, ok := byComp[c.Component]
		if !ok {
			g = &group{manager: c.Manager}
			byComp[c.Component] = g
			order = append(order, c.Component)
		}
		g.pkgs = append(g.pkgs, fmt.Sprintf("%s %s (%s)", c.Name, c.Version, c.Manager))
	}
	for _, comp := range order {
		g := byComp[comp]
		var names []string
		for _, c := range p.f.Conflicts {
			if c.Kind == "package" && c.Component == comp {
				names = append(names, c.Name)
			}
		}
		remove := "apt-get remove " + strings.Join(names, " ")
		if g.manager == "rpm" {
			remove = "rpm -e " + strings.Join(names, " ") + " (or dnf remove / yum remove, which also handle dependencies)"
		}
		sev, msg := SeverityError, fmt.Sprintf("packaged %s installed: %s; its service and socket would fight the bundled %s", comp, strings.Join(g.pkgs, ", "), comp)
		remedy := "remove it: " + remove + "; or keep it but stop and disable its services: systemctl disable --now docker.socket docker.service containerd.service"
		if comp == "runc" {
			// A packaged runc is a binary other tools (podman) use; it runs
			// no service. The bundled containerd uses its own runc by path.
			sev = SeverityWarning
			msg = fmt.Sprintf("packaged runc installed: %s; it stays for the tools that use it, the bundled containerd runs the bundled runc (/usr/local/bin/runc)", strings.Join(g.pkgs, ", "))
			remedy = "nothing to do unless something on PATH before /usr/local/bin must use the bundled runc; to remove it: " + remove
		}
		p.add(Finding{ID: "package-conflict", Severity: p.runtime(sev), Component: comp, Message: msg, Remedy: remedy})
	}
	for _, c := range p.f.Conflicts {
		if c.Kind != "binary" || !p.has(c.Component) || ours[c.Path] || byComp[c.Component] != nil {
			continue
		}
		p.add(Finding{ID: "binary-conflict", Severity: SeverityWarning, Component: c.Component,
			Message: fmt.Sprintf("%s is on PATH, from no package satchel can see and not from this bundle: whatever runs it competes with the bundled %s", c.Path, c.Component),
			Remedy:  fmt.Sprintf("remove or rename %s, and make sure no unit or script starts it (systemctl list-units | grep -E 'docker|containerd')", c.Path)})
	}
}

// Disk estimate: the files, the installer's own copy
// (/usr/local/bin/satchel-install, the size of the running executable),
// one more copy of the largest (the temporary file next to its target
// before the rename), images three times their stored size in /var/lib
// (containerd's content store plus unpacked layers; compressed layers
// typically unpack to about twice their size), again for Docker's own
// image store when docker is installed, once more when staged, and 10% on
// top. Sums saturate: sizes come from the bundle.
const (
	imageFactor = 3
	marginPct   = 10
	// installerPath is where apply copies the installer (state.SelfPath,
	// repeated: state needs rootfs, which builds on Linux only).
	installerPath = "/usr/local/bin/satchel-install"
)

func (p *preflight) disk() {
	if len(p.f.Disks) == 0 {
		return
	}
	need := map[uint64]uint64{}
	where := map[uint64]string{}
	add := func(path string, n uint64) {
		d := p.diskFor(path)
		need[d.Device] = addSat(need[d.Device], n)
		if _, ok := where[d.Device]; !ok || len(d.Path) > len(where[d.Device]) {
			where[d.Device] = d.Path
		}
	}
	var largest uint64
	var largestPath string
	file := func(path string, n uint64) {
		add(path, n)
		if n > largest {
			largest, largestPath = n, path
		}
	}
	for _, name := range p.selected {
		a := p.artifact(name)
		if a == nil {
			continue
		}
		for _, fl := range a.Files {
			if fl.Type == manifest.TypeFile {
				file(fl.Path, size(fl.Size))
			}
		}
	}
	if p.f.InstallerSize > 0 {
		file(installerPath, size(p.f.InstallerSize))
	}
	if largest > 0 {
		add(largestPath, largest)
	}
	seen := map[manifest.Digest]bool{}
	var images uint64
	for _, im := range p.ix.Images {
		for _, d := range im.Blobs {
			if b, ok := p.ix.Blob(d); ok && !seen[d] {
				seen[d] = true
				images = addSat(images, size(b.Size))
			}
		}
	}
	factor := uint64(imageFactor)
	if p.has(component.Docker) {
		factor += imageFactor
	}
	if p.o.StageImages {
		factor++
	}
	if images > 0 {
		add("/var/lib/containerd", mulSat(images, factor))
	}
	for _, d := range p.f.Disks {
		n, ok := need[d.Device]
		if !ok {
			continue
		}
		delete(need, d.Device) // once per filesystem
		n = addSat(n, n/100*marginPct+n%100*marginPct/100)
		if n <= d.Free {
			continue
		}
		p.add(Finding{ID: "disk-space", Severity: SeverityError,
			Message: fmt.Sprintf("the filesystem holding %s has %s free; the install needs about %s there (files, the installer, a temporary copy, images unpacked, %d%% margin)",
				where[d.Device], humanBytes(d.Free), humanBytes(n), marginPct),
			Remedy: fmt.Sprintf("free %s on the filesystem of %s, or install fewer components (--components)", humanBytes(n-d.Free), where[d.Device])})
	}
}

// diskFor returns the measured disk with the longest path prefix of path.
func (p *preflight) diskFor(path string) Disk {
	best := p.f.Disks[0]
	bestLen := -1
	for _, d := range p.f.Disks {
		prefix := strings.TrimSuffix(d.Path, "/") + "/"
		if (path == d.Path || strings.HasPrefix(path, prefix)) && len(d.Path) > bestLen {
			best, bestLen = d, len(d.Path)
		}
	}
	return best
}

// Note IDs that end in "glibc-X.Y" or "kernel-X.Y" hold only on hosts below
// that version (e.g. "kata-glibc-2.34": kata ≥ 3.14 needs glibc 2.34); other
// notes are about the bundle's own combination and always apply.
var noteCond = regexp.MustCompile(`(glibc|kernel)-(\d+(?:\.\d+)+)$`)

func (p *preflight) notes() {
	for _, n := range p.ix.Notes {
		if n.Component != "" && !p.has(n.Component) {
			continue
		}
		if n.Platform != "" && n.Platform != p.f.Platform() {
			continue
		}
		if m := noteCond.FindStringSubmatch(n.ID); m != nil {
			have := p.f.Glibc
			if m[1] == "kernel" {
				have = p.f.Kernel
			}
			if have != "" && have != GlibcNone && compareVersions(have, m[2]) >= 0 {
				continue // this host is new enough
			}
			if have == GlibcNone {
				have = glibcName(have)
			}
			if have == "" {
				have = "unknown"
			}
			sev := n.Severity
			if sev == "" {
				sev = SeverityWarning
			}
			p.add(Finding{ID: n.ID, Severity: sev, Component: n.Component,
				Message: fmt.Sprintf("%s (this host: %s %s)", n.Text, m[1], have),
				Remedy:  noteRemedy(n)})
			continue
		}
		sev := n.Severity
		if sev == "" {
			sev = SeverityInfo
		}
		p.add(Finding{ID: n.ID, Severity: sev, Component: n.Component, Message: n.Text, Remedy: noteRemedy(n)})
	}
}

func noteRemedy(n manifest.Note) string {
	switch {
	case n.Kind == manifest.NoteSecurity && len(n.FixedIn) > 0:
		// A known vulnerability of the pinned release (the bundle's index
		// carries the CVEs, the fix and the source in the note).
		return "rebuild the bundle with " + n.Component + " at a release that fixes it (" + strings.Join(n.FixedIn, ", ") + "), or leave " + n.Component + " out with --components"
	case n.Kind == manifest.NoteEOL:
		return "rebuild the bundle with a maintained " + n.Component + " release"
	case n.Severity == SeverityInfo:
		return ""
	}
	if n.Component != "" {
		return "leave " + n.Component + " out with --components, or build the bundle with versions that avoid this combination"
	}
	return "build the bundle with versions that avoid this combination"
}
