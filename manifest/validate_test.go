package manifest

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/internal/fault"
)

// validIndex is shaped like a real bundle: two platforms, programs in
// /usr/local/bin, a kata tree in /opt/kata with links to it (one absolute,
// one relative, as kata's catalog entry writes them), gVisor's two
// artifacts, an image.
func validIndex() *Index {
	d := func(s string) Digest { return DigestOf(SHA256, []byte(s)) }
	ix := &Index{
		FormatVersion: FormatVersion, Name: "kylin-runtimes", Version: "2025.04.0", Sequence: 7,
		Created:      time.Date(2025, 4, 1, 12, 0, 0, 0, time.UTC),
		Profile:      "kylin-v10",
		Platforms:    []string{"linux/amd64", "linux/arm64"},
		Requirements: Requirements{Installer: "0.1.0", MinKernel: "4.19"},
		Images: []Image{{Ref: "registry.k8s.io/pause:3.10", Digest: d("index"), MediaType: "application/vnd.oci.image.index.v1+json",
			Platforms: []string{"linux/amd64", "linux/arm64"}, Role: "sandbox", Blobs: []Digest{d("index"), d("layer")}}},
		Notes: []Note{{ID: "kata-arm64-untested", Component: "kata", Platform: "linux/arm64", Severity: "warning", Text: "kata-static 3.1.3 is published for x86_64 only"}},
		Blobs: []Blob{
			{Digest: d("zrunc"), Size: 10, Encoding: EncodingZstd},
			{Digest: d("zrunsc"), Size: 10, Encoding: EncodingZstd},
			{Digest: d("zshim"), Size: 10, Encoding: EncodingZstd},
			{Digest: d("zkata"), Size: 10, Encoding: EncodingZstd},
			{Digest: d("index"), Size: 10, Encoding: EncodingNone},
			{Digest: d("layer"), Size: 10, Encoding: EncodingNone},
		},
	}
	file := func(p, blob string) File {
		return File{Path: p, Mode: 0o755, Digest: d("content of " + blob), Size: 20, Blob: d(blob), Glibc: GlibcStatic, Source: "bin/x"}
	}
	runc := Component{Name: "runc", Version: "1.2.6"}
	gv := Component{Name: "gvisor", Version: "20250331.0"}
	kata := Component{Name: "kata", Version: "3.1.3"}
	for _, pl := range ix.Platforms {
		runc.Artifacts = append(runc.Artifacts, Artifact{
			Platform: pl, URL: "https://github.com/opencontainers/runc/releases/download/v1.2.6/runc." + pl[6:], Digest: d("runc" + pl), DigestSource: DigestFromProfile,
			Files: []File{file("/usr/local/bin/runc", "zrunc")},
		})
		gv.Artifacts = append(gv.Artifacts,
			Artifact{Platform: pl, URL: "https://storage.googleapis.com/gvisor/runsc", Digest: DigestOf(SHA512, []byte("runsc")), DigestSource: DigestFromChecksumFile,
				Files: []File{file("/usr/local/bin/runsc", "zrunsc")}},
			Artifact{Platform: pl, URL: "https://storage.googleapis.com/gvisor/shim", Digest: DigestOf(SHA512, []byte("shim")), DigestSource: DigestFromChecksumFile,
				Files: []File{file("/usr/local/bin/containerd-shim-runsc-v1", "zshim")}})
		kata.Artifacts = append(kata.Artifacts, Artifact{Platform: pl, URL: "https://github.com/kata-containers/kata.tar.xz", Digest: d("kata" + pl), DigestSource: DigestFromDownload,
			Files: []File{
				file("/opt/kata/bin/kata-runtime", "zkata"),
				{Path: "/opt/kata/libexec/link-to-bin", Type: TypeSymlink, Target: "../bin/kata-runtime"},
				{Path: "/opt/kata/share/defaults/kata-containers/configuration.toml", Type: TypeSymlink, Target: "configuration-qemu.toml"},
				{Path: "/usr/local/bin/kata-runtime", Type: TypeSymlink, Target: "/opt/kata/bin/kata-runtime"},
				{Path: "/usr/local/bin/containerd-shim-kata-v2", Type: TypeSymlink, Mode: 0o777, Target: "../../../opt/kata/bin/containerd-shim-kata-v2"},
			}})
	}
	ix.Components = append(ix.Components, runc, gv, kata)
	return ix
}

