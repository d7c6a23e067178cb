package host

import (
	"bufio"
	"bytes"
	"debug/elf"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

func hintf(hint, format string, args ...any) error { return manifest.Hintf(hint, format, args...) }

// libcPaths are where distributions keep glibc's libc.so.6, most specific first.
var libcPaths = []string{
	"/lib64/libc.so.6",
	"/lib/x86_64-linux-gnu/libc.so.6",
	"/lib/aarch64-linux-gnu/libc.so.6",
	"/usr/lib64/libc.so.6",
	"/usr/lib/x86_64-linux-gnu/libc.so.6",
	"/usr/lib/aarch64-linux-gnu/libc.so.6",
	"/lib/loongarch64-linux-gnu/libc.so.6",
	"/lib/libc.so.6",
	"/usr/lib/libc.so.6",
}

// findGlibc returns the root's glibc version and the libc it read, or
// GlibcNone (with "musl" when the musl loader is there).
func findGlibc(root string) (version, path string, err error) {
	for _, p := range libcPaths {
		rp, err := resolveIn(root, p)
		if err != nil {
			continue
		}
		v, err := GlibcVersion(rp)
		if err != nil {
			return "", p, fmt.Errorf("%s: %w", p, err)
		}
		if v != "" {
			return v, p, nil
		}
	}
	for _, dir := range []string{"/lib", "/usr/lib"} {
		rd, err := resolveIn(root, dir)
		if err != nil {
			continue
		}
		if m, _ := filepath.Glob(filepath.Join(rd, "ld-musl-*.so.1")); len(m) > 0 {
			return GlibcNone, "musl", nil
		}
	}
	return GlibcNone, "", nil
}

// GlibcVersion reads the glibc release of a libc.so.6: the highest GLIBC_x.y
// version it defines (ELF SHT_GNU_verdef), "" when it defines none (not glibc).
func GlibcVersion(path string) (string, error) {
	f, err := elf.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	defs, err := f.DynamicVersions()
	if err != nil {
		return "", fmt.Errorf("reading ELF version definitions: %w", err)
	}
	best := ""
	for _, d := range defs {
		v, ok := strings.CutPrefix(d.Name, "GLIBC_")
		if !ok || !isDotted(v) {
			continue // GLIBC_PRIVATE, GLIBC_ABI_DT_RELR, the library's own name
		}
		if best == "" || compareVersions(v, best) > 0 {
			best = v
		}
	}
	return best, nil
}

// libcArch reads the target architecture from the root's libc.
func libcArch(root, libc string) (string, error) {
	rp, err := resolveIn(root, libc)
	if err != nil {
		return "", err
	}
	f, err := elf.Open(rp)
	if err != nil {
		return "", err
	}
	defer f.Close()
	switch f.Machine {
	case elf.EM_X86_64:
		return "amd64", nil
	case elf.EM_AARCH64:
		return "arm64", nil
	case elf.EM_LOONGARCH:
		return "loong64", nil
	case elf.EM_386:
		return "386", nil
	case elf.EM_ARM:
		return "arm", nil
	case elf.EM_PPC64:
		return "ppc64le", nil
	case elf.EM_S390:
		return "s390x", nil
	case elf.EM_RISCV:
		return "riscv64", nil
	}
	return "", nil
}

// overlay reports whether overlayfs is registered or can be loaded.
func (g *gatherer) overlay(kernel string) (bool, string, error) {
	b, err := os.ReadFile(filepath.Join(g.proc, "filesystems"))
	if err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) > 0 && f[len(f)-1] == "overlay" {
				return true, "filesystems", nil
			}
		}
	}
	if kernel != "" {
		dir := filepath.Join(g.modules, kernel)
		if builtin, err := os.ReadFile(filepath.Join(dir, "modules.builtin")); err == nil &&
			bytes.Contains(builtin, []byte("/overlayfs/overlay.ko")) {
			return true, "builtin", nil
		}
		if m, _ := filepath.Glob(filepath.Join(dir, "kernel", "fs", "overlayfs", "overlay.ko*")); len(m) > 0 {
			return true, "module", nil
		}
	}
	return false, "", err
}

