package host

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
)

// Module states, best first.
const (
	ModuleLoaded   = "loaded"   // listed in /proc/modules
	ModuleBuiltin  = "builtin"  // part of the kernel image (modules.builtin, or /sys/module without /proc/modules)
	ModuleLoadable = "loadable" // modules.dep of the running kernel lists it: modprobe can load it
	ModuleMissing  = "missing"  // none of the above
	ModuleUnknown  = ""         // the kernel's module lists could not be read
)

// ModuleNames are the kernel modules Gather looks for: overlay (the
// overlayfs snapshotter and Docker's overlay2), br_netfilter (bridged
// traffic through iptables), kvm and kvm_intel/kvm_amd, vhost, vhost_net
// and vhost_vsock (kata; see kataModules).
var ModuleNames = []string{"overlay", "br_netfilter", "kvm", "kvm_intel", "kvm_amd", "vhost", "vhost_net", "vhost_vsock"}

// Module is a kernel module and how the running kernel offers it.
type Module struct {
	Name  string `json:"name"`
	State string `json:"state"`
	// BootFile is the modules-load.d file of the root that loads it at
	// boot, "" when none does.
	BootFile string `json:"bootFile,omitempty"`
}

// Available reports whether the module is there or can be loaded.
func (m Module) Available() bool {
	return m.State == ModuleLoaded || m.State == ModuleBuiltin || m.State == ModuleLoadable
}

// Module returns the facts about a module of ModuleNames (State
// ModuleUnknown for another name).
func (f *Facts) Module(name string) Module {
	for _, m := range f.Modules {
		if m.Name == name {
			return m
		}
	}
	return Module{Name: name}
}

// moduleName turns a module file path or name into the name the kernel
// uses: the base name without .ko and compression suffix, with '-' as '_'
// (kmod treats them alike; kvm-intel.ko is module kvm_intel).
func moduleName(p string) string {
	b := filepath.Base(strings.TrimSuffix(strings.TrimSpace(p), ":"))
	if i := strings.Index(b, ".ko"); i >= 0 {
		b = b[:i]
	}
	return strings.ReplaceAll(b, "-", "_")
}

// kernelModules finds each of ModuleNames in /proc/modules (loaded), the
// running kernel's modules.builtin or /sys/module (built in) and
// modules.dep (loadable), and the root's modules-load.d files that load
// it at boot.
func (g *gatherer) kernelModules(kernel string) ([]Module, error) {
	var errs []error
	names := func(path string, field func(line string) string) (map[string]bool, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		set := map[string]bool{}
		sc := bufio.NewScanner(f)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			if n := field(sc.Text()); n != "" {
				set[moduleName(n)] = true
			}
		}
		return set, sc.Err()
	}
	first := func(line string) string {
		if f := strings.Fields(line); len(f) > 0 {
			return f[0]
		}
		return ""
	}
	loaded, err := names(filepath.Join(g.proc, "modules"), first)
	if err != nil {
		errs = append(errs, err)
	}
	var builtin, dep map[string]bool
	if kernel == "" {
		errs = append(errs, errors.New("kernel release unknown: cannot find its modules"))
	} else {
		dir := filepath.Join(g.modules, kernel)
		if builtin, err = names(filepath.Join(dir, "modules.builtin"), first); err != nil {
			errs = append(errs, err)
		}
		// modules.dep: "kernel/drivers/vhost/vhost_net.ko.xz: kernel/drivers/vhost/vhost.ko.xz ..."
		if dep, err = names(filepath.Join(dir, "modules.dep"), func(l string) string { s, _, _ := strings.Cut(l, ":"); return s }); err != nil {
			errs = append(errs, err)
		}
	}
	boot := g.modulesLoadD()
	out := make([]Module, 0, len(ModuleNames))
	for _, n := range ModuleNames {
		m := Module{Name: n, BootFile: boot[n]}
		switch {
		case loaded[n]:
			m.State = ModuleLoaded
		case builtin[n]:
			m.State = ModuleBuiltin
		case loaded != nil && isDir(filepath.Join(g.sys, "module", n)):
			// A built-in module shows in /sys/module when it has
			// parameters, even when modules.builtin omits it (a bool
			// option, such as arm64's CONFIG_KVM).
			m.State = ModuleBuiltin
		case dep[n]:
			m.State = ModuleLoadable
		case loaded != nil && builtin != nil && dep != nil:
			m.State = ModuleMissing
		}
		out = append(out, m)
	}
	if len(errs) == 0 {
		return out, nil
	}
	// Unknown states matter only when a module could not be placed.
	if slices.ContainsFunc(out, func(m Module) bool { return m.State == ModuleUnknown }) {
		return out, errors.Join(errs...)
	}
	return out, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// ModulesLoadFile is the modules-load.d file satchel writes (see ModulesToLoad).
const ModulesLoadFile = "/etc/modules-load.d/satchel.conf"

// modulesLoadDirs are where systemd-modules-load reads *.conf, most
// important first (modules-load.d(5)); a file in an earlier directory
// masks one of the same name in a later one.
var modulesLoadDirs = []string{"/etc/modules-load.d", "/run/modules-load.d", "/usr/local/lib/modules-load.d", "/usr/lib/modules-load.d", "/lib/modules-load.d"}

