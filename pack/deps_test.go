package pack

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// TestNoNetworkImports keeps DESIGN.md's promise for the installer's side:
// nothing pack imports can open a network connection over HTTP or TLS.
func TestNoNetworkImports(t *testing.T) {
	testenv.SkipShort(t, "runs go list")
	gobin := testenv.RequireBinary(t, "go")
	out, err := exec.Command(gobin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, dep := range strings.Fields(string(out)) {
		if dep == "net/http" || dep == "crypto/tls" || strings.HasPrefix(dep, "net/http/") {
			t.Errorf("pack depends on %s", dep)
		}
	}
}
