package component

import "fmt"

// Files of Docker's static archive that are not Docker's own programs. They
// are installed only when the bundle carries no containerd (the first three)
// or no runc (the last): otherwise they would overwrite the pinned
// components' binaries in /usr/local/bin with whatever versions Docker
// happened to bundle.
var (
	dockerOwn               = []string{"docker", "dockerd", "docker-init", "docker-proxy"}
	dockerBundledContainerd = []string{"containerd", "ctr", "containerd-shim-runc-v2"}
	dockerBundledRunc       = []string{"runc"}
)

// docker: docker-<v>.tgz per uname arch with a docker/ directory, no
// checksum published (docker-library/docker versions.sh; Docker's static
// binaries need iptables ≥ 1.4 on the host: docs.docker.com/engine/install/binaries).
var docker = Descriptor{
	Name:     Docker,
	Summary:  "Docker Engine static binaries, on the bundle's containerd and runc",
	Networks: true,
	// github.com/moby/moby and github.com/docker/cli LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/moby/moby",
		LicenseComment: "Docker's static archive also carries containerd, runc and docker-init (tini, MIT), each under its own license.",
		GoModule:       dockerModule},
	Requires: []string{Containerd, Runc},
	Service:  DockerService,
	Restarts: []string{DockerService},
	Modules:  []Module{{Name: "overlay", Required: true}, {Name: "br_netfilter"}},
	// docker/docs content/manuals/engine/install/binaries.md,
	// "Prerequisites": iptables 1.4 or higher.
	HostTools: []HostTool{{Name: "iptables", Why: "Docker's static binaries need iptables 1.4 or later on the host to set up container networks"}},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, true)
		if err != nil {
			return nil, err
		}
		return one(Docker, fmt.Sprintf("https://download.docker.com/linux/static/stable/%s/docker-%s.tgz", a, v)), nil
	},
	Files: func(_, _ string, have func(string) bool) ([]FileRule, []Link) {
		var rules []FileRule
		for _, f := range dockerOwn {
			rules = append(rules, bin("docker/"+f, f, false))
		}
		if !have(Containerd) {
			for _, f := range dockerBundledContainerd {
				rules = append(rules, bin("docker/"+f, f, false))
			}
		}
		if !have(Runc) {
			for _, f := range dockerBundledRunc {
				rules = append(rules, bin("docker/"+f, f, false))
			}
		}
		return rules, nil
	},
}
