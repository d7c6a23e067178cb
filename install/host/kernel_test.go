package host

import (
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
)

func TestModuleName(t *testing.T) {
	for in, want := range map[string]string{
		"kernel/arch/x86/kvm/kvm-intel.ko.xz:": "kvm_intel",
		"kernel/drivers/vhost/vhost_net.ko":    "vhost_net",
		"kernel/fs/overlayfs/overlay.ko.zst":   "overlay",
		"br_netfilter":                         "br_netfilter",
		" vhost-vsock ":                        "vhost_vsock",
	} {
		if got := moduleName(in); got != want {
			t.Errorf("moduleName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestKernelModules(t *testing.T) {
	const kernel = "4.19.90-52.22.v2207.ky10.x86_64"
	proc, sys, mods := t.TempDir(), t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(proc, "modules"), []byte("vhost 57344 0 - Live 0x0\n"), 0o644)
	os.MkdirAll(filepath.Join(sys, "module", "kvm", "parameters"), 0o755)
	os.MkdirAll(filepath.Join(mods, kernel), 0o755)
	os.WriteFile(filepath.Join(mods, kernel, "modules.builtin"), []byte("kernel/fs/overlayfs/overlay.ko\n"), 0o644)
	os.WriteFile(filepath.Join(mods, kernel, "modules.dep"), []byte("kernel/arch/x86/kvm/kvm-intel.ko.xz: kernel/arch/x86/kvm/kvm.ko.xz\nkernel/drivers/vhost/vhost.ko.xz:\n"), 0o644)
	root := tree(t, map[string]string{
		"usr/lib/modules-load.d/vhost.conf":   "# comment\nvhost\n",
		"etc/modules-load.d/vhost.conf":       "; masks the one in /usr/lib\nvhost_net\n",
		"etc/modules-load.d/satchel.conf":     "kvm_intel\nvhost_net\n",
		"usr/lib/modules-load.d/kvm.conf.off": "kvm_intel\n", // not *.conf
	})
	g := &gatherer{root: root, proc: proc, sys: sys, modules: mods}
	ms, err := g.kernelModules(kernel)
	if err != nil {
		t.Fatal(err)
	}
	f := &Facts{Modules: ms}
	for name, want := range map[string]Module{
		"vhost":       {State: ModuleLoaded},                              // loaded wins over modules.dep
		"overlay":     {State: ModuleBuiltin},                             // modules.builtin
		"kvm":         {State: ModuleBuiltin},                             // /sys/module only
		"kvm_intel":   {State: ModuleLoadable, BootFile: ModulesLoadFile}, // dash in the file name
		"vhost_net":   {State: ModuleMissing, BootFile: "/etc/modules-load.d/vhost.conf"},
		"vhost_vsock": {State: ModuleMissing},
	} {
		m := f.Module(name)
		if m.State != want.State || m.BootFile != want.BootFile {
			t.Errorf("%s: %+v, want %+v", name, m, want)
		}
	}
	// /usr/lib's vhost.conf is masked by /etc's of the same name.
	if m := f.Module("vhost"); m.BootFile != "" {
		t.Errorf("vhost boot file %q: masked file read", m.BootFile)
	}

	// Without the kernel's module lists, modules not loaded are unknown.
	g.modules = t.TempDir()
	ms, err = g.kernelModules(kernel)
	if err == nil || !strings.Contains(err.Error(), "modules.dep") {
		t.Errorf("no modules.dep: %v", err)
	}
	f = &Facts{Modules: ms}
	if f.Module("vhost").State != ModuleLoaded || f.Module("vhost_net").State != ModuleUnknown || f.Module("vhost_net").Available() {
		t.Errorf("unknown: %+v", ms)
	}
}

func TestIPTablesBackend(t *testing.T) {
	for _, tc := range []struct {
		chain []string
		want  string
	}{
		{[]string{"/usr/sbin/iptables", "/usr/sbin/xtables-nft-multi"}, BackendNFTables},
		{[]string{"/usr/sbin/iptables", "/usr/sbin/xtables-legacy-multi"}, BackendLegacy},
		{[]string{"/usr/sbin/iptables", "/etc/alternatives/iptables", "/usr/sbin/iptables-legacy", "/usr/sbin/xtables-legacy-multi"}, BackendLegacy},
		{[]string{"/sbin/iptables", "/sbin/xtables-multi"}, BackendLegacy},          // iptables 1.6
		{[]string{"/sbin/iptables", "/sbin/xtables-compat-multi"}, BackendNFTables}, // 1.6's nft
		{[]string{"/usr/sbin/iptables"}, ""},                                        // a plain binary: cannot tell
	} {
		if got := iptablesBackend(tc.chain); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.chain, got, tc.want)
		}
	}
	// Through an absolute link that must stay inside the root.
	root := tree(t, map[string]string{
		"usr/sbin/xtables-nft-multi": "x",
		"etc/alternatives/iptables":  "->/usr/sbin/xtables-nft-multi",
		"sbin/iptables":              "->/etc/alternatives/iptables",
	})
	if tl := findTool(root, "iptables"); tl.Path != "/sbin/iptables" || tl.Target != "/usr/sbin/xtables-nft-multi" || tl.Backend != BackendNFTables {
		t.Errorf("findTool: %+v", tl)
	}
	if tl := findTool(root, "ip6tables"); tl.Path != "" {
		t.Errorf("ip6tables: %+v", tl)
	}
}

