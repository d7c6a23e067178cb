package component

import "fmt"

// runc: one static binary per platform, runc.<arch>, beside a PGP
// clear-signed runc.sha256sum (runc script/release_build.sh,
// script/release_sign.sh).
var runc = Descriptor{
	Name:    Runc,
	Summary: "the reference OCI runtime",
	// LICENSE: Apache License 2.0.
	Project: Project{License: "Apache-2.0", Homepage: "https://github.com/opencontainers/runc",
		GoModule: plainModule("github.com/opencontainers/runc")},
	Runtime:  RuntimeRunc,
	Restarts: []string{ContainerdService},
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, false)
		if err != nil {
			return nil, err
		}
		return one(Runc, fmt.Sprintf("https://github.com/opencontainers/runc/releases/download/v%s/runc.%s", v, a)), nil
	},
	Checksum: func(url string) ChecksumRef {
		return ChecksumRef{URL: dirOf(url) + "runc.sha256sum", Format: ChecksumPGPSHA256Sum}
	},
	Binary: true,
	Files: func(_, url string, _ func(string) bool) ([]FileRule, []Link) {
		return []FileRule{bin(baseOf(url), "runc", false)}, nil
	},
}
