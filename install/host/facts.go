package host

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Cgroup modes.
const (
	CgroupV1     = "v1"
	CgroupV2     = "v2"
	CgroupHybrid = "hybrid" // v1 controllers with a v2 hierarchy at /sys/fs/cgroup/unified
	CgroupNone   = "none"
)

// Page sizes (Facts.PageSize).
const (
	PageSize4K  = 4096
	PageSize64K = 65536
)

// GlibcNone is Facts.Glibc when the root has no glibc (musl or a static system).
const GlibcNone = "none"

// Facts describe the host (or, with --root, the target tree and the running kernel).
type Facts struct {
	// Root is the target root ("/" for the live system).
	Root string `json:"root"`
	// Live is true when Root is the running system.
	Live bool   `json:"live"`
	OS   OSInfo `json:"os"`
	// Arch is the target's architecture in GOARCH terms (amd64, arm64): from
	// the root's C library when installing into a directory, else the kernel's.
	Arch string `json:"arch"`
	// Machine is the running kernel's `uname -m`.
	Machine string `json:"machine"`
	// Kernel is the kernel release (`uname -r`, or WithKernel).
	Kernel string `json:"kernel"`
	// Overlay says whether the overlay filesystem is available, and how:
	// "filesystems" (registered in /proc/filesystems), "module" (loadable).
	Overlay       bool   `json:"overlay"`
	OverlaySource string `json:"overlaySource,omitempty"`
	Cgroup        string `json:"cgroup"`
	// SystemdInit is true when systemd runs as PID 1.
	SystemdInit bool `json:"systemdInit"`
	// SystemdInstalled is true when the root has systemd (units are useful).
	SystemdInstalled bool `json:"systemdInstalled"`
	// Glibc is the root's glibc version ("2.28") or GlibcNone; Libc is the
	// file it was read from, or what was found instead ("musl").
	Glibc string `json:"glibc"`
	Libc  string `json:"libc,omitempty"`
	KVM   KVM    `json:"kvm"`
	// CPUVirt is the hardware virtualization flag in /proc/cpuinfo: "vmx"
	// (Intel VT-x), "svm" (AMD-V) or "".
	CPUVirt   string     `json:"cpuVirt,omitempty"`
	Conflicts []Conflict `json:"conflicts,omitempty"`
	Disks     []Disk     `json:"disks,omitempty"`

	// PageSize is the running kernel's memory page size in bytes, from the
	// auxiliary vector (AT_PAGESZ), or WithPageSize. 4096 on x86_64; Kylin
	// V10's aarch64 kernels use 65536.
	PageSize int `json:"pageSize"`
	// PidfdOpen is true when the running kernel has pidfd_open(2) (Linux
	// 5.3, or a backport), probed with the system call itself.
	// PidfdOpenError says why the probe could not tell (then PidfdOpen is
	// false and Problems has it too).
	PidfdOpen      bool   `json:"pidfdOpen"`
	PidfdOpenError string `json:"pidfdOpenError,omitempty"`
	// Modules are the kernel modules components need (ModuleNames), in
	// that order.
	Modules []Module `json:"modules,omitempty"`
	SELinux SELinux  `json:"selinux"`
	Net     Net      `json:"net"`
	// Sysctls are the kernel settings networking needs (SysctlKeys), in that order.
	Sysctls []Sysctl `json:"sysctls,omitempty"`
	Kubelet Kubelet  `json:"kubelet"`
	// InstallerSize is the size of the running satchel-install, which
	// apply copies to /usr/local/bin (WithInstallerSize in tests).
	InstallerSize int64 `json:"installerSize,omitempty"`

	// Problems lists probes that could not run; their facts are unknown.
	Problems []string `json:"problems,omitempty"`
}

// OSInfo is what /etc/os-release says.
type OSInfo struct {
	ID         string   `json:"id"`
	IDLike     []string `json:"idLike,omitempty"`
	VersionID  string   `json:"versionID,omitempty"`
	Version    string   `json:"version,omitempty"`
	PrettyName string   `json:"prettyName,omitempty"`
	// Codename: Kylin's from VERSION ("V10 (Lance)" → "Lance"), else VERSION_CODENAME.
	Codename string `json:"codename,omitempty"`
	// Known is true for the distributions satchel is built for.
	Known bool `json:"known"`
}

// String names the OS for people: "kylin V10 (Lance)".
func (o OSInfo) String() string {
	if o.PrettyName != "" {
		return o.PrettyName
	}
	s := strings.TrimSpace(o.ID + " " + o.VersionID)
	if o.Codename != "" {
		s += " (" + o.Codename + ")"
	}
	if s == "" {
		return "unknown"
	}
	return s
}