// modulesLoadD maps each module the root loads at boot to the file
// (path in the root) that names it.
func (g *gatherer) modulesLoadD() map[string]string {
	out := map[string]string{}
	for _, file := range confFiles(g.root, modulesLoadDirs) {
		b, err := readSmall(g.root, file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			// Satchel's own file counts only when no other file loads it:
			// what satchel wrote, it may rewrite.
			if n := moduleName(line); out[n] == "" || out[n] == ModulesLoadFile {
				out[n] = file
			}
		}
	}
	return out
}

// confFiles lists the *.conf files of systemd-style configuration
// directories inside root, in the order they apply: by file name, a name
// taken from the first directory that has it (paths inside the root).
func confFiles(root string, dirs []string) []string {
	byName := map[string]string{}
	for _, d := range dirs {
		rd, err := resolveIn(root, d)
		if err != nil {
			continue
		}
		ents, err := os.ReadDir(rd)
		if err != nil {
			continue
		}
		for _, e := range ents {
			if !strings.HasSuffix(e.Name(), ".conf") {
				continue
			}
			if _, ok := byName[e.Name()]; !ok {
				byName[e.Name()] = filepath.Join(d, e.Name())
			}
		}
	}
	var out []string
	for _, n := range sortedKeys(byName) {
		out = append(out, byName[n])
	}
	return out
}

// maxConfigSize caps what Gather reads from any one configuration file: a
// FIFO or /dev/zero in a hostile tree must not hang or exhaust it.
const maxConfigSize = 1 << 20

// readSmall reads a regular file inside root (through the root's
// symlinks), refusing anything else and anything over maxConfigSize.
func readSmall(root, p string) ([]byte, error) {
	rp, err := resolveIn(root, p)
	if err != nil {
		return nil, err
	}
	return readRegular(rp)
}

// readRegular reads a regular file of at most maxConfigSize bytes.
func readRegular(path string) ([]byte, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is a %s, not a regular file", path, typeName(fi.Mode()))
	}
	if fi.Size() > maxConfigSize {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, maxConfigSize)
	}
	return os.ReadFile(path)
}

// SELinux modes.
const (
	SELinuxEnforcing  = "enforcing"
	SELinuxPermissive = "permissive"
	SELinuxDisabled   = "disabled"
)

// SELinux is the running and the configured SELinux mode.
type SELinux struct {
	// Mode is the running mode: from /sys/fs/selinux/enforce (1
	// enforcing, 0 permissive), SELinuxDisabled when selinuxfs is not
	// mounted there.
	Mode string `json:"mode"`
	// Config is SELINUX= in the root's /etc/selinux/config, the mode at the
	// next boot ("" when there is no such file); Policy is SELINUXTYPE=.
	Config string `json:"config,omitempty"`
	Policy string `json:"policy,omitempty"`
	// Labelling lists the engines whose existing configuration in the root
	// turns SELinux labelling of containers on: "docker" (daemon.json
	// "selinux-enabled": true) and "containerd" (enable_selinux = true).
	// Satchel keeps such settings when it merges.
	Labelling []string `json:"labelling,omitempty"`
}

// On reports whether SELinux is enforcing or permissive now, or will be
// after a reboot.
func (s SELinux) On() bool {
	return s.Mode == SELinuxEnforcing || s.Mode == SELinuxPermissive ||
		s.Config == SELinuxEnforcing || s.Config == SELinuxPermissive
}

func (g *gatherer) selinux() (SELinux, error) {
	var s SELinux
	var errs []error
	b, err := os.ReadFile(filepath.Join(g.sys, "fs", "selinux", "enforce"))
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.Mode = SELinuxDisabled
	case err != nil:
		errs = append(errs, err)
	case strings.TrimSpace(string(b)) == "1":
		s.Mode = SELinuxEnforcing
	case strings.TrimSpace(string(b)) == "0":
		s.Mode = SELinuxPermissive
	default:
		errs = append(errs, fmt.Errorf("/sys/fs/selinux/enforce holds %q", strings.TrimSpace(string(b))))
	}
	b, err = readSmall(g.root, "/etc/selinux/config")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		errs = append(errs, err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(strings.TrimSpace(line), "=")
		if !ok || strings.HasPrefix(k, "#") {
			continue
		}
		switch strings.TrimSpace(k) {
		case "SELINUX":
			s.Config = strings.ToLower(unquote(v))
		case "SELINUXTYPE":
			s.Policy = unquote(v)
		}
	}
	// dockerd --selinux-enabled, "Default is false" (man/dockerd.8.md
	// L402-403 @docker-v29.7.2), daemon.json key "selinux-enabled"
	// (daemon/config/config_linux.go L84).
	if b, err := readSmall(g.root, "/etc/docker/daemon.json"); err == nil {
		var d struct {
			SELinux bool `json:"selinux-enabled"`
		}
		if json.Unmarshal(b, &d) == nil && d.SELinux {
			s.Labelling = append(s.Labelling, component.Docker)
		}
	}
	// containerd CRI enable_selinux, default false (internal/cri/config/
	// config.go L359-363, config_unix.go L100 @v2.3.4); the same key in 1.x.
	if b, err := readSmall(g.root, "/etc/containerd/config.toml"); err == nil && enableSELinux.Match(b) {
		s.Labelling = append(s.Labelling, component.Containerd)
	}
	return s, errors.Join(errs...)
}