// cgroup tells the cgroup mode from what is mounted under /sys/fs/cgroup.
func (g *gatherer) cgroup() string {
	base := filepath.Join(g.sys, "fs", "cgroup")
	if exists(filepath.Join(base, "cgroup.controllers")) {
		return CgroupV2
	}
	if exists(filepath.Join(base, "unified", "cgroup.controllers")) {
		return CgroupHybrid
	}
	for _, c := range []string{"memory", "cpu", "cpuset", "pids", "devices", "systemd"} {
		if fi, err := os.Stat(filepath.Join(base, c)); err == nil && fi.IsDir() {
			return CgroupV1
		}
	}
	return CgroupNone
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// systemdInit: PID 1 is systemd, or systemd's runtime directory exists (sd_booted(3)).
func (g *gatherer) systemdInit() bool {
	if b, err := os.ReadFile(filepath.Join(g.proc, "1", "comm")); err == nil && strings.TrimSpace(string(b)) == "systemd" {
		return true
	}
	fi, err := os.Stat(filepath.Join(g.run, "systemd", "system"))
	return err == nil && fi.IsDir()
}

func (g *gatherer) probeKVM() KVM {
	p := filepath.Join(g.dev, "kvm")
	if _, err := os.Stat(p); err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return KVM{Error: p + " does not exist"}
		}
		return KVM{Error: err.Error()}
	}
	if err := g.kvm(p); err != nil {
		return KVM{Present: true, Error: err.Error()}
	}
	return KVM{Present: true, Usable: true}
}

// cpuVirt finds vmx or svm among the CPU flags.
func (g *gatherer) cpuVirt() (string, error) {
	f, err := os.Open(filepath.Join(g.proc, "cpuinfo"))
	if err != nil {
		return "", err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || strings.TrimSpace(k) != "flags" {
			continue
		}
		flags := strings.Fields(v)
		for _, want := range []string{"vmx", "svm"} {
			if slices.Contains(flags, want) {
				return want, nil
			}
		}
		return "", nil // flags of the first CPU are enough
	}
	return "", sc.Err()
}

// Packages and binaries that collide with satchel's components. The binary
// list names what a packaged or hand-installed engine would run as a service.
var (
	conflictPackages = map[string]map[string]string{ // manager -> package -> component
		"dpkg": {
			"docker-ce": "docker", "docker-ee": "docker", "docker.io": "docker", "moby-engine": "docker", "podman-docker": "docker",
			"containerd.io": "containerd", "containerd": "containerd", "moby-containerd": "containerd",
			"runc": "runc", "moby-runc": "runc",
		},
		"rpm": {
			"docker-ce": "docker", "docker-ee": "docker", "docker": "docker", "docker-engine": "docker", "moby-engine": "docker", "podman-docker": "docker",
			"containerd.io": "containerd", "containerd": "containerd", "moby-containerd": "containerd",
			"runc": "runc", "moby-runc": "runc",
		},
	}
	conflictBinaries = map[string]string{
		"dockerd": "docker", "docker": "docker",
		"containerd": "containerd", "ctr": "containerd", "containerd-shim-runc-v2": "containerd",
		"runc": "runc",
	}
	pathDirs = []string{"/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"}
)

func (g *gatherer) conflicts(f *Facts) error {
	var names []string
	for _, m := range conflictPackages {
		for n := range m {
			if !slices.Contains(names, n) {
				names = append(names, n)
			}
		}
	}
	slices.Sort(names)
	pkgs, err := g.packages(g.root, names)
	for _, p := range pkgs {
		comp, ok := conflictPackages[p.Manager][p.Name]
		if !ok {
			continue
		}
		f.Conflicts = append(f.Conflicts, Conflict{Kind: "package", Name: p.Name, Version: p.Version, Manager: p.Manager, Component: comp})
	}
	// Binaries on PATH, counted once per real file (merged /usr makes /bin
	// and /usr/bin the same directory).
	seen := map[string]bool{}
	for _, dir := range pathDirs {
		for _, name := range sortedKeys(conflictBinaries) {
			p := filepath.Join(dir, name)
			rp, err := resolveIn(g.root, p)
			if err != nil || seen[rp] {
				continue
			}
			fi, err := os.Stat(rp)
			if err != nil || !fi.Mode().IsRegular() || fi.Mode()&0o111 == 0 {
				continue
			}
			seen[rp] = true
			f.Conflicts = append(f.Conflicts, Conflict{Kind: "binary", Name: name, Path: p, Component: conflictBinaries[name]})
		}
	}
	return err
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// disks measures free space at each disk path (at its nearest existing
// ancestor inside the root).
func (g *gatherer) disks() ([]Disk, error) {
	var out []Disk
	var errs []error
	for _, p := range g.diskPaths {
		q := filepath.Clean("/" + p)
		var rp string
		for {
			var err error
			if rp, err = resolveIn(g.root, q); err == nil || q == "/" {
				break
			}
			q = filepath.Dir(q)
		}
		free, dev, err := statfs(rp)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", p, err))
			continue
		}
		out = append(out, Disk{Path: filepath.Clean("/" + p), Free: free, Device: dev})
	}
	return out, errors.Join(errs...)
}