// KVM describes /dev/kvm.
type KVM struct {
	Present bool `json:"present"`
	// Usable is true when /dev/kvm opened and a VM could be created
	// (KVM_CREATE_VM, as `kata-runtime check` does).
	Usable bool   `json:"usable"`
	Error  string `json:"error,omitempty"`
}

// Conflict is a packaged or unmanaged container runtime in the target.
type Conflict struct {
	// Kind is "package" or "binary".
	Kind string `json:"kind"`
	// Name is the package name, or the binary's base name.
	Name    string `json:"name"`
	Version string `json:"version,omitempty"`
	// Manager is "rpm" or "dpkg" for packages.
	Manager string `json:"manager,omitempty"`
	// Path is the binary's path in the target (binaries only).
	Path string `json:"path,omitempty"`
	// Component is the satchel component it collides with.
	Component string `json:"component"`
}

// Disk is the free space of the filesystem holding Path (in the target).
type Disk struct {
	Path string `json:"path"`
	// Free is statfs f_bavail in bytes: the space left without the blocks
	// reserved for root, a conservative measure (root may use those, but a
	// full disk is trouble either way).
	Free uint64 `json:"free"`
	// Device identifies the filesystem, to add up needs per filesystem.
	Device uint64 `json:"device"`
}

// Package is an installed package reported by a PackageQuery.
type Package struct {
	Name, Version string
	Manager       string // "rpm" or "dpkg"
}

// PackageQuery reports which of names are installed as packages in root.
type PackageQuery func(root string, names []string) ([]Package, error)

// KVMProbe checks that the KVM device at path can run a VM.
type KVMProbe func(path string) error

// Uname returns the running kernel's release and machine.
type Uname func() (release, machine string, err error)

// SyscallProbe reports whether the running kernel has a system call; an
// error means the probe could not tell.
type SyscallProbe func() (bool, error)

type gatherer struct {
	root, proc, sys, dev, run, modules string
	kernel                             string
	uname                              Uname
	packages                           PackageQuery
	kvm                                KVMProbe
	diskPaths                          []string
	pageSize                           int
	pidfdOpen                          SyscallProbe
	installerSize                      int64
}

// Option configures Gather.
type Option func(*gatherer)

// WithProcDir reads /proc from dir (default /proc).
func WithProcDir(dir string) Option { return func(g *gatherer) { g.proc = dir } }

// WithSysDir reads /sys from dir (default /sys).
func WithSysDir(dir string) Option { return func(g *gatherer) { g.sys = dir } }

// WithDevDir looks for kvm in dir (default /dev).
func WithDevDir(dir string) Option { return func(g *gatherer) { g.dev = dir } }

// WithRunDir reads /run from dir (default /run): /run/systemd/system marks systemd as init.
func WithRunDir(dir string) Option { return func(g *gatherer) { g.run = dir } }

// WithModulesDir looks for kernel modules in dir (default /lib/modules of the running system).
func WithModulesDir(dir string) Option { return func(g *gatherer) { g.modules = dir } }

// WithKernel sets the kernel release to check instead of the running one,
// for a --root tree that will boot another kernel.
func WithKernel(release string) Option { return func(g *gatherer) { g.kernel = release } }

// WithUname replaces the uname system call (tests).
func WithUname(u Uname) Option { return func(g *gatherer) { g.uname = u } }

// WithPackageQuery replaces the package database query (default DefaultPackageQuery).
func WithPackageQuery(q PackageQuery) Option { return func(g *gatherer) { g.packages = q } }

// WithKVMProbe replaces the KVM check (default: open, KVM_GET_API_VERSION, KVM_CREATE_VM).
func WithKVMProbe(p KVMProbe) Option { return func(g *gatherer) { g.kvm = p } }

// WithDiskPaths measures free space at these target paths (default /,
// /usr/local, /opt, /etc, /var/lib).
func WithDiskPaths(paths ...string) Option { return func(g *gatherer) { g.diskPaths = paths } }

// WithPageSize sets the page size instead of the running kernel's (a
// fixture, or a --root tree that will boot a kernel with another one).
func WithPageSize(bytes int) Option { return func(g *gatherer) { g.pageSize = bytes } }

// WithPidfdOpenProbe replaces the pidfd_open(2) probe (default: the system call).
func WithPidfdOpenProbe(p SyscallProbe) Option { return func(g *gatherer) { g.pidfdOpen = p } }

