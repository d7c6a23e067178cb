package install

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/manifest"
)

// calicoConflist is what Calico's install-cni writes (calico
// cni-plugin/pkg/install, the default template), as found on a node.
const calicoConflist = `{
  "name": "k8s-pod-network",
  "cniVersion": "0.3.1",
  "plugins": [
    {
      "type": "calico",
      "log_level": "info",
      "datastore_type": "kubernetes",
      "nodename": "kylin-node-1",
      "mtu": 0,
      "ipam": {"type": "calico-ipam"},
      "policy": {"type": "k8s"},
      "kubernetes": {"kubeconfig": "/etc/cni/net.d/calico-kubeconfig"}
    },
    {"type": "portmap", "snat": true, "capabilities": {"portMappings": true}},
    {"type": "bandwidth", "capabilities": {"bandwidth": true}}
  ]
}
`

// TestCNICalicoUntouched: a host with a Kubernetes network keeps it byte
// for byte (content, mode, mtime) through apply and uninstall; apply writes
// no network of its own there and says why.
func TestCNICalicoUntouched(t *testing.T) {
	e := newEnv(t, cniFixture())
	calico := config.CNIConfDir.Join("10-calico.conflist")
	e.write(calico, calicoConflist, 0o600)
	hp := filepath.Join(e.root, string(calico))
	before, _ := os.Stat(hp)
	same := func(when string) {
		t.Helper()
		b, err := os.ReadFile(hp)
		if err != nil || !bytes.Equal(b, []byte(calicoConflist)) {
			t.Fatalf("%s: 10-calico.conflist changed (%v):\n%s", when, err, b)
		}
		fi, _ := os.Stat(hp)
		if fi.Mode() != before.Mode() || !fi.ModTime().Equal(before.ModTime()) {
			t.Errorf("%s: mode/mtime %v %v, was %v %v", when, fi.Mode(), fi.ModTime(), before.Mode(), before.ModTime())
		}
	}
	rep := e.mustApply()
	same("after apply")
	if _, err := os.Stat(filepath.Join(e.root, string(config.CNIConfigPath))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("apply wrote %s next to Calico's (%v)", config.CNIConfigPath, err)
	}
	if w := strings.Join(rep.Plan.Warnings, "\n"); !strings.Contains(w, "10-calico.conflist") || !strings.Contains(w, "not written") {
		t.Errorf("plan does not say the network is left alone: %q", w)
	}
	// The plugins are installed all the same (Calico's chain runs portmap).
	if _, err := os.Stat(filepath.Join(e.root, string(config.CNIBinDir), "portmap")); err != nil {
		t.Error(err)
	}
	e.mustApply()
	same("after a second apply")
	if _, err := e.installer().Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	same("after uninstall")
}

// TestCNIDefaultNetwork: with no network config, apply writes satchel's;
// nerdctl's own file (written on its first run) does not make a second
// apply drop it; uninstall removes satchel's file only.
func TestCNIDefaultNetwork(t *testing.T) {
	e := newEnv(t, cniFixture())
	e.mustApply()
	got := e.read(config.CNIConfigPath)
	want, _ := config.CNIConflist(config.CNIOptions{})
	if got != string(want) || !strings.Contains(got, `"bridge": "satchel0"`) || !strings.Contains(got, `"subnet": "10.88.0.0/16"`) {
		t.Fatalf("default network:\n%s", got)
	}
	nerdctlBridge := config.CNIConfDir.Join("nerdctl-bridge.conflist")
	e.write(nerdctlBridge, `{"cniVersion":"1.0.0","name":"bridge","nerdctlID":"x","plugins":[{"type":"bridge","bridge":"nerdctl0"}]}`, 0o644)
	rep := e.mustApply()
	if rep.Changed {
		t.Errorf("second apply changed something: %v", rep.Plan.Changes())
	}
	if e.read(config.CNIConfigPath) != string(want) {
		t.Error("second apply changed the default network")
	}
	if _, err := e.installer().Uninstall(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(e.root, string(config.CNIConfigPath))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("uninstall left %s (%v)", config.CNIConfigPath, err)
	}
	if _, err := os.Stat(filepath.Join(e.root, string(nerdctlBridge))); err != nil {
		t.Errorf("uninstall removed nerdctl's own network: %v", err)
	}
}

// TestPreflightWithoutIPTables: a root without iptables gets the
// iptables-missing finding with a remedy; apply into a directory warns
// (the tree may get iptables later), apply onto the live system refuses
// (exit code 4) and writes nothing.
func TestPreflightWithoutIPTables(t *testing.T) {
	e := newEnv(t, cniFixture())
	in := e.installer()
	src, err := in.Open(context.Background(), e.bundle)
	if err != nil {
		t.Fatal(err)
	}
	pre, err := in.Preflight(context.Background(), src)
	src.Close()
	if err != nil {
		t.Fatal(err)
	}
	found := 0
	for _, f := range pre.Findings {
		if f.ID == "iptables-missing" {
			found++
			if f.Severity != host.SeverityWarning || f.Remedy == "" || !strings.Contains(f.Message, "no iptables") {
				t.Errorf("into a directory: %+v", f)
			}
		}
	}
	if found != 2 || pre.Failed {
		t.Errorf("into a directory: %d iptables-missing findings, failed=%v", found, pre.Failed)
	}
	e.mustApply() // a warning does not stop apply

	live := newEnv(t, cniFixture())
	newLiveSystem(t, live.runner)
	facts := liveFacts(t, live.root)
	facts.Net.IPTables = host.Tool{}
	_, err = live.apply(live.liveInstaller(WithFacts(facts)))
	var pe *PreflightError
	if !errors.As(err, &pe) || manifest.ExitCode(err) != manifest.ExitPreflight {
		t.Fatalf("live apply without iptables: %v (exit %d)", err, manifest.ExitCode(err))
	}
	for _, comp := range []string{"cni", "docker"} {
		if !strings.Contains(err.Error(), "error: "+comp+": no iptables in the target") || !strings.Contains(err.Error(), "[iptables-missing]\n  remedy: ") {
			t.Errorf("error does not name iptables for %s: %v", comp, err)
		}
	}
	if st, _ := live.state(); st != nil {
		t.Errorf("a refused apply recorded an install")
	}
	if _, err := os.Stat(filepath.Join(live.root, "usr/local/bin/containerd")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("a refused apply wrote files (%v)", err)
	}
}
