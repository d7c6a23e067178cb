package audit_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/audit"
	"github.com/satchel-dev/satchel/internal/bundletest"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/sbom"
)

// sbomOf writes a bundle carrying runc at version with the given binary
// and returns its SBOM, made as `satchel-bundle audit` makes it.
func sbomOf(t *testing.T, version string, bin []byte) *sbom.Document {
	t.Helper()
	dir := t.TempDir()
	out := filepath.Join(dir, "b.satchel")
	bundletest.Write(t, out, bundletest.Spec{
		Name: "audit-test", Version: "1", Sequence: 1,
		Components: []bundletest.Component{{Name: "runc", Version: version, Artifacts: []bundletest.Artifact{{
			Platform: "linux/amd64", URL: "https://github.com/opencontainers/runc/releases/download/v" + version + "/runc.amd64",
			Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: bin}},
		}}}},
	}, nil)
	b, err := pack.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ix, err := b.Index()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.Generate(ix, b, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	return doc
}

func self(t *testing.T) []byte {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(exe)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBundleRunc: a bundle pinning runc 1.2.6 reports CVE-2025-31133 (and
// the other two November 2025 advisories) as high; one pinning 1.4.3
// reports none of them. The binary inside is this test program, built by
// the current Go toolchain, which the stdlib records here do not affect.
func TestBundleRunc(t *testing.T) {
	db, err := audit.LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	bin := self(t)

	old := db.Audit(audit.PackagesFromSBOM(sbomOf(t, "1.2.6", bin)))
	var got []string
	for _, f := range old.Findings {
		got = append(got, f.ID+"/"+f.Severity.String())
		if f.ID == "CVE-2025-31133" && !slices.Contains(f.Where, "runc 1.2.6 release (linux/amd64)") {
			t.Errorf("CVE-2025-31133 where: %v", f.Where)
		}
	}
	slices.Sort(got)
	want := []string{"CVE-2025-31133/high", "CVE-2025-52565/high", "CVE-2025-52881/high", "CVE-2026-41579/unknown"}
	if !slices.Equal(got, want) {
		t.Errorf("runc 1.2.6: %v, want %v", got, want)
	}
	if _, err := old.AtOrAbove(audit.High); err == nil {
		t.Error("runc 1.2.6 passes --fail-on high")
	}
	// The pin and the binary's stdlib (a test binary records no dependencies).
	if old.Checked != 2 {
		t.Errorf("checked %d packages, want the pin and the binary's stdlib", old.Checked)
	}

	patched := db.Audit(audit.PackagesFromSBOM(sbomOf(t, "1.4.3", bin)))
	if len(patched.Findings) != 0 {
		t.Errorf("runc 1.4.3: %+v", patched.Findings)
	}
	if _, err := patched.AtOrAbove(audit.High); err != nil {
		t.Errorf("runc 1.4.3 fails --fail-on high: %v", err)
	}
}

// TestStdlibFromSBOM: a Go program built by an old toolchain carries that
// toolchain's standard library, which the audit checks by the SBOM's
// stdlib package.
func TestStdlibFromSBOM(t *testing.T) {
	db, err := audit.LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	doc := &sbom.Document{Packages: []sbom.Package{{
		SPDXID: "SPDXRef-GoStdlib-x", Name: "stdlib", VersionInfo: "go1.24.2",
		ExternalRefs: []sbom.ExternalRef{{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: "pkg:golang/stdlib@go1.24.2"}},
	}}}
	rep := db.Audit(audit.PackagesFromSBOM(doc))
	var ids []string
	for _, f := range rep.Findings {
		ids = append(ids, f.ID)
		if f.Name != "stdlib" || f.Version != "1.24.2" {
			t.Errorf("finding on %s %s", f.Name, f.Version)
		}
	}
	if !slices.Equal(ids, []string{"CVE-2025-58183", "CVE-2025-61727"}) {
		t.Errorf("stdlib go1.24.2: %v", ids)
	}
}

// TestDebianRuncBinary uses a real Go program built by an old toolchain
// when the machine has one (Debian's runc, go1.19): its stdlib is below
// every fix in the test database. Opportunistic: Debian's runc is not a
// prerequisite of the suite.
func TestDebianRuncBinary(t *testing.T) {
	bin, err := os.ReadFile("/usr/bin/runc")
	if err != nil {
		testenv.Skipf(t, "no /usr/bin/runc on this machine")
	}
	gb, ok := sbom.ReadGoBinary(strings.NewReader(string(bin)))
	if !ok {
		testenv.Skipf(t, "/usr/bin/runc is not a Go program with build information")
	}
	v, _ := audit.GoVersionToSemver(gb.GoVersion)
	if c := strings.Compare(v, "1.23"); c >= 0 && !strings.HasPrefix(v, "1.2") {
		testenv.Skipf(t, "/usr/bin/runc was built with %s", gb.GoVersion)
	}
	db, err := audit.LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	rep := db.Audit(audit.PackagesFromSBOM(sbomOf(t, "1.4.3", bin)))
	var stdlib []string
	for _, f := range rep.Findings {
		if f.Name == "stdlib" {
			stdlib = append(stdlib, f.ID)
			if len(f.Where) == 0 || !strings.Contains(f.Where[0], "/usr/local/bin/runc") {
				t.Errorf("stdlib finding where: %v", f.Where)
			}
		}
	}
	t.Logf("/usr/bin/runc (%s): stdlib findings %v", gb.GoVersion, stdlib)
	if len(stdlib) == 0 {
		t.Errorf("%s is below fixes in GO-2025-3563, GO-2025-4014 and GO-2025-4175, none reported", gb.GoVersion)
	}
}

// TestRealBinaries audits a bundle holding the real containerd 2.4.2 and
// runc 1.5.2 built for the e2e tests: every module compiled into them is
// checked, and none is in a range of the test database (containerd/v2
// 2.4.2 is above GO-2026-5378's last fix 2.3.1, runc 1.5.2 above every
// runc fix, their selinux modules at or above vulndb's fix 1.13.0, go1.26
// above the stdlib fixes).
func TestRealBinaries(t *testing.T) {
	testenv.SkipShort(t, "packs 50 MB of real binaries: skipped with -short; `make test` runs it")
	dir := os.Getenv("SATCHEL_E2E_BIN")
	if dir == "" {
		dir = "/var/cache/satchel-e2e/bin"
	}
	read := func(n string) []byte {
		b, err := os.ReadFile(filepath.Join(dir, n))
		if err != nil {
			msg := "needs the real " + n + " in " + dir + " (test/e2e/realbins.sh builds it)"
			testenv.Skipf(t, "%s", msg)
		}
		return b
	}
	containerd, runc := read("containerd"), read("runc")
	out := filepath.Join(t.TempDir(), "real.satchel")
	bundletest.Write(t, out, bundletest.Spec{
		Name: "real", Version: "1", Sequence: 1,
		Components: []bundletest.Component{
			{Name: "containerd", Version: "2.4.2", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
				URL:   "https://github.com/containerd/containerd/releases/download/v2.4.2/containerd-static-2.4.2-linux-amd64.tar.gz",
				Files: []bundletest.File{{Path: "/usr/local/bin/containerd", Content: containerd}}}}},
			{Name: "runc", Version: "1.5.2", Artifacts: []bundletest.Artifact{{Platform: "linux/amd64",
				URL:   "https://github.com/opencontainers/runc/releases/download/v1.5.2/runc.amd64",
				Files: []bundletest.File{{Path: "/usr/local/bin/runc", Content: runc}}}}},
		},
	}, nil)
	b, err := pack.OpenPath(out)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	ix, err := b.Index()
	if err != nil {
		t.Fatal(err)
	}
	if err := b.CheckLayout(ix); err != nil {
		t.Fatal(err)
	}
	doc, err := sbom.Generate(ix, b, sbom.Options{})
	if err != nil {
		t.Fatal(err)
	}
	db, err := audit.LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	pkgs := audit.PackagesFromSBOM(doc)
	rep := db.Audit(pkgs)
	var selinux string
	for _, p := range pkgs {
		if p.Name == "github.com/opencontainers/selinux" {
			selinux = p.Version
		}
	}
	t.Logf("%d package versions checked (selinux %s), %d findings, %d not checked", rep.Checked, selinux, len(rep.Findings), len(rep.NotChecked))
	if rep.Checked < 100 || selinux == "" {
		t.Errorf("only %d package versions checked; the binaries' modules are missing", rep.Checked)
	}
	if len(rep.Findings) != 0 || len(rep.NotChecked) != 0 {
		t.Errorf("findings %+v, not checked %v", rep.Findings, rep.NotChecked)
	}
}
