package install

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/plan"
)

// kylinFacts loads the facts of a host fixture (install/host/testdata/hosts;
// TestFixtureFactsGolden keeps them equal to what Gather reads there).
func kylinFacts(t *testing.T, name string) *host.Facts {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("host", "testdata", "hosts", name, "facts.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f host.Facts
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatal(err)
	}
	return &f
}

// kataQemuConfig is the part of kata-static's configuration-qemu.toml the
// installer edits, as 3.2.0 ships it (src/runtime/config/configuration-qemu.toml.in).
const kataQemuConfig = `[hypervisor.qemu]
path = "/opt/kata/bin/qemu-system-aarch64"
# List of valid annotation names for the hypervisor
enable_annotations = ["enable_iommu", "virtio_fs_extra_args", "kernel_params"]
shared_fs = "virtio-fs"
virtio_fs_daemon = "/opt/kata/libexec/virtiofsd"
# Extra args for virtiofsd daemon
virtio_fs_extra_args = ["--thread-pool-size=1", "--announce-submounts"]

[agent.kata]
dial_timeout = 45
`

// kylinArm64Fixture is a bundle for linux/arm64 with the release gVisor
// (4K pages) and kata-static 3.2.0 (virtiofsd 1.8.0).
func kylinArm64Fixture() fixture {
	fx := defaultFixture()
	fx.platform = "linux/arm64"
	fx.images = nil
	fx.components = []fixComponent{
		{"containerd", "2.3.4", []fixFile{bin("containerd"), bin("ctr"), bin("containerd-shim-runc-v2")}},
		{"runc", "1.4.3", []fixFile{bin("runc")}},
		{"gvisor", "20260817.0", []fixFile{bin("runsc"), bin("containerd-shim-runsc-v1")}},
		{"kata", "3.2.0", []fixFile{
			{path: "/opt/kata/bin/containerd-shim-kata-v2", mode: 0o755, content: script("containerd-shim-kata-v2")},
			{path: "/opt/kata/share/defaults/kata-containers/configuration-qemu.toml", mode: 0o644, content: kataQemuConfig},
			{path: "/opt/kata/share/defaults/kata-containers/configuration.toml", link: "configuration-qemu.toml"},
			{path: "/usr/local/bin/containerd-shim-kata-v2", link: "/opt/kata/bin/containerd-shim-kata-v2"},
		}},
	}
	fx.urls = map[string]string{
		"kata": "https://github.com/kata-containers/kata-containers/releases/download/3.2.0/kata-static-3.2.0-arm64.tar.xz",
	}
	return fx
}

// TestKylinArm64Host plans and installs for a Kunpeng host with 64 KiB
// pages and a 4.19 kernel without pidfd_open (issue 10): preflight says
// why gVisor cannot start and what changes for kata; the plan does not
// register runsc, configures virtiofsd's chroot sandbox, and loads the
// modules kata needs at boot.
func TestKylinArm64Host(t *testing.T) {
	e := newEnv(t, kylinArm64Fixture())
	facts := kylinFacts(t, "kylin-v10-sp3-aarch64-64k")
	facts.Root = e.root
	in := e.installer(WithFacts(facts))
	p := e.plan(in)

	find := func(id, comp string) *host.Finding {
		for i, f := range p.Preflight.Findings {
			if f.ID == id && (comp == "" || f.Component == comp) {
				return &p.Preflight.Findings[i]
			}
		}
		return nil
	}
	if f := find("page-size", "gvisor"); f == nil || f.Remedy == "" || !strings.Contains(f.Message, "65536") {
		t.Errorf("no page-size finding for gvisor with a remedy: %+v", p.Preflight.Findings)
	}
	if f := find("virtiofsd-pidfd", "kata"); f == nil || !strings.Contains(f.Remedy+f.Message, "chroot") {
		t.Errorf("no virtiofsd finding for kata: %+v", f)
	}
	if slices.Contains(p.Runtimes, "runsc") {
		t.Errorf("runsc registered on a 64K host: %v", p.Runtimes)
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "runsc is not registered") }) {
		t.Errorf("the plan does not say runsc is left out: %q", p.Warnings)
	}
	get := func(path string) *plan.Action {
		i := slices.IndexFunc(p.Actions, func(a plan.Action) bool { return string(a.Path) == path })
		if i < 0 {
			t.Fatalf("plan has no %s: %v", path, describeChanges(p))
		}
		return &p.Actions[i]
	}
	kata := string(get("/etc/kata-containers/configuration.toml").Content.Data)
	if !strings.Contains(kata, `virtio_fs_extra_args = ["--thread-pool-size=1", "--announce-submounts", "--sandbox=chroot"]`) {
		t.Errorf("kata configuration lacks the chroot sandbox:\n%s", kata)
	}
	if !strings.Contains(kata, `enable_annotations = ["enable_iommu", "kernel_params"]`) || !strings.Contains(kata, "# Extra args for virtiofsd daemon") {
		t.Errorf("kata configuration: annotations or comments:\n%s", kata)
	}
	drop := string(get("/etc/containerd/conf.d/satchel.toml").Content.Data)
	if !strings.Contains(drop, "/etc/kata-containers/configuration.toml") || strings.Contains(drop, "runsc") {
		t.Errorf("containerd drop-in:\n%s", drop)
	}
	if rc := string(get("/etc/satchel/kubernetes/runtimeclasses.yaml").Content.Data); strings.Contains(rc, "gvisor") || !strings.Contains(rc, "podFixed") {
		t.Errorf("runtimeclasses:\n%s", rc)
	}
	mods := string(get(host.ModulesLoadFile).Content.Data)
	for _, m := range []string{"vhost_net", "overlay"} {
		if !strings.Contains(mods, m+"\n") {
			t.Errorf("modules-load.d lacks %s:\n%s", m, mods)
		}
	}

	// Installed into the directory (preflight errors are warnings there),
	// and taken back out by uninstall.
	e.mustApply(WithFacts(facts))
	if got := e.read("/etc/kata-containers/configuration.toml"); got != kata {
		t.Error("the kata configuration written differs from the plan's")
	}
}

// TestKylinX86Host: on the x86_64 fixture (4K pages) gVisor is
// registered, and kata 3.1.3 (virtiofsd 1.3.0, no pidfd_open) needs no
// sandbox change, only the annotation taken away.
func TestKylinX86Host(t *testing.T) {
	if hostPlatform != "linux/amd64" {
		t.Skip("the default fixture is built for this host's platform") // by design: the x86_64 fixture needs amd64 stand-ins
	}
	e := newEnv(t, defaultFixture())
	facts := kylinFacts(t, "kylin-v10-sp3-x86_64")
	facts.Root = e.root
	p := e.plan(e.installer(WithFacts(facts)))
	if !slices.Contains(p.Runtimes, "runsc") {
		t.Errorf("runsc not registered on a 4K host: %v", p.Runtimes)
	}
	for _, f := range p.Preflight.Findings {
		if f.ID == "page-size" || f.ID == "virtiofsd-pidfd" {
			t.Errorf("unexpected finding %+v", f)
		}
	}
}