// WithInstallerSize sets the size of the installer's own copy instead of
// the running executable's.
func WithInstallerSize(bytes int64) Option { return func(g *gatherer) { g.installerSize = bytes } }

// Gather collects the facts about root ("/" for the live system). Only a
// missing or unreadable root is an error; other probes that fail leave their
// fact unknown and add to Facts.Problems.
func Gather(root string, opts ...Option) (*Facts, error) {
	if root == "" {
		root = "/"
	}
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, err
	}
	if fi, err := os.Stat(abs); err != nil || !fi.IsDir() {
		if err == nil {
			err = fmt.Errorf("it is a %s, not a directory", typeName(fi.Mode()))
		}
		return nil, hintf("pass an existing directory with --root, or / for this system", "target root %s: %w", root, err)
	}
	g := &gatherer{
		root: abs, proc: "/proc", sys: "/sys", dev: "/dev", run: "/run", modules: "/lib/modules",
		uname: sysUname, packages: DefaultPackageQuery, kvm: probeKVM,
		diskPaths: []string{"/", "/usr/local", "/opt", "/etc", "/var/lib"},
		pidfdOpen: probePidfdOpen, installerSize: -1,
	}
	for _, o := range opts {
		o(g)
	}
	f := &Facts{Root: abs, Live: abs == "/"}
	problem := func(format string, args ...any) { f.Problems = append(f.Problems, fmt.Sprintf(format, args...)) }

	if f.OS, err = readOSRelease(abs); err != nil {
		problem("os-release: %v", err)
	}

	release, machine, err := g.uname()
	if err != nil {
		problem("uname: %v", err)
	}
	f.Machine = machine
	f.Kernel = release
	if g.kernel != "" {
		f.Kernel = g.kernel
	}
	f.Arch = goarch(machine)
	if f.Arch == "" {
		f.Arch = runtime.GOARCH
	}

	f.Glibc, f.Libc, err = findGlibc(abs)
	if err != nil {
		problem("glibc: %v", err)
	}
	if !f.Live && f.Libc != "" {
		// The tree's own C library says what it will run on.
		if a, err := libcArch(abs, f.Libc); err == nil && a != "" {
			f.Arch = a
		}
	}

	f.Overlay, f.OverlaySource, err = g.overlay(f.Kernel)
	if err != nil {
		problem("overlay: %v", err)
	}
	f.Cgroup = g.cgroup()
	f.SystemdInit = g.systemdInit()
	f.SystemdInstalled = systemdInstalled(abs)
	f.KVM = g.probeKVM()
	if f.CPUVirt, err = g.cpuVirt(); err != nil {
		problem("cpuinfo: %v", err)
	}

	if err := g.conflicts(f); err != nil {
		problem("packages: %v", err)
	}
	if f.Disks, err = g.disks(); err != nil {
		problem("disk space: %v", err)
	}

	f.PageSize = g.pageSize
	if f.PageSize <= 0 {
		f.PageSize = os.Getpagesize()
	}
	if f.PidfdOpen, err = g.pidfdOpen(); err != nil {
		f.PidfdOpen, f.PidfdOpenError = false, err.Error()
		problem("pidfd_open: %v", err)
	}
	if f.Modules, err = g.kernelModules(f.Kernel); err != nil {
		problem("kernel modules: %v", err)
	}
	if m := f.Module("overlay"); !f.Overlay && m.Available() {
		f.Overlay, f.OverlaySource = true, "module"
		if m.State == ModuleBuiltin {
			f.OverlaySource = "builtin"
		}
	}
	if f.SELinux, err = g.selinux(); err != nil {
		problem("selinux: %v", err)
	}
	f.Net = g.network()
	if f.Sysctls, err = g.sysctls(); err != nil {
		problem("sysctl: %v", err)
	}
	f.Kubelet = g.kubelet()
	f.InstallerSize = g.installerSize
	if f.InstallerSize < 0 {
		f.InstallerSize = installerSize()
	}
	return f, nil
}

// goarch maps `uname -m` to Go's architecture names.
func goarch(machine string) string {
	switch machine {
	case "x86_64", "amd64":
		return "amd64"
	case "aarch64", "arm64", "aarch64_be":
		return "arm64"
	case "loongarch64":
		return "loong64"
	case "ppc64le", "s390x", "riscv64", "mips64":
		return machine
	case "i386", "i486", "i586", "i686":
		return "386"
	case "":
		return ""
	}
	if strings.HasPrefix(machine, "armv") {
		return "arm"
	}
	return machine
}

