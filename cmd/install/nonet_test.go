package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// TestNoNetworkClient: satchel-install promises its users it cannot phone
// home. The test fails as soon as a dependency brings an HTTP or TLS client
// into the binary.
func TestNoNetworkClient(t *testing.T) {
	goBin := testenv.RequireBinary(t, "go") // to list dependencies
	out, err := exec.Command(goBin, "list", "-deps", ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	deps := strings.Fields(string(out))
	if len(deps) < 50 || !contains(deps, "github.com/satchel-dev/satchel/install") {
		t.Fatalf("go list -deps returned an implausible list (%d packages)", len(deps))
	}
	for _, forbidden := range []string{"net/http", "crypto/tls"} {
		if contains(deps, forbidden) {
			why, _ := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".").Output()
			var importers []string
			for _, l := range strings.Split(string(why), "\n") {
				if strings.Contains(" "+l+" ", " "+forbidden+" ") {
					importers = append(importers, strings.SplitN(l, ":", 2)[0])
				}
			}
			t.Errorf("./cmd/install depends on %s (imported by %s)", forbidden, strings.Join(importers, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
