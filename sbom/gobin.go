package sbom

import (
	"debug/buildinfo"
	"io"
	"strings"
)

// GoModuleInfo is one module compiled into a Go program.
type GoModuleInfo struct {
	Path    string `json:"path"`
	Version string `json:"version"`
	Sum     string `json:"sum,omitempty"`
	// ReplacedBy is the module that replaced it (go.mod replace), when any.
	ReplacedBy *GoModuleInfo `json:"replacedBy,omitempty"`
}

// Effective is the version that was compiled in: the replacement's when
// the replacement is a module version (not a local directory).
func (m GoModuleInfo) Effective() (version, sum string) {
	if m.ReplacedBy != nil && m.ReplacedBy.Version != "" {
		return m.ReplacedBy.Version, m.ReplacedBy.Sum
	}
	return m.Version, m.Sum
}

// GoBinary is what a Go program records about its build.
type GoBinary struct {
	// GoVersion is the toolchain, "go1.24.2" (a GOEXPERIMENT suffix is dropped).
	GoVersion string         `json:"goVersion"`
	Main      GoModuleInfo   `json:"main"`
	Deps      []GoModuleInfo `json:"deps"`
}

// ReadGoBinary reads the build information of a Go program with
// debug/buildinfo: the same data `go version -m` prints. ok is false for a
// file that is not a Go program (a C binary, a script, a Go program
// without build information). debug/buildinfo does not tell a read error
// from a file that is not Go, so r should be in memory.
func ReadGoBinary(r io.ReaderAt) (b *GoBinary, ok bool) {
	bi, err := buildinfo.Read(r)
	if err != nil {
		return nil, false
	}
	gb := &GoBinary{GoVersion: goVersion(bi.GoVersion)}
	gb.Main = GoModuleInfo{Path: bi.Main.Path, Version: bi.Main.Version, Sum: bi.Main.Sum}
	if gb.Main.Path == "" {
		gb.Main.Path = bi.Path // a program built outside module mode
	}
	for _, d := range bi.Deps {
		if d == nil {
			continue
		}
		m := GoModuleInfo{Path: d.Path, Version: d.Version, Sum: d.Sum}
		if d.Replace != nil {
			m.ReplacedBy = &GoModuleInfo{Path: d.Replace.Path, Version: d.Replace.Version, Sum: d.Replace.Sum}
		}
		gb.Deps = append(gb.Deps, m)
	}
	return gb, true
}

// goVersion keeps the toolchain version of a runtime.Version() string:
// "go1.24.2 X:boringcrypto" → "go1.24.2".
func goVersion(v string) string {
	f := strings.Fields(v)
	if len(f) == 0 {
		return ""
	}
	if f[0] == "devel" && len(f) > 1 {
		return "devel " + f[1]
	}
	return f[0]
}