func TestValidateAcceptsARealShapedIndex(t *testing.T) {
	if err := validIndex().Validate(); err != nil {
		t.Fatal(err)
	}
	// An identical second entry for a path (two components shipping the
	// same file) is not a conflict.
	ix := validIndex()
	ix.Components[0].Artifacts[0].Files = append(ix.Components[0].Artifacts[0].Files, ix.Components[0].Artifacts[0].Files[0])
	if err := ix.Validate(); err != nil {
		t.Fatal(err)
	}
	// The sample index of the canonical-encoding tests validates too.
	if err := sampleIndex().Validate(); err != nil {
		t.Fatal(err)
	}
	// And the index of a bundle the real pipeline built (testdata/real).
	b, err := os.ReadFile("testdata/real/satchel.json")
	if err != nil {
		t.Fatal(err)
	}
	real, err := DecodeIndex(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := real.Validate(); err != nil {
		t.Fatal(err)
	}
}

// mutation changes a valid index into one Validate must refuse.
type mutation struct {
	name   string
	mutate func(ix *Index)
	want   string
}

func amd64Files(ix *Index, comp int) *[]File {
	return &ix.Components[comp].Artifacts[0].Files
}

func setPath(p string) func(*Index) {
	return func(ix *Index) { (*amd64Files(ix, 0))[0].Path = p }
}

func addLink(p, target string) func(*Index) {
	return func(ix *Index) {
		fs := amd64Files(ix, 0)
		*fs = append(*fs, File{Path: p, Type: TypeSymlink, Target: target})
	}
}

func addFile(p string) func(*Index) {
	return func(ix *Index) {
		fs := amd64Files(ix, 0)
		f := (*fs)[0]
		f.Path = p
		*fs = append(*fs, f)
	}
}

func both(fs ...func(*Index)) func(*Index) {
	return func(ix *Index) {
		for _, f := range fs {
			f(ix)
		}
	}
}

var mutations = []mutation{
	// Paths.
	{"etc target", setPath("/etc/cron.d/evil"), "bundles install only under"},
	{"relative path", setPath("usr/local/bin/runc"), "not a clean absolute path"},
	{"dot-dot path", setPath("/usr/local/../../etc/passwd"), "not a clean absolute path"},
	{"trailing slash", setPath("/usr/local/bin/"), "not a clean absolute path"},
	{"prefix look-alike", setPath("/usr/localevil/bin/x"), "bundles install only under"},
	{"prefix itself", setPath("/opt"), "bundles install only under"},
	{"newline in path", setPath("/usr/local/bin/runc\n/etc/passwd"), "control or non-printable"},
	{"escape in path", setPath("/usr/local/bin/\x1b[2Jrunc"), "control or non-printable"},
	{"NUL in path", setPath("/usr/local/bin/ru\x00nc"), "control or non-printable"},
	{"bidi override in path", setPath("/usr/local/bin/\u202egnp.exe"), "control or non-printable"},
	{"invalid UTF-8 path", setPath("/usr/local/bin/\xff"), "invalid UTF-8"},
	{"long element", setPath("/opt/" + strings.Repeat("a", 256)), "path element"},
	{"systemd unit", setPath("/usr/local/lib/systemd/system/evil.service"), "read by systemd or udev"},
	{"systemd generator", setPath("/usr/local/lib/systemd/system-generators/g"), "read by systemd or udev"},
	{"tmpfiles drop-in", setPath("/usr/local/lib/tmpfiles.d/evil.conf"), "read by systemd or udev"},
	{"udev rule", setPath("/usr/local/lib/udev/rules.d/99-evil.rules"), "read by systemd or udev"},
	// Modes and types.
	{"setuid", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o4755 }, "setuid"},
	{"setgid", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o2755 }, "setuid, setgid"},
	{"sticky", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o1755 }, "sticky"},
	{"type bits in mode", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o100755 }, "other than permissions"},
	{"world-writable", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o777 }, "world-writable"},
	{"world-writable 0666", func(ix *Index) { (*amd64Files(ix, 0))[0].Mode = 0o666 }, "world-writable"},
	{"directory type", func(ix *Index) { (*amd64Files(ix, 0))[0].Type = "dir" }, "regular files and symlinks only"},
	{"hardlink type", func(ix *Index) { (*amd64Files(ix, 0))[0].Type = "hardlink" }, "regular files and symlinks only"},
	{"symlink with content", func(ix *Index) {
		f := &(*amd64Files(ix, 0))[0]
		f.Type, f.Target = TypeSymlink, "runsc"
	}, "symlink with content"},
	{"file with target", func(ix *Index) { (*amd64Files(ix, 0))[0].Target = "x" }, "symlink target"},
	{"empty symlink target", addLink("/opt/l", ""), "empty target"},
	{"newline in symlink target", addLink("/opt/l", "a\nb"), "control or non-printable"},
	// Symlinks inside the bundle (issue 7, critical 1).
	{"write through own symlink", both(addLink("/opt/x", "../etc"), addFile("/opt/x/passwd")), `"/opt/x/passwd" lies below "/opt/x", which is a symlink`},
	{"write through in-lane symlink", both(addLink("/opt/x", "/opt/y"), addFile("/opt/x/z")), "which is a symlink"},
	{"below a regular file", addFile("/usr/local/bin/runc/x"), "which is a regular file"},
	{"link out by dot-dot", addLink("/opt/x", "../etc"), `resolves to "/etc"`},
	{"link out past root", addLink("/usr/local/bin/x", "../../../../../../etc/shadow"), `resolves to "/etc/shadow"`},
	{"absolute link out", addLink("/usr/local/bin/x", "/etc/satchel/keys"), `resolves to "/etc/satchel/keys"`},
	{"link to a prefix itself", addLink("/usr/local/bin/x", "/opt"), `resolves to "/opt"`},
	{"link into systemd units", addLink("/usr/local/bin/x", "../lib/systemd/system/evil.service"), "read by systemd or udev"},
	{"link out through a bundle link", both(addLink("/opt/a", "/usr/local/lib"), addLink("/opt/l", "a/systemd/system/x.service")), "read by systemd or udev"},
	// Lexically /opt/deep/a/../../x is /opt/x; the kernel resolves a first: /usr/x.
	{"link out through a bundle link and dot-dot", both(addLink("/opt/deep/a", "/usr/local/bin"), addLink("/opt/deep/l", "a/../../x")), `resolves to "/usr/x"`},
	{"symlink loop", both(addLink("/opt/a", "b"), addLink("/opt/b", "a")), "too many levels"},
	// Conflicts.
	{"two contents for one path", func(ix *Index) {
		fs := amd64Files(ix, 1) // gvisor's runsc: also install it as runc
		f := (*fs)[0]
		f.Path = "/usr/local/bin/runc"
		*fs = append(*fs, f)
	}, "two entries for this path"},
	{"file and link for one path", addLink("/usr/local/bin/runc", "runsc"), "two entries for this path"},
	// Blobs.
	{"missing blob", func(ix *Index) { (*amd64Files(ix, 0))[0].Blob = DigestOf(SHA256, []byte("nope")) }, "is not in the bundle"},
	{"file blob stored raw", func(ix *Index) { ix.Blobs[0].Encoding = EncodingNone }, `files are stored "zstd"`},
	{"image blob compressed", func(ix *Index) { ix.Blobs[5].Encoding = EncodingZstd }, "image blobs are stored as they are"},
	{"image blob missing", func(ix *Index) { ix.Images[0].Blobs = append(ix.Images[0].Blobs, DigestOf(SHA256, []byte("gone"))) }, "is not in the bundle"},
	{"unused blob", func(ix *Index) {
		ix.Blobs = append(ix.Blobs, Blob{Digest: DigestOf(SHA256, []byte("junk")), Size: 1, Encoding: EncodingNone})
	}, "used by no file and no image"},
	// Attestations (issue 13).
	{"empty attestations", func(ix *Index) { ix.Attestations = &Attestations{} }, "attestations: empty"},
	{"SBOM blob missing", withSBOM(func(ix *Index, d Digest) { ix.Blobs = ix.Blobs[:len(ix.Blobs)-1] }), "SBOM blob"},
	{"SBOM compressed", withSBOM(func(ix *Index, d Digest) { ix.Blobs[len(ix.Blobs)-1].Encoding = EncodingZstd }), "not as it is"},
	{"SBOM too big", withSBOM(func(ix *Index, d Digest) { ix.Blobs[len(ix.Blobs)-1].Size = MaxAttestationSize + 1 }), "at most"},
	{"SBOM media type", withSBOM(func(ix *Index, d Digest) { ix.Attestations.SBOM.MediaType = "application/json" }), "SBOM media type"},
	{"provenance media type", withSBOM(func(ix *Index, d Digest) {
		ix.Attestations.Provenance = &ProvenanceRef{MediaType: "text/plain", PredicateType: PredicateSLSAProvenance}
	}), "provenance"},
	{"blob listed twice", func(ix *Index) { ix.Blobs = append(ix.Blobs, ix.Blobs[0]) }, "listed twice"},
	{"sha512 blob", func(ix *Index) { ix.Blobs[0].Digest = DigestOf(SHA512, []byte("x")) }, "named by sha256"},
	{"negative blob size", func(ix *Index) { ix.Blobs[0].Size = -1 }, "size -1"},
	{"huge blob", func(ix *Index) { ix.Blobs[0].Size = MaxBlobSize + 1 }, "outside"},
	{"unknown encoding", func(ix *Index) { ix.Blobs[0].Encoding = "gzip" }, "unknown encoding"},
	{"huge file", func(ix *Index) { (*amd64Files(ix, 0))[0].Size = MaxFileSize + 1 }, "outside"},
	{"bad content digest", func(ix *Index) { (*amd64Files(ix, 0))[0].Digest = "sha256:abc" }, "content digest"},
	// Text that reaches terminals.
	{"escape in version", func(ix *Index) { ix.Version = "2025\x1b]0;pwned\x07" }, "control or non-printable"},
	{"newline in component version", func(ix *Index) { ix.Components[0].Version = "1.2.6\nOK" }, "control or non-printable"},
	{"escape in variant", func(ix *Index) { ix.Components[0].Variant = "\x1b[31m" }, "control or non-printable"},
	{"escape in URL", func(ix *Index) { ix.Components[0].Artifacts[0].URL = "https://x/\x1b[2J" }, "control or non-printable"},
	{"escape in image ref", func(ix *Index) { ix.Images[0].Ref = "pause\r\x1b[Kok" }, "control or non-printable"},
	{"newline in note", func(ix *Index) { ix.Notes[0].Text = "fine\nhint: run rm -rf /" }, "control or non-printable"},
	{"escape in note id", func(ix *Index) { ix.Notes[0].ID = "\x1b[8m" }, "control or non-printable"},
	{"escape in source", func(ix *Index) { (*amd64Files(ix, 0))[0].Source = "bin/\x1b" }, "control or non-printable"},
	{"bad bundle name", func(ix *Index) { ix.Name = "Evil\nName" }, "bundle name"},
	{"bad component name", func(ix *Index) { ix.Components[0].Name = "runc\x1b" }, "component name"},
	// Structure.
	{"format", func(ix *Index) { ix.FormatVersion = 2 }, "format version"},
	{"sequence 0", func(ix *Index) { ix.Sequence = 0 }, "sequence"},
	{"unknown platform", func(ix *Index) { ix.Platforms = append(ix.Platforms, "linux/s390x") }, "unknown platform"},
	{"platform twice", func(ix *Index) { ix.Platforms = append(ix.Platforms, "linux/amd64") }, "listed twice"},
	{"artifact for unlisted platform", func(ix *Index) { ix.Platforms = ix.Platforms[:1] }, "does not list"},
	{"installer requirement", func(ix *Index) { ix.Requirements.Installer = "latest" }, "requirements.installer"},
	{"kernel requirement", func(ix *Index) { ix.Requirements.MinKernel = "4.19\n" }, "minKernel"},
	{"component twice", func(ix *Index) { ix.Components = append(ix.Components, ix.Components[0]) }, "listed twice"},
	{"image role", func(ix *Index) { ix.Images[0].Role = "root" }, "unknown role"},
	{"note severity", func(ix *Index) { ix.Notes[0].Severity = "fatal" }, "severity"},
	{"glibc", func(ix *Index) { (*amd64Files(ix, 0))[0].Glibc = "2.28\x1b" }, "glibc"},
}

