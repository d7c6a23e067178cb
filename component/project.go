package component

import (
	"strconv"
	"strings"
)

// Project is what satchel states about a component's upstream project in
// the SBOM: the license it declares and the Go module its release binaries
// are built from. Each license was read in the project's LICENSE file (the
// copies in the Go module cache at the versions built for the e2e tests,
// and the repositories); the descriptor's file names it.
type Project struct {
	// License is the SPDX license expression of the project's LICENSE file.
	License string
	// LicenseComment qualifies License for the release artifact.
	LicenseComment string
	// Homepage is the project's repository.
	Homepage string
	// GoModule maps a release version to its Go module path and module
	// version (nil, or "" returned, when releases are not module versions).
	GoModule func(version string) (path, modVersion string)
}

// Module returns the Go module path and module version that a component's
// release version is tagged as (runc 1.2.6 → github.com/opencontainers/runc
// v1.2.6; containerd 2.0.4 → github.com/containerd/containerd/v2 v2.0.4).
// ok is false when releases are not module versions (gVisor's dated
// releases, kata's multi-module tree, Docker from 29 on).
func (p Project) Module(version string) (path, modVersion string, ok bool) {
	if p.GoModule == nil || version == "" {
		return "", "", false
	}
	path, modVersion = p.GoModule(version)
	return path, modVersion, path != ""
}

func vprefix(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

func majorOf(v string) string {
	m, _, _ := strings.Cut(strings.TrimPrefix(v, "v"), ".")
	return m
}

func plainModule(path string) func(string) (string, string) {
	return func(v string) (string, string) { return path, vprefix(v) }
}

// majorModule follows Go's semantic import versioning: v2 and later live at
// path/vN (containerd 2.x is github.com/containerd/containerd/v2).
func majorModule(path string) func(string) (string, string) {
	return func(v string) (string, string) {
		switch m := majorOf(v); m {
		case "0", "1":
			return path, vprefix(v)
		default:
			return path + "/v" + m, vprefix(v)
		}
	}
}

// dockerModule: Docker Engine releases up to 28.x are tagged in
// github.com/docker/docker without a go.mod, so the Go ecosystem knows them
// as vX.Y.Z+incompatible (as golang/vulndb lists them). From 29 the engine
// is module github.com/moby/moby/v2 at v2.0.0-beta.N, which a Docker
// version does not name.
func dockerModule(v string) (string, string) {
	if m, err := strconv.Atoi(majorOf(v)); err != nil || m >= 29 {
		return "", ""
	}
	return "github.com/docker/docker", vprefix(v) + "+incompatible"
}