func TestSysctls(t *testing.T) {
	root := tree(t, map[string]string{
		"usr/lib/sysctl.d/50-default.conf": "net.ipv4.ip_forward = 0\n",
		"usr/lib/sysctl.d/60-masked.conf":  "net.ipv4.ip_forward = 0\n",
		"etc/sysctl.d/60-masked.conf":      "# the administrator's copy masks /usr/lib's\n",
		"run/sysctl.d/70-k8s.conf":         "-net/ipv4/ip_forward=1\nnet.bridge.bridge-nf-call-iptables = 1\n",
		"etc/sysctl.d/README":              "net.ipv4.ip_forward = 0\n", // not *.conf
	})
	proc := t.TempDir()
	os.MkdirAll(filepath.Join(proc, "sys/net/ipv4"), 0o755)
	os.WriteFile(filepath.Join(proc, "sys/net/ipv4/ip_forward"), []byte("1\n"), 0o644)
	g := &gatherer{root: root, proc: proc}
	ss, err := g.sysctls()
	if err != nil {
		t.Fatal(err)
	}
	f := &Facts{Sysctls: ss}
	if s := f.Sysctl("net.ipv4.ip_forward"); s.Value != "1" || s.Boot != "1" || s.BootFile != "/run/sysctl.d/70-k8s.conf" {
		t.Errorf("ip_forward: %+v", s)
	}
	if s := f.Sysctl("net.bridge.bridge-nf-call-iptables"); s.Value != "" || s.Boot != "1" {
		t.Errorf("bridge-nf-call-iptables (br_netfilter not loaded): %+v", s)
	}
	// /etc/sysctl.conf comes last.
	os.WriteFile(filepath.Join(root, "etc/sysctl.conf"), []byte("net.ipv4.ip_forward=0\n"), 0o644)
	ss, _ = g.sysctls()
	f = &Facts{Sysctls: ss}
	if s := f.Sysctl("net.ipv4.ip_forward"); s.Boot != "0" || s.BootFile != "/etc/sysctl.conf" {
		t.Errorf("with sysctl.conf: %+v", s)
	}
	if got := SysctlsToSet(f, []string{"containerd"}); len(got) != 1 || got[0].BootFile != SysctlFile {
		t.Errorf("SysctlsToSet = %+v", got)
	}
	// Set to 1 at boot by someone else: nothing to write; for runc alone, never.
	f.Sysctls[0] = Sysctl{Key: "net.ipv4.ip_forward", Boot: "1", BootFile: "/etc/sysctl.d/k8s.conf"}
	if got := SysctlsToSet(f, []string{"docker"}); got != nil {
		t.Errorf("already set: %+v", got)
	}
	f.Sysctls[0].BootFile = SysctlFile // satchel's own, from an earlier apply
	if got := SysctlsToSet(f, []string{"cni"}); len(got) != 1 {
		t.Errorf("satchel's own setting: %+v", got)
	}
	if got := SysctlsToSet(f, []string{"runc"}); got != nil {
		t.Errorf("runc: %+v", got)
	}
	if !sysctlAfter("/etc/sysctl.conf", SysctlFile) || sysctlAfter("/usr/lib/sysctl.d/50-default.conf", SysctlFile) || !sysctlAfter("/etc/sysctl.d/99-z.conf", SysctlFile) {
		t.Error("sysctlAfter")
	}
}

