package component

import "fmt"

// crictl: crictl-v<v>-linux-<arch>.tar.gz with a bare-hex <asset>.sha256
// (cri-tools hack/release.sh).
var crictl = Descriptor{
	Name:    Crictl,
	Summary: "CLI for the Kubernetes CRI",
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/kubernetes-sigs/cri-tools",
		GoModule: plainModule("sigs.k8s.io/cri-tools")},
	Requires: []string{Containerd},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(Crictl, fmt.Sprintf("https://github.com/kubernetes-sigs/cri-tools/releases/download/v%s/crictl-v%s-linux-%s.tar.gz", v, v, a)), nil
	},
	Checksum: func(url string) ChecksumRef { return ChecksumRef{URL: url + ".sha256", Format: ChecksumBareSHA256} },
	Files: func(_, _ string, _ func(string) bool) ([]FileRule, []Link) {
		return []FileRule{bin("crictl", "crictl", false)}, nil
	},
	// `completion bash` prints a fixed template listing its commands and
	// flags (cri-tools cmd/crictl/completion.go); a missing or bad
	// /etc/crictl.yaml is ignored unless --config or CRI_CONFIG_FILE is
	// given (cmd/crictl/main.go, app.Before), so no ConfigEnv.
	Completions: []Completion{{Tool: BinDir + "/crictl", Args: []string{"completion", "bash"}, Path: CompletionDir + "/crictl"}},
}
