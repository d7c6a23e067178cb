package sbom

import (
	"net/url"
	"strconv"
	"strings"
)

// Upstream is what satchel knows about a component's project: the license
// it declares and the Go module its release binaries are built from.
type Upstream struct {
	// License is the SPDX license expression of the project's LICENSE file.
	License string
	// LicenseComment qualifies License for the release artifact.
	LicenseComment string
	// Homepage is the project's repository.
	Homepage string
	// module maps a release version to its Go module path and version ("",
	// "" when releases do not correspond to module versions).
	module func(version string) (path, modVersion string)
}

// upstreams is keyed by component name as satchel.json writes it. Each
// license was read in the project's LICENSE file (the copies in the Go
// module cache at the versions built for the e2e tests, and the repositories):
//
//   - containerd: github.com/containerd/containerd LICENSE, Apache License 2.0
//   - runc: github.com/opencontainers/runc LICENSE, Apache License 2.0
//   - docker: github.com/moby/moby LICENSE and github.com/docker/cli LICENSE,
//     Apache License 2.0
//   - gvisor: github.com/google/gvisor LICENSE, Apache License 2.0, followed by
//     "Some files carry the following license": MIT, and the 3-clause BSD
//     license ("Neither the name of Google Inc. …")
//   - kata: github.com/kata-containers/kata-containers LICENSE, Apache
//     License 2.0 (source files carry SPDX-License-Identifier: Apache-2.0)
//   - nerdctl: github.com/containerd/nerdctl LICENSE, Apache License 2.0
//   - crictl: github.com/kubernetes-sigs/cri-tools LICENSE, Apache License 2.0
//   - CNI plugins: github.com/containernetworking/plugins LICENSE, Apache 2.0
//   - BuildKit: github.com/moby/buildkit LICENSE, Apache License 2.0
var upstreams = map[string]Upstream{
	"containerd": {License: "Apache-2.0", Homepage: "https://github.com/containerd/containerd",
		module: majorModule("github.com/containerd/containerd")},
	"runc": {License: "Apache-2.0", Homepage: "https://github.com/opencontainers/runc",
		module: plainModule("github.com/opencontainers/runc")},
	"docker": {License: "Apache-2.0", Homepage: "https://github.com/moby/moby",
		LicenseComment: "Docker's static archive also carries containerd, runc and docker-init (tini, MIT), each under its own license.",
		module:         dockerModule},
	"gvisor": {License: "Apache-2.0 AND MIT AND BSD-3-Clause", Homepage: "https://github.com/google/gvisor",
		LicenseComment: "gVisor's LICENSE: Apache-2.0; some files carry MIT or BSD-3-Clause, noted at their top."},
	"kata": {License: "Apache-2.0", Homepage: "https://github.com/kata-containers/kata-containers",
		LicenseComment: "kata-static also carries QEMU, Cloud Hypervisor, Firecracker, virtiofsd and a guest kernel, each under its own license (QEMU and Linux: GPL-2.0)."},
	"nerdctl": {License: "Apache-2.0", Homepage: "https://github.com/containerd/nerdctl",
		module: majorModule("github.com/containerd/nerdctl")},
	"crictl": {License: "Apache-2.0", Homepage: "https://github.com/kubernetes-sigs/cri-tools",
		module: plainModule("sigs.k8s.io/cri-tools")},
	"cni-plugins": {License: "Apache-2.0", Homepage: "https://github.com/containernetworking/plugins",
		module: plainModule("github.com/containernetworking/plugins")},
	"buildkit": {License: "Apache-2.0", Homepage: "https://github.com/moby/buildkit",
		module: plainModule("github.com/moby/buildkit")},
}

func init() { upstreams["cni"] = upstreams["cni-plugins"] }

// LookupUpstream returns what satchel knows about a component's project.
func LookupUpstream(component string) (Upstream, bool) {
	u, ok := upstreams[component]
	return u, ok
}

// ComponentModule returns the Go module path and module version that a
// component's release version is tagged as (runc 1.2.6 →
// github.com/opencontainers/runc v1.2.6; containerd 2.0.4 →
// github.com/containerd/containerd/v2 v2.0.4). ok is false when the
// component is unknown or its releases are not module versions (gVisor's
// dated releases, kata's multi-module tree, Docker from 29 on, whose
// engine module is versioned v2.0.0-beta.N).
func ComponentModule(component, version string) (path, modVersion string, ok bool) {
	u, found := upstreams[component]
	if !found || u.module == nil || version == "" {
		return "", "", false
	}
	path, modVersion = u.module(version)
	return path, modVersion, path != ""
}

func vprefix(v string) string {
	if strings.HasPrefix(v, "v") {
		return v
	}
	return "v" + v
}

func major(v string) string {
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
		switch m := major(v); m {
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
	if m, err := strconv.Atoi(major(v)); err != nil || m >= 29 {
		return "", ""
	}
	return "github.com/docker/docker", vprefix(v) + "+incompatible"
}

// golangPURL is pkg:golang/<module path>@<version> (purl-spec's golang type:
// the namespace and name are the module path).
func golangPURL(path, version string) string {
	return "pkg:golang/" + purlPath(path) + "@" + url.PathEscape(version)
}

func purlPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func purlRef(locator string) ExternalRef {
	return ExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: locator}
}

// purlQualifiers encodes qualifiers sorted by key, as purl-spec asks.
func purlQualifiers(kv ...string) string {
	type q struct{ k, v string }
	var qs []q
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			qs = append(qs, q{kv[i], kv[i+1]})
		}
	}
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0 && qs[j].k < qs[j-1].k; j-- {
			qs[j], qs[j-1] = qs[j-1], qs[j]
		}
	}
	var b strings.Builder
	for i, x := range qs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(x.k + "=" + url.QueryEscape(x.v))
	}
	return b.String()
}
