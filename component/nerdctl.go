package component

import "fmt"

// nerdctl: nerdctl-<v>-linux-<arch>.tar.gz (nerdctl and the rootless
// helper scripts) with one SHA256SUMS per release (nerdctl Makefile).
var nerdctl = Descriptor{
	Name:    Nerdctl,
	Summary: "Docker-compatible CLI for containerd",
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/containerd/nerdctl",
		GoModule: majorModule("github.com/containerd/nerdctl")},
	Requires: []string{Containerd},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(Nerdctl, fmt.Sprintf("https://github.com/containerd/nerdctl/releases/download/v%s/nerdctl-%s-linux-%s.tar.gz", v, v, a)), nil
	},
	Checksum: func(url string) ChecksumRef {
		return ChecksumRef{URL: dirOf(url) + "SHA256SUMS", Format: ChecksumSHA256Sums}
	},
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		return []FileRule{
			bin("nerdctl", "nerdctl", false),
			// Rootless helpers; harmless for rootful use, so carried when present.
			bin("containerd-rootless-setuptool.sh", "containerd-rootless-setuptool.sh", true),
			bin("containerd-rootless.sh", "containerd-rootless.sh", true),
		}, nil
	},
	// cobra's default `completion bash`; nerdctl exempts "completion" from
	// its rootless re-exec (cmd/nerdctl/main_linux.go,
	// appNeedsRootlessParentMain) and reads $NERDCTL_TOML, else
	// /etc/nerdctl/nerdctl.toml as root, failing on a malformed one
	// (cmd/nerdctl/main.go, initRootCmdFlags).
	Completions: []Completion{{Tool: BinDir + "/nerdctl", Args: []string{"completion", "bash"},
		Path: CompletionDir + "/nerdctl", ConfigEnv: "NERDCTL_TOML"}},
}
