package sbom_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/sbom"
)

// realBinDir is where test/e2e/realbins.sh puts the real upstream binaries.
func realBinDir() string {
	if d := os.Getenv("SATCHEL_E2E_BIN"); d != "" {
		return d
	}
	if c := os.Getenv("SATCHEL_E2E_CACHE"); c != "" {
		return filepath.Join(c, "bin")
	}
	return "/var/cache/satchel-e2e/bin"
}

// requireRealBin returns the real binary's path, or skips: in CI (CI=true
// or SATCHEL_CI=1), where .ci/run builds them, it fails instead.
func requireRealBin(t *testing.T, name string) string {
	t.Helper()
	p := filepath.Join(realBinDir(), name)
	if _, err := os.Stat(p); err != nil {
		msg := "needs the real " + name + " in " + realBinDir() + " (test/e2e/realbins.sh builds it)"
		testenv.Skipf(t, "%s", msg)
	}
	return p
}

// TestRealBinariesModules puts the real containerd, ctr and runc built for
// the e2e tests into a bundle and checks that the SBOM validates and lists,
// for each, exactly the modules and Go version `go version -m` prints.
func TestRealBinariesModules(t *testing.T) {
	testenv.SkipShort(t, "packs 70 MB of real binaries: skipped with -short; `make test` runs it")
	bins := map[string]string{}
	for _, n := range []string{"containerd", "ctr", "runc"} {
		bins[n] = requireRealBin(t, n)
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		testenv.Skipf(t, "needs the go command to compare with `go version -m`")
	}
	read := func(n string) []byte {
		b, err := os.ReadFile(bins[n])
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	spec := bundletest.Spec{
		Name: "real", Version: "1", Sequence: 1,
		Components: []bundletest.Component{
			{Name: "containerd", Version: "2.4.2", Artifacts: []bundletest.Artifact{{
				Platform: "linux/amd64", URL: "https://github.com/containerd/containerd/releases/download/v2.4.2/containerd-static-2.4.2-linux-amd64.tar.gz",
				Files: []bundletest.File{{Path: "/usr/local/bin/containerd", Content: read("containerd")}, {Path: "/usr/local/bin/ctr", Content: read("ctr")}},
			}}},
			{Name: "runc", Version: "1.5.2", Artifacts: []bundletest.Artifact{{
				Platform: "linux/amd64", URL: "https://github.com/opencontainers/runc/releases/download/v1.5.2/runc.amd64",
				Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: read("runc")}},
			}}},
		},
	}
	b, ix := openBundle(t, spec)
	doc, err := sbom.Generate(ix, b, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	out, err := doc.Encode()
	if err != nil {
		t.Fatal(err)
	}
	validate(t, out)
	for _, n := range []string{"containerd", "ctr", "runc"} {
		var fileID string
		for _, f := range doc.Files {
			if f.FileName == "./usr/local/bin/"+n {
				fileID = f.SPDXID
			}
		}
		got := modulesOf(doc, fileID)
		want := goVersionMFile(t, goTool, bins[n])
		if !slices.Equal(got, want) {
			t.Errorf("%s: SBOM modules differ from `go version -m`:\n got %v\nwant %v", n, got, want)
		}
		goVer := ""
		for _, w := range want {
			if len(w) > 3 && w[:3] == "go " {
				goVer = w[3:]
			}
		}
		t.Logf("%s: %d entries (main module, dependencies, %s) match `go version -m`", n, len(got), goVer)
	}
}
