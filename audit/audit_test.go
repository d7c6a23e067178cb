package audit

import (
	"archive/zip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func loadTestDB(t *testing.T) *DB {
	t.Helper()
	db, err := LoadDB("testdata/osv")
	if err != nil {
		t.Fatal(err)
	}
	if db.Entries != 12 {
		t.Fatalf("loaded %d records, want the 12 in testdata/osv", db.Entries)
	}
	return db
}

func ids(fs []Finding) []string {
	var out []string
	for _, f := range fs {
		out = append(out, f.ID)
	}
	slices.Sort(out)
	return out
}

func TestRealEntries(t *testing.T) {
	db := loadTestDB(t)
	runc := "github.com/opencontainers/runc"
	for _, c := range []struct {
		name, version string
		want          []string
	}{
		// The three November 2025 runc advisories and CVE-2026-41579.
		{runc, "1.2.6", []string{"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881", "CVE-2026-41579"}},
		{runc, "1.2.7", []string{"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881", "CVE-2026-41579"}},
		// 1.2.8 fixed the three; CVE-2026-41579 has no 1.2 fix.
		{runc, "1.2.8", []string{"CVE-2026-41579"}},
		{runc, "1.3.3", []string{"CVE-2026-41579"}},
		{runc, "1.3.6", nil},
		// Pre-releases: 1.4.0-rc.2 is before the fix in rc.3; rc.3 is
		// below 1.4.0, where CVE-2026-41579 was introduced.
		{runc, "1.4.0-rc.2", []string{"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881"}},
		{runc, "1.4.0-rc.3", nil},
		{runc, "1.4.0", []string{"CVE-2026-41579"}},
		{runc, "1.4.3", nil},
		{runc, "1.5.0-rc.2", []string{"CVE-2026-41579"}},
		{runc, "1.5.2", nil},
		// CVE-2025-52565 was introduced in 1.0.0-rc3: rc2 is before it.
		{runc, "1.0.0-rc2", []string{"CVE-2025-31133", "CVE-2025-52881", "CVE-2026-41579"}},
		// Go's "v" prefix is accepted.
		{runc, "v1.2.6", []string{"CVE-2025-31133", "CVE-2025-52565", "CVE-2025-52881", "CVE-2026-41579"}},
		// selinux: GHSA says last_affected 1.12.0, vulndb says fixed 1.13.0.
		{"github.com/opencontainers/selinux", "1.12.0", []string{"CVE-2025-52881"}},
		{"github.com/opencontainers/selinux", "1.12.1", []string{"CVE-2025-52881"}}, // vulndb's range only
		{"github.com/opencontainers/selinux", "1.13.0", nil},
		{"github.com/containerd/containerd/v2", "2.0.4", []string{"CVE-2024-25621", "CVE-2026-46680"}},
		{"github.com/containerd/containerd/v2", "2.0.3", []string{"CVE-2024-25621"}},
		{"github.com/containerd/containerd/v2", "2.3.4", nil},
		{"github.com/containerd/containerd", "1.7.27", []string{"CVE-2024-25621", "CVE-2026-46680"}},
		{"stdlib", "1.24.2", []string{"CVE-2025-58183", "CVE-2025-61727"}},
		{"stdlib", "1.23.7", []string{"CVE-2025-22871", "CVE-2025-58183", "CVE-2025-61727"}},
		{"stdlib", "1.24.0-rc.1", []string{"CVE-2025-22871", "CVE-2025-58183", "CVE-2025-61727"}},
		{"stdlib", "1.25.5", nil},
		{"stdlib", "1.26.8", nil},
	} {
		rep := db.Audit([]Package{{Ecosystem: "Go", Name: c.name, Version: c.version}})
		if got := ids(rep.Findings); !slices.Equal(got, c.want) {
			t.Errorf("%s %s: %v, want %v (not checked: %v)", c.name, c.version, got, c.want, rep.NotChecked)
		}
		if len(rep.NotChecked) != 0 {
			t.Errorf("%s %s: not checked: %v", c.name, c.version, rep.NotChecked)
		}
	}
}