func TestValidateRefuses(t *testing.T) {
	for _, m := range mutations {
		t.Run(m.name, func(t *testing.T) {
			ix := validIndex()
			m.mutate(ix)
			err := ix.Validate()
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), m.want) {
				t.Errorf("error %q does not mention %q", err, m.want)
			}
			if ExitCode(err) != ExitVerification || Hint(err) == "" {
				t.Errorf("exit code %d, hint %q: want a verification error with a hint", ExitCode(err), Hint(err))
			}
			// What the error prints stays on one line (plus the hint):
			// untrusted text is quoted.
			if lines := strings.Split(fault.Text(err), "\n"); len(lines) != 2 || strings.ContainsAny(err.Error(), "\x1b\r\x00") {
				t.Errorf("error is not one quoted line and a hint: %q", err)
			}
		})
	}
}

// TestValidateSymlinksArePerPlatform: a symlink of one platform says nothing
// about another platform's paths.
func TestValidateSymlinksArePerPlatform(t *testing.T) {
	ix := validIndex()
	// runc ships /opt/x as a link for amd64 and /opt/x/y as a file for arm64.
	ix.Components[0].Artifacts[0].Files = append(ix.Components[0].Artifacts[0].Files, File{Path: "/opt/x", Type: TypeSymlink, Target: "/opt/z"})
	f := ix.Components[0].Artifacts[1].Files[0]
	f.Path = "/opt/x/y"
	ix.Components[0].Artifacts[1].Files = append(ix.Components[0].Artifacts[1].Files, f)
	if ix.Components[0].Artifacts[1].Platform != "linux/arm64" {
		t.Fatalf("fixture changed: %s", ix.Components[0].Artifacts[1].Platform)
	}
	if err := ix.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestCheckInstallPath(t *testing.T) {
	for _, p := range []string{"/usr/local/bin/runc", "/opt/kata/share/kata-containers/vmlinux-6.1.62-121", "/opt/cni/bin/bridge", "/usr/local/lib/libfoo.so", "/usr/local/lib/systemd-not/x"} {
		if err := CheckInstallPath(p); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
	for _, p := range []string{"", "/", "/usr/local", "/opt", "/etc/passwd", "/usr/local/lib/systemd", "/usr/local/lib/sysctl.d/x.conf", "/usr/local/lib/modules-load.d/x.conf", "/opt/a//b", "/opt/./a"} {
		if err := CheckInstallPath(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestParseBuildVersion(t *testing.T) {
	for in, want := range map[string]Release{
		"v0.3.0": {0, 3, 0}, "0.3.0": {0, 3, 0}, "v0.3.0-12-gabc1234": {0, 3, 0}, "v0.3.0-12-gabc1234-dirty": {0, 3, 0},
		"0.1.0-dev": {0, 1, 0}, "0.1.0-dev+76edf04": {0, 1, 0}, "v1.10.2-rc.1": {1, 10, 2},
	} {
		got, ok := ParseBuildVersion(in)
		if !ok || got != want {
			t.Errorf("%q: %v %v, want %v", in, got, ok, want)
		}
	}
	for _, in := range []string{"", "dev", "76edf04", "76edf04-dirty", "(devel)", "test", "v1.2", "1.2.3.4", "1.2.3 "} {
		if got, ok := ParseBuildVersion(in); ok {
			t.Errorf("%q parsed as %v", in, got)
		}
	}
}

func TestCheckInstallerVersion(t *testing.T) {
	cases := []struct {
		have, need string
		allow      bool
		want       string // "" = accepted
	}{
		{"v0.3.0", "0.3.0", false, ""},
		{"v0.3.0", "0.2.9", false, ""},
		{"v0.3.0-12-gabc1234", "0.3.0", false, ""},
		{"v0.3.0-12-gabc1234", "0.4.0", false, "needs satchel-install 0.4.0 or later"},
		{"0.1.0-dev", "0.1.0", false, ""},
		{"0.1.0-dev", "0.2.0", false, "needs satchel-install 0.2.0"},
		{"v1.10.0", "1.9.0", false, ""}, // numeric, not lexical
		{"v1.9.0", "1.10.0", false, "needs"},
		{"dev", "0.1.0", false, "built without a release version"},
		{"76edf04-dirty", "0.1.0", false, "built without a release version"},
		{"dev", "0.1.0", true, ""},
		{"dev", "", false, ""},
		{"v0.3.0", "newest", false, "not a release version"},
	}
	for _, c := range cases {
		err := CheckInstallerVersion(c.have, c.need, c.allow)
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%s needs %s (allow %v): %v", c.have, c.need, c.allow, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%s needs %s (allow %v): %v, want %q", c.have, c.need, c.allow, err, c.want)
		case err != nil && Hint(err) == "":
			t.Errorf("%s needs %s: no hint: %v", c.have, c.need, err)
		}
	}
}

func TestNormalizeMode(t *testing.T) {
	for in, want := range map[uint32]uint32{0o755: 0o755, 0o775: 0o755, 0o777: 0o755, 0o666: 0o644, 0o644: 0o644, 0o1755: 0o755, 0o100755: 0o755, 0o700: 0o700, 0o600: 0o600} {
		got, err := NormalizeMode(in)
		if err != nil || got != want {
			t.Errorf("NormalizeMode(%#o) = %#o, %v; want %#o", in, got, err, want)
		}
		// What it returns, Validate accepts.
		ix := validIndex()
		(*amd64Files(ix, 0))[0].Mode = got
		if err := ix.Validate(); err != nil {
			t.Errorf("mode %#o: %v", got, err)
		}
	}
	for _, in := range []uint32{0o4755, 0o2755, 0o6755} {
		if _, err := NormalizeMode(in); err == nil || Hint(err) == "" {
			t.Errorf("NormalizeMode(%#o) = %v, want a refusal with a hint", in, err)
		}
	}
}

// withSBOM adds an SBOM blob and its attestation to the index, then applies f.
func withSBOM(f func(ix *Index, d Digest)) func(*Index) {
	return func(ix *Index) {
		d := DigestOf(SHA256, []byte("sbom"))
		ix.Blobs = append(ix.Blobs, Blob{Digest: d, Size: 4, Encoding: EncodingNone})
		ix.Attestations = &Attestations{SBOM: &SBOMRef{MediaType: MediaTypeSPDX, Digest: d},
			Provenance: &ProvenanceRef{MediaType: MediaTypeDSSE, PredicateType: PredicateSLSAProvenance}}
		f(ix, d)
	}
}

// TestValidAttestations: an SBOM blob counts as used; the index round-trips.
func TestValidAttestations(t *testing.T) {
	ix := validIndex()
	withSBOM(func(*Index, Digest) {})(ix)
	if err := ix.Validate(); err != nil {
		t.Fatal(err)
	}
	b, err := ix.Encode()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeIndex(b); err != nil {
		t.Fatal(err)
	}
	if c := ix.ContentIndex(); c.Attestations != nil || c.Validate() != nil {
		t.Errorf("content index %+v: %v", c.Attestations, c.Validate())
	}
}
