// Package layers holds the test that keeps satchel's package graph
// pointing one way (docs/architecture.md): a read path (the installer,
// offline, verify-only) and a write path (the bundler, online, signing)
// that share only the data model and the bundle reader.
package layers

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

const mod = "github.com/satchel-dev/satchel/"

type pkg struct {
	ImportPath string
	Imports    []string
	Deps       []string
}

func list(t *testing.T) map[string]pkg {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps=false", "-json", mod+"...").Output()
	if err != nil {
		testenv.Skipf(t, "go list: %v", err)
	}
	pkgs := map[string]pkg{}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for dec.More() {
		var p pkg
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		pkgs[strings.TrimPrefix(p.ImportPath, mod)] = p
	}
	return pkgs
}

func rel(deps []string) []string {
	var out []string
	for _, d := range deps {
		if strings.HasPrefix(d, mod) {
			out = append(out, strings.TrimPrefix(d, mod))
		}
	}
	return out
}

func under(p string, prefixes ...string) bool {
	for _, pre := range prefixes {
		if p == pre || strings.HasPrefix(p, pre+"/") {
			return true
		}
	}
	return false
}

// rules: a package matching From may not depend (directly or not) on one
// matching To.
var rules = []struct {
	from, to []string
	why      string
}{
	{[]string{"manifest", "component", "internal/fault", "internal/human"}, []string{"verify", "sign", "pack", "fetch", "bundler", "build", "install", "profiles", "push", "sbom", "provenance", "audit", "diff"},
		"the data model is the bottom layer"},
	{[]string{"verify"}, []string{"sign", "fetch", "bundler", "build", "install", "pack"},
		"verification is what the offline installer links: no signing, no network"},
	{[]string{"install", "pack"}, []string{"fetch", "sign", "bundler", "build", "push", "profiles"},
		"the installer (read path) links nothing of the builder (write path)"},
	{[]string{"fetch", "sign", "bundler", "build", "profiles", "push"}, []string{"install"},
		"the builder does not reach into the installer engine"},
	{[]string{"install/plan"}, []string{"install/runner", "install/probe", "install/txn", "install/systemd", "install/importer"},
		"planning is pure: it runs nothing and writes nothing"},
	{[]string{"install/rootfs", "install/state", "install/images", "install/config", "install/host", "install/runner"}, []string{"install/txn", "install/probe", "install/plan"},
		"the engine's building blocks do not know the engine"},
	{[]string{""}, []string{"cmd"}, "commands are the top: nothing imports them"},
}

// TestLayers checks every rule against the real package graph.
func TestLayers(t *testing.T) {
	pkgs := list(t)
	if len(pkgs) < 20 {
		t.Fatalf("go list found %d packages", len(pkgs))
	}
	for name, p := range pkgs {
		deps := rel(append(append([]string{}, p.Imports...), p.Deps...))
		for _, r := range rules {
			if !under(name, r.from...) && !(len(r.from) == 1 && r.from[0] == "" && !strings.HasPrefix(name, "cmd/")) {
				continue
			}
			for _, d := range deps {
				if d != name && under(d, r.to...) {
					t.Errorf("%s depends on %s: %s", name, d, r.why)
				}
			}
		}
	}
}

// TestInstallerLinksNoNetworkOrSigning: satchel-install is offline and
// verify-only (a promise to its users).
func TestInstallerLinksNoNetworkOrSigning(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", mod+"cmd/install").Output()
	if err != nil {
		testenv.Skipf(t, "go list: %v", err)
	}
	for _, d := range strings.Fields(string(out)) {
		switch {
		case d == "net/http", d == "crypto/tls", strings.HasPrefix(d, "net/http/"):
			t.Errorf("satchel-install links %s: it must have no network client", d)
		case strings.HasPrefix(d, mod+"sign"), strings.Contains(d, "golang.org/x/crypto/scrypt"), strings.Contains(d, "sigstore/sigstore/pkg/signature/kms"):
			t.Errorf("satchel-install links %s: it verifies, it never signs", d)
		}
	}
}
