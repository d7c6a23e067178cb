package component

import "fmt"

// buildkit: buildkit-v<v>.linux-<arch>.tar.gz with bin/ (buildkitd,
// buildctl, buildkit-runc, buildkit-cni-*, buildkit-qemu-*) (moby/buildkit
// Dockerfile L189-218 @v0.31.2). BuildKit publishes no checksum file (its
// release job uploads provenance, SBOM and sigstore files only,
// .github/workflows/buildkit.yml L68-109): lock pins the download, or a
// profile pins nerdctl's Dockerfile.d/SHA256SUMS.d/buildkit-<v>. Only
// buildkitd and buildctl are installed: buildkitd runs on the installed
// containerd (the containerd worker), not its own runc.
var buildkit = Descriptor{
	Name:    BuildKit,
	Summary: "BuildKit daemon on the installed containerd (nerdctl build)",
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/moby/buildkit",
		GoModule: plainModule("github.com/moby/buildkit")},
	Optional: true,
	Requires: []string{Containerd},
	Service:  BuildKitService,
	Restarts: []string{BuildKitService},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(BuildKit, fmt.Sprintf("https://github.com/moby/buildkit/releases/download/v%s/buildkit-v%s.linux-%s.tar.gz", v, v, a)), nil
	},
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		return []FileRule{bin("bin/buildkitd", "buildkitd", false), bin("bin/buildctl", "buildctl", false)}, nil
	},
}
