package manifest

import (
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/internal/fault"
)

func TestParseSpecDesignExample(t *testing.T) {
	b, err := os.ReadFile("testdata/bundle.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSpec(b)
	if err != nil {
		t.Fatal(err)
	}
	if s.Metadata.Sequence != 7 || s.Spec.Profile != "kylin-v10" || len(s.Spec.Platforms) != 2 {
		t.Fatalf("parsed %+v", s)
	}
	src := s.Spec.Components[0].Sources["linux/amd64"]
	if src.Digest.Algorithm() != SHA256 || !strings.HasPrefix(src.Digest.Hex(), "b8785bc2") {
		t.Fatalf("digest %q", src.Digest)
	}
	// Marshal and parse again: same spec.
	out, err := s.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	s2, err := ParseSpec(out)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, out)
	}
	if s2.Spec.Components[0].Sources["linux/amd64"] != src {
		t.Fatal("round trip changed a source")
	}
}

func TestParseSpecErrorsNameFieldAndFix(t *testing.T) {
	base, _ := os.ReadFile("testdata/bundle.yaml")
	cases := []struct {
		name, from, to, want string
	}{
		{"unknown field", "  sequence: 7", "  sequence: 7\n  colour: red", `line 7: unknown field "colour"`},
		{"bad yaml", "kind: Bundle", "kind: [Bundle", "parsing bundle spec"},
		{"api version", "satchel/v1", "satchel/v2", "apiVersion: is \"satchel/v2\""},
		{"sequence", "sequence: 7", "sequence: 0", "metadata.sequence: must be at least 1"},
		{"platform", "[linux/amd64, linux/arm64]", "[linux/amd64, linux/s390x]", `spec.platforms[1]: unknown platform "linux/s390x"`},
		{"component", "name: containerd", "name: podman", `spec.components[0].name: unknown component "podman"`},
		{"digest", "sha256:b8785bc2", "sha256:B8785bc2", "not a lower-case hex digit"},
		{"short digest", "d41b4c1c\n", "d41b4c\n", "needs 64 hex digits, got 62"},
		{"url", "url: https://github.com", "url: ftp://github.com", "is not an http(s) URL"},
		{"name", "name: kylin-runtimes", "name: Kylin_Runtimes", "metadata.name"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := strings.Replace(string(base), c.from, c.to, 1)
			if in == string(base) {
				t.Fatalf("test case did not change the input (%q not found)", c.from)
			}
			_, err := ParseSpec([]byte(in))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %q does not mention %q", err, c.want)
			}
			if Hint(err) == "" && !strings.Contains(fault.Text(err), "hint: ") {
				t.Fatalf("error has no hint: %v", err)
			}
		})
	}
}

func TestParseDigest(t *testing.T) {
	good := []string{
		"sha256:" + strings.Repeat("a", 64),
		"sha512:" + strings.Repeat("0", 128),
	}
	for _, g := range good {
		if _, err := ParseDigest(g); err != nil {
			t.Errorf("%s: %v", g, err)
		}
	}
	bad := []string{"", "abc", "md5:" + strings.Repeat("a", 32), "sha256:" + strings.Repeat("a", 63), "sha512:" + strings.Repeat("a", 64), "sha256:" + strings.Repeat("g", 64)}
	for _, b := range bad {
		if _, err := ParseDigest(b); err == nil {
			t.Errorf("%q accepted", b)
		}
	}
	d := DigestOf(SHA256, []byte("hello\n"))
	if d != "sha256:5891b5b522d5df086d0ff0b110fbd9d21bb4fc7163af34d08286a2e846f6be03" {
		t.Fatalf("DigestOf = %s", d)
	}
}

func sampleIndex() *Index {
	return &Index{
		FormatVersion: FormatVersion, Name: "n", Version: "1", Sequence: 3,
		Created:      time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC),
		Platforms:    []string{"linux/amd64"},
		Requirements: Requirements{Installer: "0.1.0", MinKernel: "4.19"},
		Components: []Component{{Name: "runc", Version: "1.2.6", Artifacts: []Artifact{{
			Platform: "linux/amd64", URL: "https://example/runc.amd64", Digest: DigestOf(SHA256, []byte("x")), DigestSource: DigestFromProfile,
			Files: []File{{Path: "/usr/local/bin/runc", Mode: 0o755, Digest: DigestOf(SHA256, []byte("x")), Size: 1, Blob: DigestOf(SHA256, []byte("y")), Glibc: GlibcStatic}},
		}}}},
		Images: []Image{},
		Blobs:  []Blob{{Digest: DigestOf(SHA256, []byte("y")), Size: 1, Encoding: EncodingZstd}},
	}
}

