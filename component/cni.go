package component

import "fmt"

// CNIPlugins are the programs of containernetworking/plugins' release
// archive: every directory of plugins/{meta,main,ipam} except windows
// (build_linux.sh @v1.9.1).
var CNIPlugins = []string{
	"bandwidth", "firewall", "portmap", "sbr", "tuning", "vrf",
	"bridge", "dummy", "host-device", "ipvlan", "loopback", "macvlan", "ptp", "tap", "vlan",
	"dhcp", "host-local", "static",
}

// cni: cni-plugins-linux-<arch>-v<v>.tgz, packed from ./bin with the
// plugins, README.md and LICENSE at the top, and a <tgz>.sha256 in
// sha256sum format beside it (.github/workflows/release.yaml @v1.9.1
// L30-50). They are what containerd's CRI, nerdctl and Kubernetes run to
// put a container on a network (nerdctl README L133-141: not in the
// minimal archive; containerd 2.x getting-started: into /opt/cni/bin); the
// portmap and firewall plugins run the host's iptables.
var cni = Descriptor{
	Name:     CNI,
	Summary:  "CNI plugins: container networks for the CRI and nerdctl",
	Networks: true,
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/containernetworking/plugins",
		GoModule: plainModule("github.com/containernetworking/plugins")},
	Restarts:  []string{ContainerdService},
	Modules:   []Module{{Name: "br_netfilter"}},
	HostTools: []HostTool{{Name: "iptables", Why: "the CNI portmap and firewall plugins run it to publish ports and isolate networks"}},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(CNI, fmt.Sprintf("https://github.com/containernetworking/plugins/releases/download/v%s/cni-plugins-linux-%s-v%s.tgz", v, a, v)), nil
	},
	Checksum: func(url string) ChecksumRef { return ChecksumRef{URL: url + ".sha256", Format: ChecksumSHA256Sum} },
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		var rules []FileRule
		for _, p := range CNIPlugins {
			// The plugins the default network needs must be there; the
			// others are carried when the release has them.
			required := (p == "bridge" || p == "host-local" || p == "portmap" || p == "firewall" || p == "tuning" || p == "loopback")
			rules = append(rules, FileRule{Source: p, Target: CNIBinDir + "/" + p, Mode: 0o755, Optional: !required})
		}
		return rules, nil
	},
}
