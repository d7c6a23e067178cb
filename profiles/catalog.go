package profiles

import (
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// The catalog knows, for every component in manifest.KnownComponents, where
// upstream publishes each release (UPSTREAM.md, "Where each artifact comes
// from"), how the checksum file next to it is named and written, and which
// files of the artifact go where on the host (DESIGN.md, "Where things go").

// Checksum file formats, as fetch.ParseChecksumFile reads them.
const (
	ChecksumSHA256Sum    = "sha256sum"     // "<hex>  <name>": containerd's <asset>.sha256sum
	ChecksumBareSHA256   = "bare-sha256"   // "<hex>": crictl's <asset>.sha256
	ChecksumSHA512       = "sha512"        // "<hex> [name]": gVisor's <file>.sha512
	ChecksumSHA256Sums   = "sha256sums"    // one SHA256SUMS per release: nerdctl
	ChecksumPGPSHA256Sum = "pgp-sha256sum" // runc.sha256sum, PGP clear-signed
)

// Archive kinds, as pack.WalkArchive reads them.
const (
	ArchiveTarGz  = "tar.gz"
	ArchiveTgz    = "tgz"
	ArchiveTarXz  = "tar.xz"
	ArchiveTarZst = "tar.zst"
	ArchiveBinary = "binary" // the artifact is the program itself
)

// BinDir is where every command goes (DESIGN.md, "Where things go").
const BinDir = "/usr/local/bin"

// KataDir is where the kata-static tree goes.
const KataDir = "/opt/kata"

// Files of Docker's static archive that are not Docker's own programs. They
// are installed only when the bundle carries no containerd (for the first
// three) or no runc (for the last) component: otherwise they would overwrite
// the pinned components' binaries in /usr/local/bin with whatever versions
// Docker happened to bundle.
var (
	dockerOwn               = []string{"docker", "dockerd", "docker-init", "docker-proxy"}
	dockerBundledContainerd = []string{"containerd", "ctr", "containerd-shim-runc-v2"}
	dockerBundledRunc       = []string{"runc"}
)

// arch names a platform's CPU the way each project spells it in URLs.
func arch(platform string, uname bool) (string, error) {
	switch platform {
	case "linux/amd64":
		if uname {
			return "x86_64", nil
		}
		return "amd64", nil
	case "linux/arm64":
		if uname {
			return "aarch64", nil
		}
		return "arm64", nil
	}
	return "", manifest.Hintf("use one of "+strings.Join(manifest.KnownPlatforms, ", "), "unknown platform %q", platform)
}

// variants lists the variants a component has; the first is its default
// (which may depend on the version, see defaultVariant).
func variants(component string) []string {
	if component == "containerd" {
		return []string{"static", "dynamic"}
	}
	return nil
}

// defaultVariant picks containerd's static build where one exists (since
// 1.7.0): it runs on any glibc, while dynamic 2.1+ builds need glibc 2.35
// (containerd#11685) and Kylin V10 has 2.28.
func defaultVariant(component string, v version) string {
	if component != "containerd" {
		return ""
	}
	if v.atLeast("1.7.0") {
		return "static"
	}
	return "dynamic"
}

// catalogURLs returns the upstream URLs of a component release for one
// platform, keyed by artifact name, in install order. Most components have one
// artifact per platform; gVisor has two (runsc and its containerd shim).
func catalogURLs(component, ver, variant, platform string) ([]namedURL, error) {
	v, err := parseVersion(component, ver)
	if err != nil {
		return nil, err
	}
	gh := "https://github.com/"
	switch component {
	case "containerd":
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		prefix := "containerd-"
		if variant == "static" {
			if v.below("1.7.0") {
				return nil, manifest.Hintf("use variant dynamic for containerd before 1.7.0, or containerd 1.7.0 or later",
					"containerd %s has no static build (containerd-static-* is published since 1.7.0)", ver)
			}
			prefix = "containerd-static-"
		}
		return one(component, fmt.Sprintf("%scontainerd/containerd/releases/download/v%s/%s%s-linux-%s.tar.gz", gh, ver, prefix, ver, a)), nil
	case "runc":
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(component, fmt.Sprintf("%sopencontainers/runc/releases/download/v%s/runc.%s", gh, ver, a)), nil
	case "docker":
		a, err := arch(platform, true)
		if err != nil {
			return nil, err
		}
		return one(component, fmt.Sprintf("https://download.docker.com/linux/static/stable/%s/docker-%s.tgz", a, ver)), nil
	case "gvisor":
		// gVisor spells arches like uname -m: /arm64/ is a 404 (UPSTREAM.md).
		a, err := arch(platform, true)
		if err != nil {
			return nil, err
		}
		base := fmt.Sprintf("https://storage.googleapis.com/gvisor/releases/release/%s/%s/", ver, a)
		return []namedURL{{"runsc", base + "runsc"}, {"containerd-shim-runsc-v1", base + "containerd-shim-runsc-v1"}}, nil
	case "kata":
		if v.atLeast("4.0.0") {
			return nil, manifest.Hintf("pin the artifact URL under the component's sources for each platform",
				"kata %s: the catalog knows kata 2.x and 3.x; 4.x splits kata-static into a rust and a Go tarball", ver)
		}
		var a string
		if v.below("3.2.0") {
			// kata-static up to 3.1.x is published for x86_64 only, named -x86_64.
			if platform != "linux/amd64" {
				if _, err := arch(platform, true); err != nil {
					return nil, err
				}
				return nil, manifest.Hintf(fmt.Sprintf("use kata 3.2.0 or later for %s, drop %s from the platforms, or give a source URL for it", platform, platform),
					"kata %s has no %s build (kata-static up to 3.1.x is published for x86_64 only)", ver, platform)
			}
			a = "x86_64"
		} else if a, err = arch(platform, false); err != nil {
			return nil, err
		}
		ext := ".tar.xz"
		if v.atLeast("3.21.0") {
			ext = ".tar.zst"
		}
		return one(component, fmt.Sprintf("%skata-containers/kata-containers/releases/download/%s/kata-static-%s-%s%s", gh, ver, ver, a, ext)), nil
	case "nerdctl":
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(component, fmt.Sprintf("%scontainerd/nerdctl/releases/download/v%s/nerdctl-%s-linux-%s.tar.gz", gh, ver, ver, a)), nil
	case "crictl":
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(component, fmt.Sprintf("%skubernetes-sigs/cri-tools/releases/download/v%s/crictl-v%s-linux-%s.tar.gz", gh, ver, ver, a)), nil
	}
	return nil, manifest.Hintf("use one of "+strings.Join(manifest.KnownComponents, ", "), "unknown component %q", component)
}

type namedURL struct{ name, url string }

func one(name, url string) []namedURL { return []namedURL{{name, url}} }

// overrideURLs applies a source URL given for a platform. For gVisor the URL
// names runsc; the shim is taken from the same directory, as upstream lays
// them out, so one source line moves both.
func overrideURLs(component, url string) []namedURL {
	if component == "gvisor" {
		dir := url[:strings.LastIndex(url, "/")+1]
		return []namedURL{{"runsc", url}, {"containerd-shim-runsc-v1", dir + "containerd-shim-runsc-v1"}}
	}
	return one(component, url)
}

// checksumFor derives an artifact's checksum file from its URL. The rule is
// the upstream layout (a suffix, or a sibling file), so it also holds for a
// source URL that points at an internal mirror of the release directory.
func checksumFor(component, url string) ChecksumRef {
	dir := url[:strings.LastIndex(url, "/")+1]
	switch component {
	case "containerd":
		return ChecksumRef{URL: url + ".sha256sum", Format: ChecksumSHA256Sum}
	case "runc":
		return ChecksumRef{URL: dir + "runc.sha256sum", Format: ChecksumPGPSHA256Sum}
	case "gvisor":
		return ChecksumRef{URL: url + ".sha512", Format: ChecksumSHA512}
	case "nerdctl":
		return ChecksumRef{URL: dir + "SHA256SUMS", Format: ChecksumSHA256Sums}
	case "crictl":
		return ChecksumRef{URL: url + ".sha256", Format: ChecksumBareSHA256}
	}
	// docker and kata publish no checksums: lock pins the downloaded bytes.
	return ChecksumRef{}
}

// archiveKind tells the archive format from a component and its URL.
func archiveKind(component, url string) (string, error) {
	if component == "runc" || component == "gvisor" {
		return ArchiveBinary, nil
	}
	base := path.Base(url)
	for _, k := range []string{ArchiveTarGz, ArchiveTgz, ArchiveTarXz, ArchiveTarZst} {
		if strings.HasSuffix(base, "."+k) {
			return k, nil
		}
	}
	return "", manifest.Hintf("point the URL at the upstream .tar.gz, .tgz, .tar.xz or .tar.zst",
		"%s: cannot tell the archive format of %q", component, url)
}

// fileRules says which files of an artifact go where. have reports which
// components the bundle carries (for Docker's bundled binaries).
func fileRules(component, artifact, url string, have func(string) bool) ([]FileRule, []Link) {
	bin := func(src, name string, optional bool) FileRule {
		return FileRule{Source: src, Target: BinDir + "/" + name, Mode: 0o755, Optional: optional}
	}
	switch component {
	case "containerd":
		// bin/ holds containerd, ctr, containerd-stress and the shims (1.x
		// also containerd-shim and -runc-v1): all of it is containerd's.
		return []FileRule{{Source: "bin/**", Target: BinDir, Mode: 0o755}}, nil
	case "runc":
		return []FileRule{bin(path.Base(url), "runc", false)}, nil
	case "gvisor":
		return []FileRule{bin(path.Base(url), artifact, false)}, nil
	case "docker":
		var rules []FileRule
		for _, f := range dockerOwn {
			rules = append(rules, bin("docker/"+f, f, false))
		}
		if !have("containerd") {
			for _, f := range dockerBundledContainerd {
				rules = append(rules, bin("docker/"+f, f, false))
			}
		}
		if !have("runc") {
			for _, f := range dockerBundledRunc {
				rules = append(rules, bin("docker/"+f, f, false))
			}
		}
		return rules, nil
	case "kata":
		// The whole tree, modes as packed (Mode 0), symlinks kept.
		return []FileRule{{Source: "opt/kata/**", Target: KataDir}},
			[]Link{
				{Path: BinDir + "/kata-runtime", Target: KataDir + "/bin/kata-runtime"},
				{Path: BinDir + "/containerd-shim-kata-v2", Target: KataDir + "/bin/containerd-shim-kata-v2"},
			}
	case "nerdctl":
		return []FileRule{
			bin("nerdctl", "nerdctl", false),
			// Rootless helpers; harmless for rootful use, so carried when present.
			bin("containerd-rootless-setuptool.sh", "containerd-rootless-setuptool.sh", true),
			bin("containerd-rootless.sh", "containerd-rootless.sh", true),
		}, nil
	case "crictl":
		return []FileRule{bin("crictl", "crictl", false)}, nil
	}
	return nil, nil
}

// knownComponent reports whether the catalog has an entry for name.
func knownComponent(name string) bool { return slices.Contains(manifest.KnownComponents, name) }

// CompletionDir is where bash completions go: bash-completion ≥ 2.2 loads
// <dir>/bash-completion/completions/<command> on demand for every dir of
// $XDG_DATA_DIRS, default "/usr/local/share:/usr/share" (scop/bash-completion
// commit c89dcbbd, "Load completions also from $XDG_DATA_DIRS", first in
// 2.2; the same lookup in 2.7, 2.8 and 2.18.0's bash_completion). Kylin
// V10's own list was not found: its ky10 packages carry openEuler 20.03
// LTS's versions and releases (python3-3.7.4-8, rpm-4.15.1-12,
// python3-setuptools-40.4.3-4 on update.cs2c.com.cn/NS/V10/V10SP1.1 and in
// openEuler's list), and openEuler 20.03 LTS ships bash-completion-2.8-9
// (openeuler-mirror/oec-application doc/compatibility_level); the RHEL 8
// family ships 2.7. Unlike
// /etc/bash_completion.d, which is sourced eagerly at every shell start, the
// directory is read only when the command is first completed, and it stays
// out of /etc. A session that sets XDG_DATA_DIRS without /usr/local/share
// does not see it.
const CompletionDir = "/usr/local/share/bash-completion/completions"

// Completion is a bash completion the bundler generates at build time by
// running a tool of the component (never on the installing host).
type Completion struct {
	Tool string   // the tool's install path, a file of the component's artifact
	Args []string // the arguments that make it print its bash completion
	Path string   // where the completion is installed
	// ConfigEnv, when set, names the environment variable that points the
	// tool at its configuration file; the bundler points it at a file that
	// does not exist, so the builder host's own configuration is not read.
	ConfigEnv string
}

// Completions lists the bash completions a component's tools print.
//
//   - nerdctl: cobra's default `completion bash` command; nerdctl exempts
//     "completion" from its rootless re-exec (cmd/nerdctl/main_linux.go,
//     appNeedsRootlessParentMain) and reads $NERDCTL_TOML, else
//     /etc/nerdctl/nerdctl.toml as root, failing on a malformed one
//     (cmd/nerdctl/main.go, initRootCmdFlags).
//   - crictl: `completion bash` prints a fixed template listing its commands
//     and flags (cri-tools cmd/crictl/completion.go); a missing or bad
//     /etc/crictl.yaml is ignored unless --config or CRI_CONFIG_FILE is given
//     (cmd/crictl/main.go, app.Before), so no ConfigEnv.
func Completions(component string) []Completion {
	switch component {
	case "nerdctl":
		return []Completion{{Tool: BinDir + "/nerdctl", Args: []string{"completion", "bash"},
			Path: CompletionDir + "/nerdctl", ConfigEnv: "NERDCTL_TOML"}}
	case "crictl":
		return []Completion{{Tool: BinDir + "/crictl", Args: []string{"completion", "bash"},
			Path: CompletionDir + "/crictl"}}
	}
	return nil
}
