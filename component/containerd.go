package component

import (
	"fmt"

	"github.com/satchel-dev/satchel/internal/fault"
)

// containerd: containerd[-static]-<v>-linux-<arch>.tar.gz with bin/ and a
// <asset>.sha256sum beside it (containerd Makefile, release workflow). The
// static variant exists since 1.7.0; dynamic 2.1+ builds need glibc 2.35
// (containerd#11685) and Kylin V10 has 2.28, so static is the default.
var containerd = Descriptor{
	Name:     Containerd,
	Summary:  "container daemon with the CRI plugin",
	Networks: true,
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/containerd/containerd",
		GoModule: majorModule("github.com/containerd/containerd")},
	Requires: []string{Runc},
	Service:  ContainerdService,
	Restarts: []string{ContainerdService},
	// The overlayfs snapshotter.
	Modules:  []Module{{Name: "overlay", Required: true}},
	Variants: []string{"static", "dynamic"},
	DefaultVariant: func(v Version) string {
		if v.AtLeast("1.7.0") {
			return "static"
		}
		return "dynamic"
	},
	URLs: func(v Version, variant, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		prefix := "containerd-"
		if variant == "static" {
			if v.Below("1.7.0") {
				return nil, fault.Remedyf("use variant dynamic for containerd before 1.7.0, or containerd 1.7.0 or later",
					"containerd %s has no static build (containerd-static-* is published since 1.7.0)", v)
			}
			prefix = "containerd-static-"
		}
		return one(Containerd, fmt.Sprintf("https://github.com/containerd/containerd/releases/download/v%s/%s%s-linux-%s.tar.gz", v, prefix, v, a)), nil
	},
	Checksum: func(url string) ChecksumRef { return ChecksumRef{URL: url + ".sha256sum", Format: ChecksumSHA256Sum} },
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		// bin/ holds containerd, ctr, containerd-stress and the shims (1.x
		// also containerd-shim and -runc-v1): all of it is containerd's.
		return []FileRule{{Source: "bin/**", Target: BinDir, Mode: 0o755}}, nil
	},
}
