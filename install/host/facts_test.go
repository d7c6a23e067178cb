package host

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// tree builds a fake root: files maps paths to content; content "->X" makes
// a symlink to X; mode 0755 for paths under */bin or */sbin.
func tree(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range files {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "->"); ok {
			if err := os.Symlink(target, full); err != nil {
				t.Fatal(err)
			}
			continue
		}
		mode := os.FileMode(0o644)
		if strings.Contains(p, "bin/") {
			mode = 0o755
		}
		if err := os.WriteFile(full, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

func testdata(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func abs(t *testing.T, p string) string {
	t.Helper()
	a, err := filepath.Abs(p)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// realLibc returns this machine's libc.so.6 (the test host's glibc).
func realLibc(t *testing.T) string {
	t.Helper()
	for _, p := range libcPaths {
		if rp, err := filepath.EvalSymlinks(p); err == nil {
			if v, err := GlibcVersion(rp); err == nil && v != "" {
				return rp
			}
		}
	}
	testenv.Skipf(t, "needs a glibc system: no libc.so.6 found")
	return ""
}

func TestParseOSRelease(t *testing.T) {
	for name, want := range map[string]OSInfo{
		"kylin-v10-sp3":   {ID: "kylin", VersionID: "V10", Version: "V10 (Lance)", Codename: "Lance", Known: true, PrettyName: "Kylin Linux Advanced Server V10 (Lance)"},
		"kylin-v10-sp1":   {ID: "kylin", VersionID: "V10", Version: "V10 (Tercel)", Codename: "Tercel", Known: true, PrettyName: "Kylin Linux Advanced Server V10 (Tercel)"},
		"uos-20":          {ID: "uos", VersionID: "20", Version: "20", Codename: "fou", Known: true, PrettyName: "UnionTech OS Server 20"},
		"openeuler-22.03": {ID: "openEuler", VersionID: "22.03", Version: "22.03 (LTS-SP1)", Codename: "LTS-SP1", Known: true, PrettyName: "openEuler 22.03 (LTS-SP1)"},
		"rocky-8":         {ID: "rocky", IDLike: []string{"rhel", "centos", "fedora"}, VersionID: "8.9", Version: "8.9 (Green Obsidian)", Codename: "Green Obsidian", Known: true, PrettyName: "Rocky Linux 8.9 (Green Obsidian)"},
		"unknown":         {ID: "exampleos", IDLike: []string{"rhel", "fedora"}, VersionID: "3.1", PrettyName: `Example "Quoted" OS 3.1`},
	} {
		got := parseOSRelease([]byte(testdata(t, "os-release/"+name)))
		if got.ID != want.ID || got.VersionID != want.VersionID || got.Version != want.Version || got.Codename != want.Codename ||
			got.Known != want.Known || got.PrettyName != want.PrettyName || !slices.Equal(got.IDLike, want.IDLike) {
			t.Errorf("%s:\n got %+v\nwant %+v", name, got, want)
		}
	}
	if s := (OSInfo{ID: "kylin", VersionID: "V10", Codename: "Lance"}).String(); s != "kylin V10 (Lance)" {
		t.Errorf("String() = %q", s)
	}
}

// gatherFake runs Gather on a fake root with fake kernel-side trees.
func gatherFake(t *testing.T, root string, opts ...Option) *Facts {
	t.Helper()
	base := []Option{
		WithProcDir(abs(t, "testdata/proc-kylin")),
		WithSysDir(abs(t, "testdata/sys-v1")),
		WithDevDir(t.TempDir()),
		WithRunDir(t.TempDir()),
		WithModulesDir(abs(t, "testdata/hosts/kylin-v10-sp3-x86_64/lib/modules")),
		WithUname(func() (string, string, error) { return "4.19.90-52.22.v2207.ky10.x86_64", "x86_64", nil }),
		WithPackageQuery(func(string, []string) ([]Package, error) { return nil, nil }),
		WithKVMProbe(func(string) error { return nil }),
	}
	f, err := Gather(root, append(base, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestGatherKylin(t *testing.T) {
	libc, err := os.ReadFile(realLibc(t))
	if err != nil {
		t.Fatal(err)
	}
	root := tree(t, map[string]string{
		"etc/os-release":              testdata(t, "os-release/kylin-v10-sp3"),
		"usr/lib64/libc-2.x.so":       string(libc),
		"usr/lib64/libc.so.6":         "->libc-2.x.so",
		"lib64":                       "->/usr/lib64", // absolute: must resolve inside the root
		"usr/lib/systemd/systemd":     "elf",
		"var/lib/satchel/placeholder": "",
	})
	dev := t.TempDir()
	os.WriteFile(filepath.Join(dev, "kvm"), nil, 0o600)
	f := gatherFake(t, root, WithDevDir(dev))

	if f.Live || f.Root != root {
		t.Errorf("root %s live %v", f.Root, f.Live)
	}
	if f.OS.ID != "kylin" || f.OS.Codename != "Lance" || !f.OS.Known {
		t.Errorf("os %+v", f.OS)
	}
	if f.Kernel != "4.19.90-52.22.v2207.ky10.x86_64" || f.Machine != "x86_64" {
		t.Errorf("kernel %q machine %q", f.Kernel, f.Machine)
	}
	want, _ := GlibcVersion(realLibc(t))
	if f.Glibc != want || f.Libc != "/lib64/libc.so.6" {
		t.Errorf("glibc %q from %q, want %q from /lib64/libc.so.6", f.Glibc, f.Libc, want)
	}
	// The arch comes from the tree's libc (a copy of this machine's).
	if f.Arch != runtime.GOARCH {
		t.Errorf("arch %q, want %q", f.Arch, runtime.GOARCH)
	}
	if !f.Overlay || f.OverlaySource != "filesystems" {
		t.Errorf("overlay %v %q", f.Overlay, f.OverlaySource)
	}
	if f.Cgroup != CgroupV1 || !f.SystemdInit || !f.SystemdInstalled {
		t.Errorf("cgroup %q systemd init %v installed %v", f.Cgroup, f.SystemdInit, f.SystemdInstalled)
	}
	if !f.KVM.Present || !f.KVM.Usable || f.CPUVirt != "vmx" {
		t.Errorf("kvm %+v cpu %q", f.KVM, f.CPUVirt)
	}
	if len(f.Problems) > 0 {
		t.Errorf("problems: %q", f.Problems)
	}
	if len(f.Disks) != 5 || f.Disks[0].Path != "/" || f.Disks[0].Free == 0 {
		t.Errorf("disks %+v", f.Disks)
	}

	// WithKernel overrides the running kernel for a tree that boots another.
	if f := gatherFake(t, root, WithKernel("5.10.0-60.18.0.50.oe2203.x86_64")); f.Kernel != "5.10.0-60.18.0.50.oe2203.x86_64" || f.Machine != "x86_64" {
		t.Errorf("WithKernel: kernel %q", f.Kernel)
	}
}

func TestGatherRootMissing(t *testing.T) {
	_, err := Gather(filepath.Join(t.TempDir(), "nope"))
	if err == nil || manifest.Hint(err) == "" {
		t.Errorf("err = %v, want an error with a hint", err)
	}
}

func TestGatherProblems(t *testing.T) {
	root := tree(t, map[string]string{"README": "no os-release, no libc"})
	f := gatherFake(t, root,
		WithUname(func() (string, string, error) { return "", "", errors.New("uname failed") }),
		WithPackageQuery(func(string, []string) ([]Package, error) { return nil, errors.New("rpm db locked") }),
		WithProcDir(t.TempDir()))
	for _, want := range []string{"os-release", "uname failed", "rpm db locked", "cpuinfo"} {
		if !slices.ContainsFunc(f.Problems, func(p string) bool { return strings.Contains(p, want) }) {
			t.Errorf("no problem mentioning %q in %q", want, f.Problems)
		}
	}
	if f.Glibc != GlibcNone || f.Libc != "" {
		t.Errorf("glibc %q libc %q, want none", f.Glibc, f.Libc)
	}
	if f.Arch != runtime.GOARCH {
		t.Errorf("arch %q: want the build's %q when uname fails", f.Arch, runtime.GOARCH)
	}
}

func TestCgroupModes(t *testing.T) {
	for dir, want := range map[string]string{"sys-v1": CgroupV1, "sys-v2": CgroupV2, "sys-hybrid": CgroupHybrid, "sys-none": CgroupNone} {
		g := &gatherer{sys: abs(t, filepath.Join("testdata", dir))}
		if got := g.cgroup(); got != want {
			t.Errorf("%s: %q, want %q", dir, got, want)
		}
	}
}

func TestOverlay(t *testing.T) {
	kernel := "4.19.90-52.22.v2207.ky10.x86_64"
	bare := abs(t, "testdata/proc-bare")
	for name, tc := range map[string]struct {
		proc, modfile, content, want string
	}{
		"registered":  {proc: abs(t, "testdata/proc-kylin"), want: "filesystems"},
		"module":      {proc: bare, modfile: "kernel/fs/overlayfs/overlay.ko.xz", want: "module"},
		"builtin":     {proc: bare, modfile: "modules.builtin", content: "kernel/fs/ext4/ext4.ko\nkernel/fs/overlayfs/overlay.ko\n", want: "builtin"},
		"not builtin": {proc: bare, modfile: "modules.builtin", content: "kernel/fs/ext4/ext4.ko\n"},
		"none":        {proc: bare},
	} {
		mods := t.TempDir()
		if tc.modfile != "" {
			p := filepath.Join(mods, kernel, tc.modfile)
			os.MkdirAll(filepath.Dir(p), 0o755)
			os.WriteFile(p, []byte(tc.content), 0o644)
		}
		g := &gatherer{proc: tc.proc, modules: mods}
		ok, src, _ := g.overlay(kernel)
		if ok != (tc.want != "") || src != tc.want {
			t.Errorf("%s: overlay %v via %q, want %q", name, ok, src, tc.want)
		}
	}
}

func TestSystemdInit(t *testing.T) {
	run := t.TempDir()
	g := &gatherer{proc: abs(t, "testdata/proc-kylin"), run: run}
	if !g.systemdInit() {
		t.Error("PID 1 comm systemd: not detected")
	}
	g.proc = abs(t, "testdata/proc-bare")
	if g.systemdInit() {
		t.Error("PID 1 bash: detected as systemd")
	}
	os.MkdirAll(filepath.Join(run, "systemd", "system"), 0o755)
	if !g.systemdInit() {
		t.Error("/run/systemd/system: not detected")
	}
}

func TestKVM(t *testing.T) {
	dev := t.TempDir()
	g := &gatherer{dev: dev, kvm: func(string) error { return nil }}
	if k := g.probeKVM(); k.Present || k.Usable || k.Error == "" {
		t.Errorf("no /dev/kvm: %+v", k)
	}
	os.WriteFile(filepath.Join(dev, "kvm"), nil, 0o600)
	g.kvm = func(string) error { return errors.New("KVM_CREATE_VM: operation not permitted") }
	if k := g.probeKVM(); !k.Present || k.Usable || !strings.Contains(k.Error, "KVM_CREATE_VM") {
		t.Errorf("unusable /dev/kvm: %+v", k)
	}
	g.kvm = func(string) error { return nil }
	if k := g.probeKVM(); !k.Present || !k.Usable {
		t.Errorf("usable /dev/kvm: %+v", k)
	}
	// The real probe refuses what is not a character device.
	if err := probeKVM(filepath.Join(dev, "kvm")); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("probeKVM(regular file) = %v", err)
	}
}

func TestCPUVirt(t *testing.T) {
	for file, want := range map[string]string{"intel": "vmx", "amd": "svm", "novirt": "", "arm64": ""} {
		proc := t.TempDir()
		os.WriteFile(filepath.Join(proc, "cpuinfo"), []byte(testdata(t, "cpuinfo/"+file)), 0o644)
		g := &gatherer{proc: proc}
		got, err := g.cpuVirt()
		if err != nil || got != want {
			t.Errorf("%s: %q (%v), want %q", file, got, err, want)
		}
	}
}

// TestGlibcVersionReal reads this machine's libc.so.6 and compares with
// what glibc itself reports.
func TestGlibcVersionReal(t *testing.T) {
	libc := realLibc(t)
	got, err := GlibcVersion(libc)
	if err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("getconf", "GNU_LIBC_VERSION").Output()
	if err != nil {
		testenv.Skipf(t, "needs getconf to cross-check: %v", err)
	}
	want := strings.TrimPrefix(strings.TrimSpace(string(out)), "glibc ")
	if got != want {
		t.Errorf("GlibcVersion(%s) = %q, getconf says %q", libc, got, want)
	}
	if v, err := GlibcVersion("/bin/sh"); err != nil || v != "" {
		t.Errorf("GlibcVersion(/bin/sh) = %q, %v; want \"\" (defines no GLIBC_ versions)", v, err)
	}
	if _, err := GlibcVersion(filepath.Join("testdata", "dpkg-status")); err == nil {
		t.Error("GlibcVersion(non-ELF): no error")
	}
}

func TestFindGlibcNone(t *testing.T) {
	root := tree(t, map[string]string{"lib/ld-musl-x86_64.so.1": "musl"})
	if v, p, err := findGlibc(root); v != GlibcNone || p != "musl" || err != nil {
		t.Errorf("musl root: %q %q %v", v, p, err)
	}
	root = tree(t, map[string]string{"bin/busybox": "static"})
	if v, p, err := findGlibc(root); v != GlibcNone || p != "" || err != nil {
		t.Errorf("static root: %q %q %v", v, p, err)
	}
	root = tree(t, map[string]string{"lib64/libc.so.6": "not an ELF file"})
	if _, _, err := findGlibc(root); err == nil {
		t.Error("broken libc.so.6: no error")
	}
}

func TestResolveIn(t *testing.T) {
	root := tree(t, map[string]string{
		"usr/lib64/libc.so.6": "x",
		"lib64":               "->/usr/lib64",
		"escape":              "->../../../../etc",
		"etc/hostname":        "fake",
		"loop":                "->loop",
	})
	if p, err := resolveIn(root, "/lib64/libc.so.6"); err != nil || p != filepath.Join(root, "usr/lib64/libc.so.6") {
		t.Errorf("absolute link: %q %v", p, err)
	}
	// ".." cannot climb out of the root, as in a chroot.
	if p, err := resolveIn(root, "/escape/hostname"); err != nil || p != filepath.Join(root, "etc/hostname") {
		t.Errorf("escape: %q %v, want %s", p, err, filepath.Join(root, "etc/hostname"))
	}
	if _, err := resolveIn(root, "/loop"); err == nil {
		t.Error("symlink loop: no error")
	}
}

func TestDpkgStatus(t *testing.T) {
	got := parseDpkgStatus([]byte(testdata(t, "dpkg-status")), []string{"docker.io", "containerd", "runc", "docker-ce"})
	want := []Package{
		{Name: "docker.io", Version: "20.10.24+dfsg1-1+deb12u1+b6", Manager: "dpkg"},
		{Name: "runc", Version: "1.1.5+ds1-1+deb12u1", Manager: "dpkg"},
	}
	if !slices.Equal(got, want) {
		t.Errorf("got %+v\nwant %+v (containerd is removed, config-files only)", got, want)
	}
}

func TestDefaultPackageQuery(t *testing.T) {
	root := tree(t, map[string]string{"var/lib/dpkg/status": testdata(t, "dpkg-status")})
	got, err := DefaultPackageQuery(root, []string{"docker.io"})
	if err != nil || len(got) != 1 || got[0].Name != "docker.io" {
		t.Errorf("dpkg root: %+v %v", got, err)
	}
	if _, err := exec.LookPath("rpm"); err == nil {
		t.Log("rpm is installed: not checking the missing-rpm error")
		return
	}
	root = tree(t, map[string]string{"var/lib/rpm/Packages": "bdb"})
	if _, err := DefaultPackageQuery(root, []string{"docker-ce"}); err == nil || !strings.Contains(err.Error(), "rpm") {
		t.Errorf("rpm root without rpm: %v", err)
	}
}

func TestConflicts(t *testing.T) {
	root := tree(t, map[string]string{
		"usr/bin/dockerd":          "#!/bin/sh\n",
		"bin":                      "->usr/bin", // merged /usr: counted once
		"usr/local/bin/containerd": "#!/bin/sh\n",
		"usr/sbin/notbin/runc":     "",
	})
	// A non-executable runc is not a binary.
	os.WriteFile(filepath.Join(root, "usr/sbin/runc"), []byte("text"), 0o644)
	var asked []string
	f := gatherFake(t, root, WithPackageQuery(func(r string, names []string) ([]Package, error) {
		asked = names
		return []Package{{Name: "docker-ce", Version: "26.1.3-1.el8", Manager: "rpm"}, {Name: "bash", Manager: "rpm"}}, nil
	}))
	for _, n := range []string{"docker-ce", "containerd.io", "docker.io", "runc", "moby-engine", "podman-docker"} {
		if !slices.Contains(asked, n) {
			t.Errorf("package %s not queried", n)
		}
	}
	want := []Conflict{
		{Kind: "package", Name: "docker-ce", Version: "26.1.3-1.el8", Manager: "rpm", Component: "docker"},
		{Kind: "binary", Name: "containerd", Path: "/usr/local/bin/containerd", Component: "containerd"},
		{Kind: "binary", Name: "dockerd", Path: "/usr/bin/dockerd", Component: "docker"},
	}
	if !slices.Equal(f.Conflicts, want) {
		t.Errorf("conflicts\n got %+v\nwant %+v", f.Conflicts, want)
	}
}

func TestGatherLive(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("needs Linux") // by design: gathers the facts of a Linux host
	}
	f, err := Gather("/")
	if err != nil {
		t.Fatal(err)
	}
	if !f.Live || f.Kernel == "" || f.Machine == "" || f.Arch != runtime.GOARCH {
		t.Errorf("live facts: %+v", f)
	}
	if len(f.Disks) == 0 || f.Disks[0].Free == 0 {
		t.Errorf("disks %+v", f.Disks)
	}
	t.Logf("live: %s, kernel %s, glibc %s, cgroup %s, systemd init %v, kvm %+v, cpu %q, %d conflicts, problems %q",
		f.OS, f.Kernel, f.Glibc, f.Cgroup, f.SystemdInit, f.KVM, f.CPUVirt, len(f.Conflicts), f.Problems)
}

func TestCompareVersions(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want int
	}{
		{"2.28", "2.34", -1}, {"2.34", "2.34", 0}, {"2.35", "2.34", 1}, {"2.3", "2.28", -1},
		{"4.19.90-52.22.v2207.ky10.x86_64", "4.19", 1}, {"4.18.0-348.el8", "4.19", -1},
		{"5.10", "5.10.0", 0}, {"v1.2", "1.2", 0},
	} {
		if got := compareVersions(tc.a, tc.b); got != tc.want {
			t.Errorf("compareVersions(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