func TestSELinux(t *testing.T) {
	sys := t.TempDir()
	g := &gatherer{root: tree(t, map[string]string{"README": ""}), sys: sys}
	if s, err := g.selinux(); err != nil || s.Mode != SELinuxDisabled || s.Config != "" || s.On() {
		t.Errorf("no selinuxfs, no config: %+v %v", s, err)
	}
	os.MkdirAll(filepath.Join(sys, "fs/selinux"), 0o755)
	os.WriteFile(filepath.Join(sys, "fs/selinux/enforce"), []byte("0"), 0o644)
	g.root = tree(t, map[string]string{
		"etc/selinux/config":          "# SELINUX=disabled\nSELINUX=\"Enforcing\"\nSELINUXTYPE=targeted\n",
		"etc/containerd/config.toml":  "version = 3\n# enable_selinux = true\n[plugins.'io.containerd.cri.v1.runtime']\n  enable_selinux = true\n",
		"etc/docker/daemon.json":      `{"selinux-enabled": false}`,
		"etc/containerd/unused.toml":  "enable_selinux = true\n",
		"etc/docker/daemon.json.orig": `{"selinux-enabled": true}`,
	})
	s, err := g.selinux()
	if err != nil || s.Mode != SELinuxPermissive || s.Config != SELinuxEnforcing || s.Policy != "targeted" || !slices.Equal(s.Labelling, []string{"containerd"}) || !s.On() {
		t.Errorf("permissive: %+v %v", s, err)
	}
	// Only the commented line: no labelling.
	os.WriteFile(filepath.Join(g.root, "etc/containerd/config.toml"), []byte("# enable_selinux = true\n"), 0o644)
	if s, _ := g.selinux(); len(s.Labelling) != 0 {
		t.Errorf("commented enable_selinux: %+v", s)
	}
	// Disabled now, enforcing after a reboot: still on.
	os.RemoveAll(filepath.Join(sys, "fs/selinux"))
	if s, _ := g.selinux(); s.Mode != SELinuxDisabled || !s.On() {
		t.Errorf("enforcing at boot: %+v", s)
	}
}

// A FIFO or a device where a configuration file should be is refused, not
// read (it would hang, or never end).
func TestReadSmallRefusesSpecialFiles(t *testing.T) {
	root := tree(t, map[string]string{"etc/README": ""})
	if err := syscall.Mkfifo(filepath.Join(root, "etc/sysctl.conf"), 0o644); err != nil {
		testenv.Skipf(t, "mkfifo: %v", err)
	}
	os.MkdirAll(filepath.Join(root, "etc/selinux"), 0o755)
	os.Symlink("/dev/zero", filepath.Join(root, "etc/selinux/config"))
	os.MkdirAll(filepath.Join(root, "dev"), 0o755)
	if _, err := readSmall(root, "/etc/sysctl.conf"); err == nil || !strings.Contains(err.Error(), "named pipe (FIFO), not a regular file") {
		t.Errorf("FIFO: %v", err)
	}
	// /dev/zero inside the root does not exist: the link stays in the root.
	if _, err := readSmall(root, "/etc/selinux/config"); err == nil {
		t.Error("link to /dev/zero read")
	}
	if _, err := readRegular("/dev/zero"); err == nil || !strings.Contains(err.Error(), "character device") {
		t.Errorf("/dev/zero: %v", err)
	}
	big := filepath.Join(root, "big")
	os.WriteFile(big, make([]byte, maxConfigSize+1), 0o644)
	if _, err := readRegular(big); err == nil {
		t.Error("oversized file read")
	}
}

func TestGatherRootIsAFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "file")
	os.WriteFile(p, nil, 0o644)
	_, err := Gather(p)
	if err == nil || !strings.Contains(err.Error(), "is a regular file, not a directory") || strings.Contains(err.Error(), "---") {
		t.Errorf("err = %v", err)
	}
}

