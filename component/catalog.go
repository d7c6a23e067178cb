package component

import (
	"path"
	"strings"

	"github.com/satchel-dev/satchel/internal/fault"
)

// The builder's side of a descriptor: where upstream publishes each
// release (/work/shared/UPSTREAM.md, "Where each artifact comes from"),
// how the checksum file next to it is named and written, and which files
// of the artifact go where on the host (docs/installing.md).

// Checksum file formats, as fetch.ParseChecksumFile reads them.
const (
	ChecksumSHA256Sum    = "sha256sum"     // "<hex>  <name>": containerd's <asset>.sha256sum
	ChecksumBareSHA256   = "bare-sha256"   // "<hex>": crictl's and the CNI plugins' <asset>.sha256
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

// Install locations (docs/installing.md).
const (
	BinDir        = "/usr/local/bin"
	KataDir       = "/opt/kata"
	CNIBinDir     = "/opt/cni/bin"
	CompletionDir = "/usr/local/share/bash-completion/completions"
)

// ChecksumRef names an upstream checksum file and its format. An empty
// Format means upstream publishes none: lock pins the downloaded bytes and
// marks them so.
type ChecksumRef struct {
	URL    string `json:"url,omitempty"`
	Format string `json:"format,omitempty"`
}

// FileRule maps files of an upstream artifact to host paths.
//
// Source is a cleaned path inside the archive ("bin/ctr"), or "dir/**" for
// everything below dir, which lands below Target keeping its relative path.
// For a plain-binary artifact Source is the file name at the end of its URL
// ("runc.amd64", "runsc"). Mode 0 keeps the archive's mode bits. A rule that
// is not Optional must match at least one file, or the build fails.
type FileRule struct {
	Source   string `json:"source"`
	Target   string `json:"target"`
	Mode     uint32 `json:"mode,omitempty"`
	Optional bool   `json:"optional,omitempty"`
}

// Match returns the host path for an archive member name, if the rule takes it.
// Names are compared cleaned, so "./opt/kata/bin/x" (kata's tarball is packed
// from ".") matches "opt/kata/**".
func (r FileRule) Match(name string) (string, bool) {
	name = strings.TrimPrefix(path.Clean("/"+name), "/")
	if dir, ok := strings.CutSuffix(r.Source, "/**"); ok {
		if name == dir {
			return r.Target, true
		}
		if rest, ok := strings.CutPrefix(name, dir+"/"); ok {
			return path.Join(r.Target, rest), true
		}
		return "", false
	}
	if name == r.Source {
		return r.Target, true
	}
	return "", false
}

// Link is a symlink the installer creates: Path → Target.
type Link struct {
	Path   string `json:"path"`
	Target string `json:"target"`
}

// Artifact is one upstream file of a release for one platform. Name tells
// a component's artifacts apart where a platform has several (gVisor:
// runsc and containerd-shim-runsc-v1); elsewhere it is the component name.
type Artifact struct {
	Name string
	URL  string
}

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

// Module is a kernel module a component needs.
type Module struct {
	Name string
	// Required: the component fails without it (else it loses a feature).
	Required bool
}

// arch names a platform's CPU the way a project spells it in URLs: Go's
// (amd64, arm64) or uname -m's (x86_64, aarch64).
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
	return "", fault.Remedyf("use one of "+strings.Join(Platforms, ", "), "unknown platform %q", platform)
}

// Platforms are the platforms a bundle may carry.
var Platforms = []string{"linux/amd64", "linux/arm64"}

func one(name, url string) []Artifact { return []Artifact{{Name: name, URL: url}} }

// archiveFromURL tells the archive format from the URL's name.
func archiveFromURL(component, url string) (string, error) {
	base := path.Base(url)
	for _, k := range []string{ArchiveTarGz, ArchiveTgz, ArchiveTarXz, ArchiveTarZst} {
		if strings.HasSuffix(base, "."+k) {
			return k, nil
		}
	}
	return "", fault.Remedyf("point the URL at the upstream .tar.gz, .tgz, .tar.xz or .tar.zst",
		"%s: cannot tell the archive format of %q", component, url)
}

func bin(src, name string, optional bool) FileRule {
	return FileRule{Source: src, Target: BinDir + "/" + name, Mode: 0o755, Optional: optional}
}

func dirOf(url string) string { return url[:strings.LastIndex(url, "/")+1] }

func baseOf(url string) string { return path.Base(url) }
