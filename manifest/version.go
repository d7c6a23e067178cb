package manifest

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// VersionNums reads the leading dotted numbers of a version: "4.19.90-52.ky10"
// → [4 19 90], "2.28" → [2 28], "V10" → [].
func VersionNums(s string) []int {
	var nums []int
	for part := range strings.SplitSeq(strings.TrimPrefix(s, "v"), ".") {
		end := 0
		for end < len(part) && part[end] >= '0' && part[end] <= '9' {
			end++
		}
		if end == 0 {
			break
		}
		n, err := strconv.Atoi(part[:end])
		if err != nil {
			break
		}
		nums = append(nums, n)
		if end < len(part) {
			break
		}
	}
	return nums
}

// CompareVersions compares dotted versions (glibc "2.28", kernel
// "4.19.90-52.ky10") numerically by their leading numbers; missing parts
// are 0. It returns -1, 0 or 1.
func CompareVersions(a, b string) int {
	x, y := VersionNums(a), VersionNums(b)
	for i := range max(len(x), len(y)) {
		var p, q int
		if i < len(x) {
			p = x[i]
		}
		if i < len(y) {
			q = y[i]
		}
		if p != q {
			if p < q {
				return -1
			}
			return 1
		}
	}
	return 0
}

// dottedRE matches plain dotted numbers: "4.19", "2.28", "5.10.0".
var dottedRE = regexp.MustCompile(`^[0-9]{1,9}(\.[0-9]{1,9}){0,3}$`)

// Release is a satchel release version: major, minor, patch.
type Release [3]int

func (r Release) String() string { return fmt.Sprintf("%d.%d.%d", r[0], r[1], r[2]) }

// Compare returns -1, 0 or 1 as r is older than, equal to or newer than o.
func (r Release) Compare(o Release) int {
	for i := range r {
		if r[i] != o[i] {
			if r[i] < o[i] {
				return -1
			}
			return 1
		}
	}
	return 0
}

var (
	releaseRE = regexp.MustCompile(`^v?([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})$`)
	// buildRE is a release, optionally followed by what builds append to
	// it: a pre-release ("-dev", "-rc.1"), `git describe`'s
	// "-<commits>-g<hash>", "-dirty", or build metadata ("+<commit>").
	buildRE = regexp.MustCompile(`^v?([0-9]{1,9})\.([0-9]{1,9})\.([0-9]{1,9})([-+][0-9A-Za-z.+-]*)?$`)
)

// ParseRelease reads a release version, "1.2.3" or "v1.2.3", as an index
// records requirements.installer.
func ParseRelease(s string) (Release, error) {
	m := releaseRE.FindStringSubmatch(s)
	if m == nil {
		return Release{}, fmt.Errorf("%q is not a release version (major.minor.patch)", s)
	}
	return releaseOf(m), nil
}

func releaseOf(m []string) Release {
	var r Release
	for i := range r {
		r[i], _ = strconv.Atoi(m[i+1])
	}
	return r
}

// ParseBuildVersion reads the version a program was built with and returns
// the release its features are at least those of:
//
//	v0.3.0, 0.3.0                 0.3.0 (a release)
//	v0.3.0-12-gabc1234[-dirty]    0.3.0 (12 commits after the v0.3.0 tag)
//	0.1.0-dev, 0.1.0-dev+abc1234  0.1.0 (the source tree's own version, untagged)
//
// A version without a leading release ("dev", a bare commit hash from
// `git describe --always`, "(devel)", "") is unknown: ok is false.
func ParseBuildVersion(s string) (base Release, ok bool) {
	m := buildRE.FindStringSubmatch(s)
	if m == nil {
		return Release{}, false
	}
	return releaseOf(m), true
}

// AllowUnreleasedInstallerEnv names the environment variable that, set to
// 1, is the explicit consent CheckInstallerVersion's allowUnknown stands
// for: the installer reads it and passes it on.
const AllowUnreleasedInstallerEnv = "SATCHEL_ALLOW_UNRELEASED_INSTALLER"

// CheckInstallerVersion decides whether an installer built as version have
// may install a bundle that needs installer version need
// (requirements.installer). A build whose version names a release (see
// ParseBuildVersion) must be at least need. A build that names none cannot
// tell, so it refuses unless allowUnknown is set: a development build must
// not quietly install a bundle made for a newer format than it reads.
// A malformed requirement is a VerificationError; the other refusals are
// plain errors (exit code 1) with a hint.
func CheckInstallerVersion(have, need string, allowUnknown bool) error {
	if need == "" {
		return nil
	}
	nv, err := ParseRelease(need)
	if err != nil {
		return VerificationError(HintError(fmt.Errorf("the bundle's installer requirement: %w", err), malformedHint))
	}
	hv, ok := ParseBuildVersion(have)
	if !ok {
		if allowUnknown {
			return nil
		}
		return HintError(
			fmt.Errorf("this satchel-install was built without a release version (%q), so it cannot tell whether it reads a bundle that needs satchel-install %s", have, need),
			"use a released satchel-install (the one shipped with the bundle, or its .run file), build it with its version set (make does), or set "+AllowUnreleasedInstallerEnv+"=1 to accept the risk")
	}
	if hv.Compare(nv) < 0 {
		return HintError(
			fmt.Errorf("the bundle needs satchel-install %s or later; this is %s", need, have),
			"use satchel-install "+need+" or later (the one shipped with the bundle, or its .run file)")
	}
	return nil
}