func TestIndexCanonical(t *testing.T) {
	ix := sampleIndex()
	b, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	got, err := DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	b2, _ := got.Encode()
	if string(b) != string(b2) {
		t.Fatal("encode(decode(x)) != x")
	}
	// Semantically equal but not canonical: rejected.
	for name, mangle := range map[string]func(string) string{
		"compact":       func(s string) string { return strings.ReplaceAll(s, "\n  ", "\n ") },
		"no newline":    func(s string) string { return strings.TrimSuffix(s, "\n") },
		"unknown field": func(s string) string { return strings.Replace(s, `"name": "n",`, `"name": "n", "x": 1,`, 1) },
		"other zone":    func(s string) string { return strings.Replace(s, "12:00:00Z", "14:00:00+02:00", 1) },
		"format":        func(s string) string { return strings.Replace(s, `"formatVersion": 1`, `"formatVersion": 2`, 1) },
	} {
		m := mangle(string(b))
		if m == string(b) {
			t.Fatalf("%s: mangle changed nothing", name)
		}
		if _, err := DecodeIndex([]byte(m)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestLockRoundTripAndLookup(t *testing.T) {
	d := DigestOf(SHA256, []byte("a"))
	l := &Lock{APIVersion: APIVersion, Kind: "BundleLock", Name: "n", Platforms: []string{"linux/amd64"},
		Components: []LockedComponent{{Name: "runc", Version: "1.2.6", Artifacts: []LockedArtifact{{Platform: "linux/amd64", URL: "u", Digest: d, DigestSource: DigestFromChecksumFile, Size: 1234}}}},
		Images:     []LockedImage{{Ref: "docker.io/library/nginx:1.27.4", Digest: d, DigestSource: DigestFromRegistry, Platforms: []string{"linux/amd64"}}},
	}
	b, err := l.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	l2, err := ParseLock(b)
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := l2.Artifact("runc", "1.2.6", "", "linux/amd64", "u"); !ok || a.Digest != d || a.Size != 1234 {
		t.Fatal("artifact lookup failed")
	}
	if _, ok := l2.Artifact("runc", "1.2.5", "", "linux/amd64", "u"); ok {
		t.Fatal("wrong version matched")
	}
	if im, ok := l2.Image("docker.io/library/nginx:1.27.4"); !ok || im.Digest != d {
		t.Fatal("image lookup failed")
	}
	if _, err := ParseLock([]byte(strings.Replace(string(b), string(d), "sha256:zz", 1))); err == nil {
		t.Fatal("bad digest in lock accepted")
	}
	if _, err := ParseLock([]byte(strings.Replace(string(b), "size: 1234", "size: -1", 1))); err == nil {
		t.Fatal("negative size in lock accepted")
	}
}

func TestExitCodesAndHints(t *testing.T) {
	base := errors.New("boom")
	if ExitCode(nil) != 0 || ExitCode(base) != 1 {
		t.Fatal("default codes")
	}
	e := VerificationError(HintError(base, "do x"))
	wrapped := errors.Join(errors.New("ctx"), e)
	if ExitCode(wrapped) != ExitVerification {
		t.Fatalf("code %d", ExitCode(wrapped))
	}
	if Hint(wrapped) != "do x" || strings.Contains(e.Error(), "hint") || fault.Text(e) != "boom\nhint: do x" {
		t.Fatalf("hint %q in %q, rendered %q", Hint(wrapped), e.Error(), fault.Text(e))
	}
	if !errors.Is(e, base) {
		t.Fatal("unwrap lost the cause")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.28", "2.34", -1}, {"2.34", "2.28", 1}, {"2.9", "2.10", -1}, {"2.28", "2.28.0", 0},
		{"4.19.90-52.22.v2207.ky10.x86_64", "4.19", 1}, {"v1.6.20", "1.7.0", -1}, {"V10", "", 0},
	} {
		if got := CompareVersions(c.a, c.b); got != c.want {
			t.Errorf("CompareVersions(%q, %q) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}

// Artifacts record their own release (issue 10); an index or lock written
// before that names none, still reads, and the component's version applies.
func TestArtifactVersions(t *testing.T) {
	ix := sampleIndex()
	old, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(old), `"platform": "linux/amd64",`+"\n          \"version\"") {
		t.Fatal("an artifact without a version is written with one")
	}
	got, err := DecodeIndex(old)
	if err != nil {
		t.Fatalf("an index without artifact versions: %v", err)
	}
	if err := got.Validate(); err != nil {
		t.Fatal(err)
	}
	c := &got.Components[0]
	if v := c.ArtifactVersion(&c.Artifacts[0]); v != "1.2.6" {
		t.Errorf("ArtifactVersion of an old artifact = %s", v)
	}
	if v := c.VersionFor("linux/arm64"); v != "1.2.6" {
		t.Errorf("VersionFor a platform without artifacts = %s", v)
	}

	ix.Components[0].Artifacts[0].Version = "1.2.5"
	b, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"platform": "linux/amd64",`+"\n          \"version\": \"1.2.5\",") {
		t.Errorf("artifact version not after platform:\n%s", b)
	}
	got, err = DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if v := got.Components[0].VersionFor("linux/amd64"); v != "1.2.5" {
		t.Errorf("VersionFor = %s, want 1.2.5", v)
	}
	ix.Components[0].Artifacts[0].Version = "1.2.5\x1b[K"
	if err := ix.Validate(); err == nil {
		t.Error("control characters in an artifact version accepted")
	}

	// Notes with a kind: known kinds only.
	ix = sampleIndex()
	ix.Notes = []Note{{ID: "runc-cve-2025-31133", Kind: NoteSecurity, Component: "runc", Version: "1.2.6", Severity: "warning",
		CVEs: []string{"CVE-2025-31133"}, FixedIn: []string{"1.2.8"}, Source: "https://github.com/opencontainers/runc/security/advisories/GHSA-9493-h29p-rfm2", Text: "t"}}
	if err := ix.Validate(); err != nil {
		t.Errorf("security note: %v", err)
	}
	ix.Notes[0].Kind = "rumour"
	if err := ix.Validate(); err == nil {
		t.Error("unknown note kind accepted")
	}

	// A lock without artifact versions still parses.
	l, err := ParseLock([]byte("apiVersion: satchel/v1\nkind: BundleLock\nname: n\nplatforms: [linux/amd64]\ncomponents:\n- name: runc\n  version: 1.2.6\n  artifacts:\n  - platform: linux/amd64\n    url: u\n    digest: " + string(DigestOf(SHA256, []byte("a"))) + "\n    digestSource: profile\nimages: []\n"))
	if err != nil {
		t.Fatal(err)
	}
	if a, ok := l.Artifact("runc", "1.2.6", "", "linux/amd64", "u"); !ok || a.Version != "" {
		t.Errorf("old lock artifact: %+v %v", a, ok)
	}
}
