package main

import (
	"os/exec"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// signingPackages are import path prefixes of code that makes signatures or
// reads private keys. satchel-install only checks signatures (package
// verify, standard library only): none of these may be linked into it.
var signingPackages = []string{
	"github.com/satchel-dev/satchel/sign",  // key generation, private keys, KMS
	"github.com/sigstore/",                 // signer, KMS plugin launcher, cryptoutils
	"github.com/secure-systems-lab/",       // encrypted private key envelope
	"golang.org/x/crypto/scrypt",           // its key derivation
	"golang.org/x/crypto/nacl/",            // its secretbox
	"github.com/youmark/pkcs8",             // encrypted PKCS#8 private keys
	"google.golang.org/protobuf",           // pulled in by sigstore's signature options
	"cloud.google.com/", "github.com/aws/", // KMS providers
	"github.com/Azure/", "github.com/hashicorp/", // KMS providers
}

// TestNoSigningCode keeps the verify-only installer verify-only (issue 8):
// it fails as soon as a dependency brings signing, private-key or KMS code
// into satchel-install.
func TestNoSigningCode(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skipf(t, "needs the go command to list dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", "-f", `{{.ImportPath}}: {{join .Imports " "}}`, ".").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -deps: %v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	importers := map[string][]string{}
	var deps []string
	for _, l := range lines {
		pkg, imports, _ := strings.Cut(l, ": ")
		deps = append(deps, pkg)
		for _, imp := range strings.Fields(imports) {
			importers[imp] = append(importers[imp], pkg)
		}
	}
	if len(deps) < 50 || !contains(deps, "github.com/satchel-dev/satchel/verify") {
		t.Fatalf("go list -deps returned an implausible list (%d packages)", len(deps))
	}
	for _, dep := range deps {
		for _, bad := range signingPackages {
			if dep == bad || strings.HasPrefix(dep, bad) || strings.HasPrefix(dep, bad+"/") {
				t.Errorf("./cmd/install links %s (imported by %s)", dep, strings.Join(importers[dep], ", "))
			}
		}
	}
	t.Logf("satchel-install links %d packages", len(deps))
}
