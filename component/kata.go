package component

import (
	"fmt"

	"github.com/satchel-dev/satchel/internal/fault"
)

// kata: kata-static-<v>-<arch>.tar.xz (x86_64 only up to 3.1.x; amd64 and
// arm64 from 3.2.0; .tar.zst from 3.21; 4.x splits it), packed from "." with
// opt/kata/; no checksum published (kata-containers release workflow,
// kata-deploy-binaries.sh). `kata-runtime check` requires kvm, vhost and
// vhost_net and lists vhost_vsock as not required
// (src/runtime/cmd/kata-runtime/kata-check_amd64.go L33-38, L135-156,
// kata-check_arm64.go L32-49 @3.7.0); kata's VSOCK design note asks for
// vhost_vsock "loaded or built-in" (docs/design/VSocks.md @40a37ce3).
var kata = Descriptor{
	Name:    Kata,
	Summary: "Kata Containers: lightweight VMs (needs KVM)",
	// LICENSE: Apache License 2.0 (source files carry
	// SPDX-License-Identifier: Apache-2.0).
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/kata-containers/kata-containers",
		LicenseComment: "kata-static also carries QEMU, Cloud Hypervisor, Firecracker, virtiofsd and a guest kernel, each under its own license (QEMU and Linux: GPL-2.0)."},
	Requires: []string{Containerd},
	Runtime:  RuntimeKata,
	Modules:  []Module{{Name: "vhost", Required: true}, {Name: "vhost_net", Required: true}, {Name: "vhost_vsock"}},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		if v.AtLeast("4.0.0") {
			return nil, fault.Remedyf("pin the artifact URL under the component's sources for each platform",
				"kata %s: the catalog knows kata 2.x and 3.x; 4.x splits kata-static into a rust and a Go tarball", v)
		}
		var a string
		var err error
		if v.Below("3.2.0") {
			// kata-static up to 3.1.x is published for x86_64 only, named -x86_64.
			if platform != "linux/amd64" {
				if _, err := arch(platform, true); err != nil {
					return nil, err
				}
				return nil, fault.Remedyf(fmt.Sprintf("use kata 3.2.0 or later for %s, drop %s from the platforms, or give a source URL for it", platform, platform),
					"kata %s has no %s build (kata-static up to 3.1.x is published for x86_64 only)", v, platform)
			}
			a = "x86_64"
		} else if a, err = arch(platform, false); err != nil {
			return nil, err
		}
		ext := ".tar.xz"
		if v.AtLeast("3.21.0") {
			ext = ".tar.zst"
		}
		return one(Kata, fmt.Sprintf("https://github.com/kata-containers/kata-containers/releases/download/%s/kata-static-%s-%s%s", v, v, a, ext)), nil
	},
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		// The whole tree, modes as packed (Mode 0), symlinks kept.
		return []FileRule{{Source: "opt/kata/**", Target: KataDir}},
			[]Link{
				{Path: BinDir + "/kata-runtime", Target: KataDir + "/bin/kata-runtime"},
				{Path: BinDir + "/containerd-shim-kata-v2", Target: KataDir + "/bin/containerd-shim-kata-v2"},
			}
	},
}