func TestFindingDetails(t *testing.T) {
	db := loadTestDB(t)
	rep := db.Audit([]Package{{Ecosystem: "Go", Name: "github.com/opencontainers/runc", Version: "1.2.6", Where: []string{"runc 1.2.6 release"}}})
	var f *Finding
	for i := range rep.Findings {
		if rep.Findings[i].ID == "CVE-2025-31133" {
			f = &rep.Findings[i]
		}
	}
	if f == nil {
		t.Fatalf("no CVE-2025-31133 in %v", ids(rep.Findings))
	}
	// The GHSA and the GO record are one finding, rated by GitHub.
	if !slices.Equal(f.Records, []string{"GHSA-9493-h29p-rfm2", "GO-2025-4096"}) {
		t.Errorf("records %v", f.Records)
	}
	if !slices.Contains(f.Aliases, "GHSA-9493-h29p-rfm2") || !slices.Contains(f.Aliases, "GO-2025-4096") {
		t.Errorf("aliases %v", f.Aliases)
	}
	if f.Severity != High || !strings.Contains(f.SeveritySource, "GitHub rating HIGH") {
		t.Errorf("severity %v (%s)", f.Severity, f.SeveritySource)
	}
	// Fixed versions above 1.2.6: the fix of each branch.
	if !slices.Equal(f.Fixed, []string{"1.2.8", "1.3.3", "1.4.0-rc.3"}) {
		t.Errorf("fixed %v", f.Fixed)
	}
	if f.Summary == "" || !slices.Equal(f.Where, []string{"runc 1.2.6 release"}) {
		t.Errorf("summary %q where %v", f.Summary, f.Where)
	}
	// Only the vulndb record knows CVE-2026-41579: no rating.
	for _, g := range rep.Findings {
		if g.ID == "CVE-2026-41579" && g.Severity != Unknown {
			t.Errorf("CVE-2026-41579 rated %v", g.Severity)
		}
	}
	// Highest first.
	if rep.Findings[0].Severity != High {
		t.Errorf("not sorted by severity: %v", rep.Findings[0])
	}

	high, err := rep.AtOrAbove(High)
	if len(high) != 3 || !errors.Is(err, ErrThreshold) {
		t.Errorf("at or above high: %d, %v", len(high), err)
	}
	if crit, err := rep.AtOrAbove(Critical); len(crit) != 0 || err != nil {
		t.Errorf("at or above critical: %v %v", crit, err)
	}
	if all, err := rep.AtOrAbove(Unknown); len(all) != 4 || err == nil {
		t.Errorf("any: %d %v", len(all), err)
	}
}

func TestZipExport(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "Go"), 0o755); err != nil {
		t.Fatal(err)
	}
	zf, err := os.Create(filepath.Join(dir, "Go", "all.zip"))
	if err != nil {
		t.Fatal(err)
	}
	zw := zip.NewWriter(zf)
	names, _ := filepath.Glob("testdata/osv/*.json")
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err != nil {
			t.Fatal(err)
		}
		w, err := zw.Create(filepath.Base(n))
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	zf.Close()
	db, err := LoadDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Entries != 12 {
		t.Fatalf("zip: %d records", db.Entries)
	}
	rep := db.Audit([]Package{{Ecosystem: "Go", Name: "github.com/opencontainers/runc", Version: "1.2.6"}})
	if len(rep.Findings) != 4 {
		t.Errorf("zip: %v", ids(rep.Findings))
	}
}