var enableSELinux = regexp.MustCompile(`(?m)^[ \t]*enable_selinux[ \t]*=[ \t]*true\b`)

// SysctlKeys are the kernel settings Gather reads: IPv4 forwarding (routed
// container traffic; apply sets it) and whether bridged traffic passes
// iptables (the keys exist only while br_netfilter is loaded).
var SysctlKeys = []string{"net.ipv4.ip_forward", "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables"}

// Sysctl is a kernel setting now and at boot.
type Sysctl struct {
	Key string `json:"key"`
	// Value is the running value from /proc/sys, "" when the key does not
	// exist (its module is not loaded).
	Value string `json:"value,omitempty"`
	// Boot is the value the root's sysctl configuration sets at boot and
	// BootFile the file that sets it last; both "" when none sets it.
	Boot     string `json:"boot,omitempty"`
	BootFile string `json:"bootFile,omitempty"`
}

// Sysctl returns the facts about a key of SysctlKeys.
func (f *Facts) Sysctl(key string) Sysctl {
	for _, s := range f.Sysctls {
		if s.Key == key {
			return s
		}
	}
	return Sysctl{Key: key}
}

// sysctlDirs are systemd-sysctl's directories (sysctl.d(5)), most
// important first.
var sysctlDirs = []string{"/etc/sysctl.d", "/run/sysctl.d", "/usr/local/lib/sysctl.d", "/usr/lib/sysctl.d", "/lib/sysctl.d"}

func (g *gatherer) sysctls() ([]Sysctl, error) {
	// What boot applies: the *.conf files by name, later ones winning,
	// then /etc/sysctl.conf (procps `sysctl --system` reads it last; Kylin
	// and other RHEL-like systems also link it as /etc/sysctl.d/99-sysctl.conf).
	boot := map[string][2]string{}
	files := confFiles(g.root, sysctlDirs)
	if existsIn(g.root, "/etc/sysctl.conf") {
		files = append(files, "/etc/sysctl.conf")
	}
	for _, file := range files {
		b, err := readSmall(g.root, file)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			line = strings.TrimSpace(line)
			if line == "" || line[0] == '#' || line[0] == ';' {
				continue
			}
			k, v, ok := strings.Cut(line, "=")
			if !ok {
				continue
			}
			// "-key" only silences errors; "a/b/c" is "a.b.c" (sysctl.d(5)).
			k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
			boot[k] = [2]string{strings.TrimSpace(v), file}
		}
	}
	var out []Sysctl
	var errs []error
	for _, k := range SysctlKeys {
		s := Sysctl{Key: k, Boot: boot[k][0], BootFile: boot[k][1]}
		b, err := os.ReadFile(filepath.Join(g.proc, "sys", strings.ReplaceAll(k, ".", "/")))
		switch {
		case err == nil:
			s.Value = strings.TrimSpace(string(b))
		case !errors.Is(err, fs.ErrNotExist):
			errs = append(errs, err)
		}
		out = append(out, s)
	}
	return out, errors.Join(errs...)
}

// Kubelet is what the root holds of a kubelet: satchel does not install
// one, but Kubernetes ≥ 1.35 refuses cgroup v1 unless told otherwise.
type Kubelet struct {
	// Path is the kubelet binary on PATH in the root ("" for none).
	Path string `json:"path,omitempty"`
	// Config is kubeadm's kubelet configuration file, when present, and
	// FailCgroupV1 the value it gives failCgroupV1 ("" when unset).
	Config       string `json:"config,omitempty"`
	FailCgroupV1 string `json:"failCgroupV1,omitempty"`
}

// kubeletConfig is where kubeadm writes the kubelet's configuration file.
const kubeletConfig = "/var/lib/kubelet/config.yaml"

func (g *gatherer) kubelet() Kubelet {
	var k Kubelet
	for _, dir := range pathDirs {
		p := filepath.Join(dir, "kubelet")
		if rp, err := resolveIn(g.root, p); err == nil {
			if fi, err := os.Stat(rp); err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0 {
				k.Path = p
				break
			}
		}
	}
	if b, err := readSmall(g.root, kubeletConfig); err == nil {
		k.Config = kubeletConfig
		for _, line := range strings.Split(string(b), "\n") {
			// A top-level key of the KubeletConfiguration (no indent).
			if v, ok := strings.CutPrefix(line, "failCgroupV1:"); ok {
				v, _, _ = strings.Cut(v, "#")
				k.FailCgroupV1 = strings.ToLower(unquote(v))
			}
		}
	}
	return k
}

// installerSize is the size of the running executable, 0 when unknown.
func installerSize() int64 {
	exe, err := os.Executable()
	if err != nil {
		return 0
	}
	fi, err := os.Stat(exe)
	if err != nil {
		return 0
	}
	return fi.Size()
}