func TestKataVirtiofsd(t *testing.T) {
	for kata, want := range map[string]string{
		"3.0.0": "", "3.1.3": "1.3.0", "3.1.4": "1.3.0", "3.2.0": "1.8.0", "3.7.0": "1.8.0",
		"3.12.0": "1.8.0", "3.13.0": "1.13.0", "3.32.0": "1.13.0",
	} {
		if got := KataVirtiofsd(kata); got != want {
			t.Errorf("KataVirtiofsd(%s) = %q, want %q", kata, got, want)
		}
	}
	for v, want := range map[string]bool{"": false, "1.3.0": false, "1.4.0": true, "1.8.0": true, "1.13.0": true} {
		if got := VirtiofsdNeedsPidfdOpen(v); got != want {
			t.Errorf("VirtiofsdNeedsPidfdOpen(%q) = %v", v, got)
		}
	}
	with := &Facts{PidfdOpen: true}
	without := &Facts{}
	unknown := &Facts{PidfdOpenError: "EPERM"}
	for _, tc := range []struct {
		f    *Facts
		kata string
		want string
	}{
		{with, "3.2.0", ""}, {without, "3.2.0", "chroot"}, {unknown, "3.7.0", "chroot"},
		{without, "3.1.3", ""}, {without, "2.5.2", ""},
	} {
		if got := VirtiofsdSandbox(tc.f, tc.kata); got != tc.want {
			t.Errorf("VirtiofsdSandbox(%+v, %s) = %q, want %q", tc.f, tc.kata, got, tc.want)
		}
	}
	c := &manifest.Component{Name: "kata", Version: "3.1.3", Artifacts: []manifest.Artifact{
		{Platform: "linux/amd64", URL: "https://github.com/kata-containers/kata-containers/releases/download/3.1.3/kata-static-3.1.3-x86_64.tar.xz"},
		{Platform: "linux/arm64", URL: "https://github.com/kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-arm64.tar.xz"},
		{Platform: "linux/s390x", URL: "https://example.test/kata.tar"},
	}}
	for pl, want := range map[string]string{"linux/amd64": "3.1.3", "linux/arm64": "3.2.0", "linux/s390x": "3.1.3"} {
		if got := KataVersion(c, pl); got != want {
			t.Errorf("KataVersion(%s) = %s, want %s", pl, got, want)
		}
	}
	// An index that records the artifact's release (issue 10) is taken at
	// its word, whatever the URL says (a mirror may rename the file).
	c.Artifacts[2].Version = "3.7.0"
	if got := KataVersion(c, "linux/s390x"); got != "3.7.0" {
		t.Errorf("KataVersion with a recorded release = %s, want 3.7.0", got)
	}
}

func TestRunscStarts(t *testing.T) {
	release := &manifest.Component{Name: "gvisor", Version: "20250331.0"}
	build64 := &manifest.Component{Name: "gvisor", Version: "20260817.0", Variant: GvisorVariant64K}
	for _, tc := range []struct {
		arch string
		page int
		c    *manifest.Component
		ok   bool
	}{
		{"amd64", 4096, release, true},
		{"arm64", 4096, release, true},
		{"arm64", 65536, release, false},
		{"arm64", 16384, release, false},
		{"arm64", 0, release, true}, // unknown: no claim
		{"arm64", 65536, build64, true},
		{"arm64", 4096, build64, false},
	} {
		ok, why := RunscStarts(&Facts{Arch: tc.arch, PageSize: tc.page}, tc.c)
		if ok != tc.ok || ok != (why == "") {
			t.Errorf("%s %d %s: %v %q", tc.arch, tc.page, tc.c.Variant, ok, why)
		}
	}
}

func TestPreflightCgroupRemedy(t *testing.T) {
	for kernel, v2 := range map[string]bool{
		"4.19.90-52.22.v2207.ky10.x86_64": false, "5.4.0": false, "": false,
		"5.8.0": true, "5.10.0-60.18.0.50.oe2203.x86_64": true,
	} {
		f := kylinFacts()
		f.Kernel = kernel
		for _, mode := range []string{CgroupV1, CgroupHybrid} {
			f.Cgroup = mode
			c := want(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), SeverityInfo, "cgroup", "")
			suggests := strings.Contains(c.Remedy, "unified_cgroup_hierarchy") || strings.Contains(c.Remedy, "cgroup v2")
			if suggests != v2 {
				t.Errorf("kernel %q %s: remedy %q", kernel, mode, c.Remedy)
			}
			if !strings.Contains(c.Message, "May 2029") {
				t.Errorf("cgroup message: %s", c.Message)
			}
			want(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), SeverityInfo, "kubelet-cgroup-v1", "")
		}
	}
	f := kylinFacts()
	f.Cgroup = CgroupV2
	none(t, Preflight(f, testIndex(), PreflightOptions{TargetIsLive: true}), "kubelet-cgroup-v1")
}

