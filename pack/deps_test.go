package pack

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoNetworkImports keeps DESIGN.md's promise for the installer's side:
// nothing pack imports can open a network connection over HTTP or TLS.
func TestNoNetworkImports(t *testing.T) {
	if testing.Short() {
		t.Skip("runs go list")
	}
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("needs the go command")
	}
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
