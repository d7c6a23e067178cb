package config

import (
	"bytes"
	"fmt"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"

	"github.com/satchel-dev/satchel/manifest"
)

// Paths satchel writes, as seen on the target host (the engine writes them under --root).
const (
	ContainerdConfigPath rootfs.Path = "/etc/containerd/config.toml"
	ContainerdDropInDir  rootfs.Path = "/etc/containerd/conf.d"
	ContainerdDropInPath rootfs.Path = ContainerdDropInDir + "/satchel.toml"
	RunscConfigPath      rootfs.Path = "/etc/containerd/runsc.toml"
	KataConfigPath       rootfs.Path = "/opt/kata/share/defaults/kata-containers/configuration.toml"
	RegistryConfigPath   rootfs.Path = "/etc/containerd/certs.d"
	DaemonJSONPath       rootfs.Path = "/etc/docker/daemon.json"
	CrictlPath           rootfs.Path = "/etc/crictl.yaml"
	UnitDir              rootfs.Path = "/etc/systemd/system"
	ContainerdUnitPath   rootfs.Path = UnitDir + "/containerd.service"
	DockerUnitPath       rootfs.Path = UnitDir + "/docker.service"
	ImagesUnitName                   = "satchel-images.service"
	ImagesUnitPath       rootfs.Path = UnitDir + "/" + ImagesUnitName
	RuntimeClassesPath   rootfs.Path = "/etc/satchel/kubernetes/runtimeclasses.yaml"
	ProfilePath          rootfs.Path = "/etc/profile.d/satchel.sh"
)

// Host paths the rendered files name (not files satchel writes).
const (
	ContainerdSocket = "/run/containerd/containerd.sock"
	BinDir           = "/usr/local/bin"
)

// Runtime names: the containerd runtime handler, the Docker runtime and the
// Kubernetes RuntimeClass handler all use these.
const (
	Runc  = "runc"
	Runsc = "runsc"
	Kata  = "kata"
)

// File is one file to write.
type File struct {
	// Path is the absolute path on the target host, e.g. /etc/containerd/config.toml.
	Path rootfs.Path
	// Data is the complete new content. When it equals the existing content
	// the caller passed, the file needs no write.
	Data []byte
	// Mode holds permission bits.
	Mode uint32
}

// Result is what a renderer produced: files to write, and warnings to show
// the user (each a full sentence).
type Result struct {
	Files    []File
	Warnings []string
}

// File returns the file with the given path.
func (r *Result) File(path rootfs.Path) (File, bool) {
	for _, f := range r.Files {
		if f.Path == path {
			return f, true
		}
	}
	return File{}, false
}

func (r *Result) warnf(format string, args ...any) {
	r.Warnings = append(r.Warnings, fmt.Sprintf(format, args...))
}

// header returns comment lines for the top of a file satchel writes.
func header(comment string, lines ...string) string {
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(comment + " " + l + "\n")
	}
	return b.String()
}

// ownedNote is the second header line of files satchel owns entirely.
const ownedNote = "Changes here are overwritten by the next install (satchel-install plan shows them)."

// hintf returns an error with a "hint:" line (manifest.HintError).
func hintf(hint, format string, args ...any) error { return manifest.Hintf(hint, format, args...) }

// hasComments reports whether a TOML/YAML/shell-style file has comment lines,
// which re-encoding drops.
func hasComments(b []byte) bool {
	for line := range bytes.Lines(b) {
		if bytes.HasPrefix(bytes.TrimSpace(line), []byte("#")) {
			return true
		}
	}
	return false
}

// version is a parsed major.minor[.patch] version.
type version struct{ major, minor, patch int }

// parseVersion reads "2.0.4", "v1.6.20", "1.6.20~ds1" or "2.1": the leading
// dotted numbers (manifest.VersionNums), anything after them ignored.
func parseVersion(s string) (version, error) {
	nums := manifest.VersionNums(strings.TrimSpace(s))
	if len(nums) < 2 {
		return version{}, fmt.Errorf("version %q is not major.minor[.patch]", s)
	}
	v := version{major: nums[0], minor: nums[1]}
	if len(nums) > 2 {
		v.patch = nums[2]
	}
	return v, nil
}

func (v version) less(major, minor int) bool {
	return v.major < major || v.major == major && v.minor < minor
}
