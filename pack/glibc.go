package pack

import (
	"debug/elf"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// glibcABITags are version names glibc uses for ABI features rather than
// releases, mapped to the release that introduced them: a binary linked with
// -z pack-relative-relocs needs GLIBC_ABI_DT_RELR, i.e. glibc 2.36.
var glibcABITags = map[string]string{
	"GLIBC_ABI_DT_RELR": "2.36",
}

// GlibcNeed reports which C library an ELF file needs:
//
//   - "static" (manifest.GlibcStatic) for an ELF file with neither a program
//     interpreter (PT_INTERP) nor DT_NEEDED entries;
//   - the highest GLIBC_x.y version it requires (from the GNU version-needs
//     section, SHT_GNU_verneed), e.g. "2.28";
//   - "" for a file that is not ELF, and for a dynamic ELF file that requires
//     no GLIBC_ version (e.g. one linked against musl): nothing to compare
//     with the host's glibc.
//
// A file that starts like ELF but cannot be parsed is an error.
func GlibcNeed(r io.ReaderAt) (string, error) {
	var magic [4]byte
	if n, _ := r.ReadAt(magic[:], 0); n < 4 || string(magic[:]) != elf.ELFMAG {
		return "", nil
	}
	f, err := elf.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("reading ELF file: %w", err)
	}
	defer f.Close()

	interp := false
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			interp = true
		}
	}
	needed, err := f.DynString(elf.DT_NEEDED)
	if err != nil {
		return "", fmt.Errorf("reading ELF dynamic section: %w", err)
	}
	if !interp && len(needed) == 0 {
		return manifest.GlibcStatic, nil
	}

	var versions []string
	// Symbol versions need SHT_GNU_VERSYM; without it nothing is versioned.
	if f.SectionByType(elf.SHT_GNU_VERSYM) != nil {
		vn, err := f.DynamicVersionNeeds()
		if err != nil && !errors.Is(err, elf.ErrNoSymbols) {
			return "", fmt.Errorf("reading ELF version needs: %w", err)
		}
		for _, lib := range vn {
			for _, d := range lib.Needs {
				versions = append(versions, d.Dep)
			}
		}
	}

	best := ""
	for _, v := range versions {
		rel, ok := glibcABITags[v]
		if !ok {
			var found bool
			rel, found = strings.CutPrefix(v, "GLIBC_")
			if !found || !isVersion(rel) {
				continue // GLIBC_PRIVATE, other libraries' versions
			}
		}
		if best == "" || compareVersions(rel, best) > 0 {
			best = rel
		}
	}
	return best, nil
}

// isVersion reports whether s is dotted decimal ("2.2.5").
func isVersion(s string) bool {
	if s == "" {
		return false
	}
	for _, p := range strings.Split(s, ".") {
		if _, err := strconv.ParseUint(p, 10, 32); err != nil {
			return false
		}
	}
	return true
}

// compareVersions is manifest.CompareVersions (glibc versions are plain dotted numbers).
var compareVersions = manifest.CompareVersions
