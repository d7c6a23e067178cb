package install

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// TestOptionsReachTheConfigs: --default-runtime, --registry-mirror and
// --kubeconfig show up where they belong, and a re-run is still a no-op.
func TestOptionsReachTheConfigs(t *testing.T) {
	e := newEnv(t, defaultFixture())
	var applied []string
	e.runner.paths["kubectl"] = "/usr/bin/kubectl"
	classes := false
	e.runner.handlers["kubectl"] = func(c runner.Cmd, _ []byte) ([]byte, error) {
		applied = append(applied, strings.Join(c.Args, " "))
		switch c.Args[2] {
		case "apply":
			if _, err := os.Stat(c.Args[4]); err != nil {
				return nil, failed(c, err.Error())
			}
			classes = true
		case "get":
			if classes {
				return []byte("runtimeclass.node.k8s.io/runsc\nruntimeclass.node.k8s.io/gvisor\nruntimeclass.node.k8s.io/kata\n"), nil
			}
			return nil, nil
		}
		return nil, nil
	}
	mirror, err := config.ParseRegistryMirror("docker.io=harbor.internal/dockerhub")
	if err != nil {
		t.Fatal(err)
	}
	opts := []Option{WithDefaultRuntime("runsc"), WithRegistryMirrors(mirror), WithKubeconfig("/etc/kubernetes/admin.conf")}
	e.mustApply(opts...)

	var drop map[string]any
	tomlUnmarshal(t, e.read(config.ContainerdDropInPath), &drop)
	if got := dig(drop, "plugins", "io.containerd.cri.v1.runtime", "containerd", "default_runtime_name"); got != "runsc" {
		t.Errorf("CRI default runtime %v", got)
	}
	if got := e.read("/etc/docker/daemon.json"); !strings.Contains(got, `"default-runtime": "runsc"`) {
		t.Errorf("daemon.json default runtime: %s", got)
	}
	if got := e.read("/etc/containerd/certs.d/docker.io/hosts.toml"); !strings.Contains(got, "harbor.internal") {
		t.Errorf("hosts.toml: %s", got)
	}
	want := "--kubeconfig /etc/kubernetes/admin.conf apply -f " + filepath.Join(e.root, "etc/satchel/kubernetes/runtimeclasses.yaml")
	if len(applied) != 2 || applied[1] != want {
		t.Errorf("kubectl calls: %q, want %q", applied, want)
	}
	applied = nil
	p := e.plan(e.installer(opts...))
	if p.Changed {
		t.Errorf("re-run wants changes: %v", describeChanges(p))
	}
	if len(applied) != 1 || !strings.Contains(applied[0], "get runtimeclass -o name") {
		t.Errorf("second plan's kubectl calls: %q", applied)
	}
}

// TestNoStartStagesImages: on a running system with --no-start, units are
// enabled but not started and the images wait for the first start.
func TestNoStartStagesImages(t *testing.T) {
	e := newEnv(t, defaultFixture())
	ls := newLiveSystem(t, e.runner)
	rep, err := e.apply(e.liveInstaller(WithNoStart(true)))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Plan.ImageMode != plan.ImageStage {
		t.Errorf("image mode %s", rep.Plan.ImageMode)
	}
	for _, u := range []string{"containerd.service", "docker.service", "satchel-images.service"} {
		if !ls.enabled[u] || ls.active[u] {
			t.Errorf("%s enabled=%v active=%v", u, ls.enabled[u], ls.active[u])
		}
	}
	if len(e.runner.called("images import")) != 0 {
		t.Errorf("images imported with --no-start")
	}
	if _, err := os.Stat(filepath.Join(e.root, string(state.StagedList))); err != nil {
		t.Errorf("no staged list: %v", err)
	}
}

// TestUpgradeRemovesAndRestores: a newer bundle without crictl removes
// crictl's files and puts back the crictl.yaml it had replaced.
func TestUpgradeRemovesAndRestores(t *testing.T) {
	e := newEnv(t, defaultFixture())
	userCrictl := "runtime-endpoint: unix:///run/other.sock\n# mine\n"
	e.write("/etc/crictl.yaml", userCrictl, 0o640)
	e.mustApply()
	if got := e.read("/etc/crictl.yaml"); got == userCrictl {
		t.Fatal("crictl.yaml not merged")
	}
	fx := e.fx
	fx.seq = 8
	fx.components = slices.DeleteFunc(slices.Clone(fx.components), func(c fixComponent) bool { return c.name == "crictl" })
	e.bundle, e.ix = fx.build(t, filepath.Join(e.dir, "v8"), e.key)
	p := e.plan(e.installer())
	got := describeChanges(p)
	for _, want := range []string{"remove file /usr/local/bin/crictl", "restore config /etc/crictl.yaml"} {
		if !slices.Contains(got, want) {
			t.Errorf("plan lacks %q: %v", want, got)
		}
	}
	e.mustApply()
	if got := e.read("/etc/crictl.yaml"); got != userCrictl {
		t.Errorf("crictl.yaml not restored: %q", got)
	}
	if fi, _ := os.Stat(filepath.Join(e.root, "etc/crictl.yaml")); fi.Mode().Perm() != 0o640 {
		t.Errorf("restored mode %v", fi.Mode())
	}
	for _, p := range []string{"/usr/local/bin/crictl", "/etc/bash_completion.d/crictl", string(state.OriginalDir) + "/etc/crictl.yaml"} {
		if _, err := os.Lstat(filepath.Join(e.root, p)); !os.IsNotExist(err) {
			t.Errorf("%s still there (%v)", p, err)
		}
	}
	st, _ := e.state()
	if st.Bundle.Sequence != 8 || len(st.History) != 1 || st.History[0].Sequence != 7 {
		t.Errorf("state after upgrade: %+v history %+v", st.Bundle, st.History)
	}
	if _, ok := st.File("/etc/crictl.yaml"); ok {
		t.Errorf("state still records crictl.yaml")
	}
	if p := e.plan(e.installer()); p.Changed {
		t.Errorf("after upgrade: %v", describeChanges(p))
	}
}

// TestUnsafeBundlePaths: a signed index naming a path outside the install
// prefixes, or a symlink out of the root, is refused before anything else.
func TestUnsafeBundlePaths(t *testing.T) {
	for name, f := range map[string]fixFile{
		"etc":     {path: "/etc/shadow", mode: 0o644, content: "x"},
		"dotdot":  {path: "/usr/local/bin/../../../etc/passwd", mode: 0o644, content: "x"},
		"setuid":  {path: "/usr/local/bin/su", mode: 0o4755, content: "x"},
		"linkout": {path: "/usr/local/bin/evil", link: "../../../../../../etc/shadow"},
	} {
		t.Run(name, func(t *testing.T) {
			fx := defaultFixture()
			fx.components = []fixComponent{{"runc", "1.2.5", []fixFile{bin("runc"), f}}}
			fx.images = nil
			e := newEnv(t, fx)
			before := snapshot(t, e.root)
			_, err := e.installer().Open(context.Background(), e.bundle)
			if manifest.ExitCode(err) != manifest.ExitVerification {
				t.Fatalf("exit %d (%v), want 3", manifest.ExitCode(err), err)
			}
			requireSameTree(t, before, snapshot(t, e.root))
		})
	}
}
