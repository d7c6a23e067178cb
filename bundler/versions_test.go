package bundler

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/mirrorgen"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// A component whose platforms carry different releases (issue 10: kata
// 3.1.3 on amd64, 3.2.0 on arm64 in the seed's set): lock and the signed
// index record each artifact's own release, notes are evaluated per
// artifact, and a lock written before artifacts had versions still builds.
func TestPerArtifactVersionsInLockAndIndex(t *testing.T) {
	spec := mirrorgen.DemoSpec()
	i := slices.IndexFunc(spec.Spec.Components, func(c manifest.ComponentSpec) bool { return c.Name == "kata" })
	spec.Spec.Components[i].Versions = map[string]string{"linux/arm64": "3.2.0"}
	e := newEnvFor(t, spec)
	lk := e.lock(t)
	var kata manifest.LockedComponent
	for _, c := range lk.Components {
		if c.Name == "kata" {
			kata = c
		}
	}
	got := map[string]string{}
	for _, a := range kata.Artifacts {
		got[a.Platform] = a.Version
	}
	if kata.Version != "3.7.0" || got["linux/amd64"] != "3.7.0" || got["linux/arm64"] != "3.2.0" {
		t.Fatalf("locked kata %s, artifacts %v", kata.Version, got)
	}

	build := func(name string, lk *manifest.Lock) *manifest.Index {
		t.Helper()
		o := e.opts(filepath.Join(t.TempDir(), name))
		o.Lock = lk
		res, err := Build(context.Background(), spec, o)
		if err != nil {
			t.Fatal(err)
		}
		return res.Index
	}
	ix := build("a.satchel", lk)
	c, _ := ix.Component("kata")
	amd, _ := c.Artifact("linux/amd64")
	arm, _ := c.Artifact("linux/arm64")
	if amd.Version != "3.7.0" || arm.Version != "3.2.0" || !strings.Contains(arm.URL, "/3.2.0/kata-static-3.2.0-arm64") ||
		c.VersionFor("linux/arm64") != "3.2.0" || c.VersionFor("linux/amd64") != "3.7.0" {
		t.Errorf("index kata %s: amd64 %s %s, arm64 %s %s", c.Version, amd.Version, amd.URL, arm.Version, arm.URL)
	}
	for _, comp := range ix.Components {
		for _, a := range comp.Artifacts {
			if a.Version == "" {
				t.Errorf("%s %s: no version in the index", comp.Name, a.Platform)
			}
		}
	}
	// Notes per artifact: the same advisory, once per platform and release.
	var kataCVE []string
	for _, n := range ix.Notes {
		if n.ID == "kata-cve-2026-24834" {
			kataCVE = append(kataCVE, n.Platform+"="+n.Version)
		}
	}
	if !slices.Equal(kataCVE, []string{"linux/amd64=3.7.0", "linux/arm64=3.2.0"}) {
		t.Errorf("kata-cve-2026-24834 notes %v", kataCVE)
	}

	// A lock written before artifacts had versions: the component's
	// version applies to the lookup, and the build is the same.
	old := *lk
	old.Components = nil
	for _, c := range lk.Components {
		c.Artifacts = slices.Clone(c.Artifacts)
		for j := range c.Artifacts {
			c.Artifacts[j].Version = ""
		}
		old.Components = append(old.Components, c)
	}
	b, err := old.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "version: 3.2.0") {
		t.Fatal("old-style lock still names artifact versions")
	}
	parsed, err := manifest.ParseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	ix2 := build("b.satchel", parsed)
	c2, _ := ix2.Component("kata")
	if a, _ := c2.Artifact("linux/arm64"); a.Version != "3.2.0" || a.Digest != arm.Digest {
		t.Errorf("from an old lock: %+v", a)
	}

	// A lock that records another release than the spec resolves to is stale.
	stale := *parsed
	stale.Components = slices.Clone(parsed.Components)
	for ci := range stale.Components {
		if stale.Components[ci].Name != "kata" {
			continue
		}
		stale.Components[ci].Artifacts = slices.Clone(stale.Components[ci].Artifacts)
		for j := range stale.Components[ci].Artifacts {
			stale.Components[ci].Artifacts[j].Version = "3.1.3"
		}
	}
	o := e.opts(filepath.Join(t.TempDir(), "c.satchel"))
	o.Lock = &stale
	if _, err := Build(context.Background(), spec, o); err == nil || !strings.Contains(err.Error(), "records release 3.1.3") {
		t.Errorf("stale lock: %v", err)
	}
}

// --strict refuses a known-vulnerable pin with exit code 6 before any
// download; without such a pin it builds.
func TestStrictRefusesKnownVulnerablePins(t *testing.T) {
	// The demo spec without kata has no known-vulnerable pin.
	spec := mirrorgen.DemoSpec()
	spec.Spec.Components = slices.DeleteFunc(spec.Spec.Components, func(c manifest.ComponentSpec) bool { return c.Name == "kata" })
	spec.Spec.Platforms = []string{"linux/amd64"}
	e := newEnvFor(t, spec)

	old, err := profiles.InitSpec("kylin-v10-2025")
	if err != nil {
		t.Fatal(err)
	}
	// No mirror, no lock: strict refuses before any download or pin check.
	o := Options{Strict: true, Signer: e.signer, CacheDir: t.TempDir(), Output: filepath.Join(t.TempDir(), "x.satchel")}
	_, err = Build(context.Background(), old, o)
	if err == nil || manifest.ExitCode(err) != manifest.ExitFindings {
		t.Fatalf("kylin-v10-2025 --strict: %v (exit %d)", err, manifest.ExitCode(err))
	}
	for _, want := range []string{"runc 1.2.6: CVE-2025-31133, CVE-2025-52565, CVE-2025-52881", "fixed in 1.2.8, 1.3.3, 1.4.0-rc.3", "containerd 2.0.4:", "docker 27.5.1:", "kata 3.1.3:", "kata 3.2.0:"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("strict error lacks %q:\n%v", want, err)
		}
	}
	if manifest.Hint(err) == "" {
		t.Error("no remedy")
	}
	// Only the platforms built count: an amd64 build does not name kata 3.2.0.
	o.Platforms = []string{"linux/amd64"}
	if _, err = Build(context.Background(), old, o); err == nil || strings.Contains(err.Error(), "kata 3.2.0") {
		t.Errorf("amd64 only: %v", err)
	}

	so := e.opts(filepath.Join(t.TempDir(), "ok.satchel"))
	so.Lock, so.Strict = e.lock(t), true
	if _, err := Build(context.Background(), spec, so); err != nil {
		t.Fatalf("strict build of patched pins: %v", err)
	}
}
