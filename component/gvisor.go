package component

import "fmt"

// gvisor: runsc and containerd-shim-runsc-v1, two plain binaries per
// release directory with <file>.sha512 beside them; arches spelled like
// uname -m (/arm64/ is a 404) (google/gvisor g3doc/user_guide/install.md).
var gvisor = Descriptor{
	Name:    Gvisor,
	Summary: "gVisor runsc and its containerd shim: an application kernel sandbox",
	// LICENSE: Apache License 2.0, followed by "Some files carry the
	// following license": MIT, and the 3-clause BSD license.
	Project: Project{License: "Apache-2.0 AND MIT AND BSD-3-Clause", Homepage: "https://github.com/google/gvisor",
		LicenseComment: "gVisor's LICENSE: Apache-2.0; some files carry MIT or BSD-3-Clause, noted at their top."},
	Requires:      []string{Containerd},
	Runtime:       RuntimeRunsc,
	DatedReleases: true,
	URLs: func(v Version, _, platform string) ([]Artifact, error) {
		a, err := arch(platform, true)
		if err != nil {
			return nil, err
		}
		base := fmt.Sprintf("https://storage.googleapis.com/gvisor/releases/release/%s/%s/", v, a)
		return []Artifact{{Name: "runsc", URL: base + "runsc"}, {Name: "containerd-shim-runsc-v1", URL: base + "containerd-shim-runsc-v1"}}, nil
	},
	// A source URL names runsc; the shim is taken from the same directory,
	// as upstream lays them out, so one source line moves both.
	FromSource: func(url string) []Artifact {
		return []Artifact{{Name: "runsc", URL: url}, {Name: "containerd-shim-runsc-v1", URL: dirOf(url) + "containerd-shim-runsc-v1"}}
	},
	Checksum: func(url string) ChecksumRef { return ChecksumRef{URL: url + ".sha512", Format: ChecksumSHA512} },
	Binary:   true,
	Files: func(artifact, url string, _ func(string) bool) ([]FileRule, []Link) {
		return []FileRule{bin(baseOf(url), artifact, false)}, nil
	},
}
