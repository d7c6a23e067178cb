package install

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/runner"
)

// TestDoctor runs doctor against a faked running stack: runc shows the
// host's kernel, runsc gVisor's; kata on a host without /dev/kvm is
// reported with the reason and the remedy, and fails the report.
func TestDoctor(t *testing.T) {
	for _, v := range []string{"v2.0.4", "1.6.20~ds1"} {
		t.Run(v, func(t *testing.T) { testDoctor(t, v) })
	}
}

// testDoctor runs doctor against a live system whose containerd reports
// version v: below 1.7, runsc runs under the runc shim (as rendered).
func testDoctor(t *testing.T, v string) {
	e := newEnv(t, defaultFixture())
	newLiveSystem(t, e.runner)
	listen(t, filepath.Join(e.dir, "docker.sock"))
	if _, err := e.apply(e.liveInstaller()); err != nil {
		t.Fatal(err)
	}
	listen(t, filepath.Join(e.dir, "containerd.sock"))
	liveCtr := e.runner.handlers["ctr"]
	var runs []string
	e.runner.handlers["ctr"] = func(c runner.Cmd, stdin []byte) ([]byte, error) {
		a := strings.Join(c.Args, " ")
		switch {
		case strings.HasSuffix(a, " version"):
			return []byte("Client:\n  Version:  " + v + "\n\nServer:\n  Version:  " + v + "\n  UUID: x\n"), nil
		case strings.Contains(a, " run --rm "):
			runs = append(runs, a)
			switch {
			case strings.Contains(a, "--runc-binary /usr/local/bin/runsc"):
				return []byte("4.4.0\n"), nil
			case strings.Contains(a, "io.containerd.runc.v2"):
				return []byte("4.19.90-52.22.v2207.ky10.x86_64\n"), nil
			case strings.Contains(a, "io.containerd.runsc.v1"):
				return []byte("4.4.0\n"), nil
			}
			return nil, failed(c, "unexpected runtime")
		}
		return liveCtr(c, stdin)
	}
	e.runner.handlers["crictl"] = func(c runner.Cmd, _ []byte) ([]byte, error) {
		return []byte(`{"status":{},"config":{"containerd":{"defaultRuntimeName":"runc","runtimes":{"runc":{},"runsc":{},"kata":{}}}}}`), nil
	}
	liveDocker := e.runner.handlers["docker"]
	e.runner.handlers["docker"] = func(c runner.Cmd, stdin []byte) ([]byte, error) {
		if slices.Contains(c.Args, "info") {
			return []byte(`{"io.containerd.runc.v2":{},"runc":{},"runsc":{"path":"/usr/local/bin/runsc"}}`), nil
		}
		return liveDocker(c, stdin)
	}
	facts := liveFacts(t, e.root)
	facts.Kernel = "4.19.90-52.22.v2207.ky10.x86_64"
	facts.KVM.Present, facts.KVM.Usable, facts.KVM.Error, facts.CPUVirt = false, false, "/dev/kvm does not exist", ""
	in := e.installer(WithFacts(facts), WithContainerdSocket(filepath.Join(e.dir, "containerd.sock")), WithDockerSocket(filepath.Join(e.dir, "docker.sock")))
	in.o.live = true
	rep, err := in.Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Check{}
	for _, c := range rep.Checks {
		got[c.Name] = c
	}
	expect := func(name, result, detail string) {
		t.Helper()
		c, ok := got[name]
		if !ok || c.Result != result || !strings.Contains(c.Detail, detail) {
			t.Errorf("%s: %+v, want %s with %q", name, c, result, detail)
		}
	}
	expect("service containerd.service", CheckOK, "active")
	expect("service docker.service", CheckOK, "active")
	expect("ctr version", CheckOK, "containerd "+v)
	expect("crictl info: runtimes", CheckOK, "kata, runc, runsc")
	expect("docker info: runtimes", CheckFail, "missing kata")
	expect("run runc: uname -r", CheckOK, "4.19.90-52.22.v2207.ky10.x86_64")
	expect("run runsc: uname -r", CheckOK, "4.4.0 (gVisor)")
	expect("run kata: uname -r", CheckFail, "/dev/kvm does not exist; the CPU shows no vmx/svm flag")
	if !strings.Contains(got["run kata: uname -r"].Remedy, "VT-x/AMD-V") {
		t.Errorf("kata remedy: %q", got["run kata: uname -r"].Remedy)
	}
	if rep.OK {
		t.Errorf("report OK despite failures")
	}
	// The runs use the bundled image (not the pause image), the bundled
	// runc, runsc's config and the sandbox annotation gVisor's shim needs.
	wantRunsc := "--runtime io.containerd.runsc.v1 --runtime-config-path /etc/containerd/runsc.toml --annotation io.kubernetes.cri.container-type=sandbox"
	if v == "1.6.20~ds1" {
		wantRunsc = "--runtime io.containerd.runc.v2 --runc-binary /usr/local/bin/runsc"
	}
	if len(runs) != 2 || !strings.Contains(runs[0], "--runc-binary /usr/local/bin/runc") || !strings.Contains(runs[0], "docker.io/library/nginx:1.27.4") ||
		!strings.Contains(runs[1], wantRunsc) {
		t.Errorf("runs:\n%s", strings.Join(runs, "\n"))
	}
}

// TestDoctorWithoutContainerd fails clearly and skips what needs containerd.
func TestDoctorWithoutContainerd(t *testing.T) {
	e := newEnv(t, defaultFixture())
	e.mustApply()
	e.runner.handlers["ctr"] = func(c runner.Cmd, _ []byte) ([]byte, error) {
		return nil, failed(c, "dial unix "+filepath.Join(e.dir, "none.sock")+": connect: no such file or directory")
	}
	rep, err := e.installer(WithContainerdSocket(filepath.Join(e.dir, "none.sock"))).Doctor(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range rep.Checks {
		switch {
		case c.Name == "ctr version":
			if c.Result != CheckFail || c.Remedy == "" {
				t.Errorf("ctr version: %+v", c)
			}
		case strings.HasPrefix(c.Name, "run "), strings.HasPrefix(c.Name, "crictl"), strings.HasPrefix(c.Name, "service "):
			if c.Result != CheckSkip {
				t.Errorf("%s: %+v, want skip", c.Name, c)
			}
		}
	}
	if rep.OK {
		t.Errorf("OK without containerd")
	}
}