func TestPreflightDiskInstallerAndOverflow(t *testing.T) {
	ix := testIndex()
	comps := []string{"runc"}
	runc := int64(12 * mib)
	need := func(installer int64) uint64 {
		largest := max(runc, installer)
		n := uint64(runc + installer + largest + (1024+mib+70*mib)*imageFactor)
		return n + n*marginPct/100
	}
	for _, tc := range []struct {
		installer int64
		free      uint64
		fails     bool
	}{
		{0, need(0), false},
		{30 * mib, need(0), true}, // the installer's copy (and its temporary copy) count
		{30 * mib, need(30 * mib), false},
		{30 * mib, need(30*mib) - 1, true},
	} {
		f := kylinFacts()
		f.InstallerSize = tc.installer
		f.Disks = []Disk{{Path: "/", Free: tc.free, Device: 3}}
		d, ok := find(Preflight(f, ix, PreflightOptions{TargetIsLive: true, Components: comps}), "disk-space", "")
		if ok != tc.fails {
			t.Errorf("installer %d free %d: finding %v %s", tc.installer, tc.free, ok, d.Message)
		}
	}

	// Sizes near the int64 maximum saturate instead of wrapping to a small
	// number that any disk would hold.
	huge := testIndex()
	rc, _ := huge.Component("runc")
	for i := range rc.Artifacts {
		rc.Artifacts[i].Files = []manifest.File{
			{Path: "/usr/local/bin/runc", Size: math.MaxInt64},
			{Path: "/usr/local/bin/runc2", Size: math.MaxInt64},
			{Path: "/usr/local/bin/neg", Size: -5},
		}
	}
	for i := range huge.Blobs {
		huge.Blobs[i].Size = math.MaxInt64 / 2
	}
	f := kylinFacts()
	f.InstallerSize = math.MaxInt64
	f.Disks = []Disk{{Path: "/", Free: math.MaxUint64 - 1, Device: 3}}
	d := want(t, Preflight(f, huge, PreflightOptions{TargetIsLive: true, Components: []string{"runc", "docker"}, StageImages: true}), SeverityError, "disk-space", "")
	if !strings.Contains(d.Message, "more than") || strings.Contains(d.Message, "-") {
		t.Errorf("huge: %s / %s", d.Message, d.Remedy)
	}
	if addSat(math.MaxUint64, 1) != math.MaxUint64 || mulSat(math.MaxUint64/2, 3) != math.MaxUint64 || mulSat(0, 7) != 0 || mulSat(6, 7) != 42 {
		t.Error("saturating arithmetic")
	}
}

func TestModulesToLoadKVM(t *testing.T) {
	f := &Facts{Arch: "amd64", CPUVirt: "svm", Modules: []Module{
		{Name: "kvm", State: ModuleLoaded}, {Name: "kvm_amd", State: ModuleLoadable}, {Name: "kvm_intel", State: ModuleLoadable},
		{Name: "vhost", State: ModuleBuiltin}, {Name: "vhost_net", State: ModuleMissing}, {Name: "vhost_vsock", State: ModuleLoadable, BootFile: ModulesLoadFile},
	}}
	if got := ModulesToLoad(f, []string{"kata"}); !slices.Equal(got, []string{"kvm", "kvm_amd", "vhost_vsock"}) {
		t.Errorf("ModulesToLoad = %v", got)
	}
}

// TestFindingIDsDocumented: every ID a check can emit is in the table of
// doc.go, and the table names no ID that nothing emits.
func TestFindingIDsDocumented(t *testing.T) {
	doc, err := os.ReadFile("doc.go")
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	inTable := false
	for _, line := range strings.Split(string(doc), "\n") {
		f := strings.Fields(strings.TrimPrefix(line, "//"))
		switch {
		case len(f) > 0 && f[0] == "ID" && slices.Contains(f, "severity"):
			inTable = true
		case inTable && len(f) == 0:
			inTable = false
		case inTable:
			documented[f[0]] = true
		}
	}
	emitted := map[string]bool{}
	srcs, _ := filepath.Glob("*.go")
	re := regexp.MustCompile(`\bID: +"([a-z0-9-]+)"`)
	for _, src := range srcs {
		if strings.HasSuffix(src, "_test.go") {
			continue
		}
		b, _ := os.ReadFile(src)
		for _, m := range re.FindAllStringSubmatch(string(b), -1) {
			emitted[m[1]] = true
		}
	}
	if len(emitted) < 20 {
		t.Fatalf("found only %d IDs in the source: %v", len(emitted), emitted)
	}
	for id := range emitted {
		if !documented[id] {
			t.Errorf("finding ID %q is not in doc.go's table", id)
		}
	}
	for id := range documented {
		if !emitted[id] {
			t.Errorf("doc.go documents %q, which nothing emits", id)
		}
	}
}

func TestInstallerPathIsStates(t *testing.T) {
	if installerPath != string(state.SelfPath) {
		t.Errorf("installerPath %s, state.SelfPath %s", installerPath, state.SelfPath)
	}
	for m, want := range map[os.FileMode]string{os.ModeDir: "directory", os.ModeNamedPipe: "named pipe (FIFO)", os.ModeDevice | os.ModeCharDevice: "character device", 0: "regular file"} {
		if got, ref := typeName(m), rootfs.TypeName(m); got != want || got != ref {
			t.Errorf("typeName(%v) = %q, rootfs says %q", m, got, ref)
		}
	}
}