// Platform is the OCI platform of the target, e.g. "linux/amd64".
func (f *Facts) Platform() string { return "linux/" + f.Arch }

// readOSRelease parses <root>/etc/os-release (or /usr/lib/os-release).
func readOSRelease(root string) (OSInfo, error) {
	var b []byte
	var err error
	for _, p := range []string{"/etc/os-release", "/usr/lib/os-release"} {
		var rp string
		if rp, err = resolveIn(root, p); err == nil {
			if b, err = os.ReadFile(rp); err == nil {
				break
			}
		}
	}
	if b == nil {
		return OSInfo{}, err
	}
	return parseOSRelease(b), nil
}

// knownOS are the distributions satchel is built and tested for.
var knownOS = []string{"kylin", "uos", "openeuler", "centos", "rhel", "rocky", "almalinux", "debian", "ubuntu"}

func parseOSRelease(b []byte) OSInfo {
	kv := map[string]string{}
	for _, line := range strings.Split(string(b), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		kv[k] = unquote(v)
	}
	o := OSInfo{
		ID:         kv["ID"],
		VersionID:  kv["VERSION_ID"],
		Version:    kv["VERSION"],
		PrettyName: kv["PRETTY_NAME"],
		Codename:   kv["VERSION_CODENAME"],
		IDLike:     strings.Fields(kv["ID_LIKE"]),
	}
	// Kylin names its service packs in VERSION: "V10 (Lance)".
	if i, j := strings.Index(o.Version, "("), strings.LastIndex(o.Version, ")"); o.Codename == "" && i >= 0 && j > i {
		o.Codename = strings.TrimSpace(o.Version[i+1 : j])
	}
	o.Known = slices.Contains(knownOS, strings.ToLower(o.ID))
	return o
}

// unquote reads an os-release value: "double", 'single' or bare, with
// backslash escapes in double quotes (os-release(5)).
func unquote(v string) string {
	v = strings.TrimSpace(v)
	if len(v) >= 2 && (v[0] == '"' && v[len(v)-1] == '"' || v[0] == '\'' && v[len(v)-1] == '\'') {
		q := v[0]
		v = v[1 : len(v)-1]
		if q == '"' {
			var b strings.Builder
			for i := 0; i < len(v); i++ {
				if v[i] == '\\' && i+1 < len(v) {
					i++
				}
				b.WriteByte(v[i])
			}
			v = b.String()
		}
	}
	return v
}

// resolveIn returns the real path of p (absolute inside root) with every
// symlink resolved as if root were "/" (absolute links restart at root), so
// a tree's /lib64 -> /usr/lib64 does not lead to the running system's files.
func resolveIn(root, p string) (string, error) {
	real, _, err := resolveChain(root, p)
	return real, err
}

// resolveChain is resolveIn that also returns, in order, the path inside
// the root of every symlink it went through, followed by the final path:
// /usr/sbin/iptables, /etc/alternatives/iptables, /usr/sbin/iptables-nft,
// /usr/sbin/xtables-nft-multi.
func resolveChain(root, p string) (real string, chain []string, err error) {
	const maxLinks = 40
	rest := strings.Split(strings.Trim(filepath.Clean("/"+p), "/"), "/")
	cur := "/"
	links := 0
	for len(rest) > 0 {
		c := rest[0]
		rest = rest[1:]
		switch c {
		case "", ".":
			continue
		case "..":
			cur = filepath.Dir(cur)
			continue
		}
		next := filepath.Join(cur, c)
		host := filepath.Join(root, next)
		fi, err := os.Lstat(host)
		if err != nil {
			return "", chain, err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > maxLinks {
			return "", chain, fmt.Errorf("%s: too many levels of symbolic links", p)
		}
		target, err := os.Readlink(host)
		if err != nil {
			return "", chain, err
		}
		chain = append(chain, next)
		if filepath.IsAbs(target) {
			cur = "/"
		}
		rest = append(strings.Split(target, "/"), rest...)
	}
	return filepath.Join(root, cur), append(chain, cur), nil
}

// existsIn reports whether p exists inside root.
func existsIn(root, p string) bool {
	_, err := resolveIn(root, p)
	return err == nil
}

func systemdInstalled(root string) bool {
	for _, p := range []string{"/usr/lib/systemd/systemd", "/lib/systemd/systemd"} {
		if existsIn(root, p) {
			return true
		}
	}
	return false
}