func TestLoadDBErrors(t *testing.T) {
	if _, err := LoadDB(t.TempDir()); err == nil || !strings.Contains(err.Error(), "no OSV records") {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadDB(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing dir accepted")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "bad.json"), []byte("{not json"), 0o644)
	if _, err := LoadDB(dir); err == nil || !strings.Contains(err.Error(), "bad.json") {
		t.Errorf("malformed record: %v", err)
	}
	// A withdrawn record is not matched.
	dir = t.TempDir()
	b, _ := os.ReadFile("testdata/osv/GO-2025-4096.json")
	s := strings.Replace(string(b), `"id": "GO-2025-4096",`, `"id": "GO-2025-4096", "withdrawn": "2025-12-01T00:00:00Z",`, 1)
	os.WriteFile(filepath.Join(dir, "w.json"), []byte(s), 0o644)
	os.WriteFile(filepath.Join(dir, "x.json"), []byte(`{"id":"X-1","affected":[]}`), 0o644)
	db, err := LoadDB(dir)
	if err != nil {
		t.Fatal(err)
	}
	if db.Withdrawn != 1 || len(db.Audit([]Package{{Ecosystem: "Go", Name: "github.com/opencontainers/runc", Version: "1.2.6"}}).Findings) != 0 {
		t.Errorf("withdrawn record used: %+v", db)
	}
}

func TestGoVersionToSemver(t *testing.T) {
	for in, want := range map[string]string{
		"go1.24.2": "1.24.2", "go1.21": "1.21.0", "go1.21rc2": "1.21.0-rc.2", "go1.20beta1": "1.20.0-beta.1", "go1.26.8": "1.26.8",
	} {
		if got, ok := GoVersionToSemver(in); !ok || got != want {
			t.Errorf("%s: %q %v", in, got, ok)
		}
	}
	if _, ok := GoVersionToSemver("devel go1.25-abcdef"); ok {
		t.Error("devel accepted")
	}
}

func TestDpkgOrder(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"1.0~rc1", "1.0", -1},
		{"1:0.9", "2.0", 1},
		{"2.36-9+deb12u10", "2.36-9+deb12u11", -1},
		{"2.36-9+deb12u10", "2.36-9+deb12u9", 1},
		{"1.0-1", "1.0-1.1", -1},
		{"1.0a", "1.0", 1},
		{"1.0", "1.0-0", 0},
		{"7.88.1-10+deb12u8", "7.88.1-10+deb12u8", 0},
		{"1.2.3~", "1.2.3~~", 1},
	} {
		got, err := dpkgOrder(c.a, c.b)
		if err != nil || got != c.want {
			t.Errorf("%s vs %s: %d %v, want %d", c.a, c.b, got, err, c.want)
		}
	}
}

func TestDebianRange(t *testing.T) {
	// An ECOSYSTEM range in Debian compares as dpkg does, and a record for
	// Debian:12 does not apply to Debian 11.
	e := &Entry{ID: "DSA-TEST", Affected: []Affected{{Ranges: []Range{{Type: "ECOSYSTEM", Events: []Event{{Introduced: "0"}, {Fixed: "2.36-9+deb12u10"}}}}}}}
	e.Affected[0].Package.Ecosystem, e.Affected[0].Package.Name = "Debian:12", "glibc"
	db := &DB{byPkg: map[string][]*Entry{pkgKey("Debian:12", "glibc"): {e}}, Entries: 1}
	for _, c := range []struct {
		eco, v string
		want   int
	}{{"Debian:12", "2.36-9+deb12u9", 1}, {"Debian:12", "2.36-9+deb12u10", 0}, {"Debian:11", "2.31-13", 0}} {
		if n := len(db.Audit([]Package{{Ecosystem: c.eco, Name: "glibc", Version: c.v}}).Findings); n != c.want {
			t.Errorf("%s %s: %d findings", c.eco, c.v, n)
		}
	}
}

func TestCVSS3(t *testing.T) {
	for v, want := range map[string]float64{
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H": 9.8,
		"CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:C/C:H/I:N/A:N": 6.8, // the schema's GHSA-r9p9-mrjm-926w example
		"CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H": 7.8,
		"CVSS:3.0/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N": 6.1,
		"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N": 0,
	} {
		got, err := CVSS3BaseScore(v)
		if err != nil || got != want {
			t.Errorf("%s: %v %v, want %v", v, got, err, want)
		}
	}
	if _, err := CVSS3BaseScore("CVSS:4.0/AV:L/AC:L/AT:P/PR:L/UI:A/VC:H/VI:H/VA:H/SC:H/SI:H/SA:H"); err == nil {
		t.Error("a v4 vector scored as v3")
	}
	e := &Entry{Severity: []Score{{Type: "CVSS_V3", Score: "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}}}
	if s, src := rate(e, &Affected{}); s != Critical || !strings.Contains(src, "9.8") {
		t.Errorf("rate: %v %s", s, src)
	}
}

func TestParseSeverity(t *testing.T) {
	for in, want := range map[string]Severity{"low": Low, "MODERATE": Medium, "medium": Medium, "High": High, "critical": Critical} {
		if got, err := ParseSeverity(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	if _, err := ParseSeverity("severe"); err == nil {
		t.Error("unknown word accepted")
	}
}
