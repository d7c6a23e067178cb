package component

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/internal/fault"
)

// Version shapes upstream projects tag releases with. Release versions are
// written without the "v" some tags carry: the catalog adds it where the
// URL needs it, so one spelling works for every component.
var (
	semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$`)
	dateRE   = regexp.MustCompile(`^([0-9]{8})\.(0|[1-9][0-9]*)$`)
)

// Version is a parsed release version: three numbers (a dated release
// yyyymmdd.N fills the first two) and an optional pre-release suffix.
type Version struct {
	nums [3]int
	pre  string
	raw  string
}

// String returns the version as written.
func (v Version) String() string { return v.raw }

// ParseVersion checks a version against the shape the component's
// releases have (dated for gVisor, x.y.z for the others; either when no
// component is named) and explains a
// mismatch with an example of the right one.
func ParseVersion(component, v string) (Version, error) {
	example, re := "2.0.4", semverRE
	if d, ok := Lookup(component); ok && d.DatedReleases || component == "" && dateRE.MatchString(v) {
		example, re = "20250331.0", dateRE
	}
	m := re.FindStringSubmatch(v)
	if m == nil {
		hint := fmt.Sprintf("write the release version as upstream numbers it, e.g. %s", example)
		if strings.HasPrefix(v, "v") && re.MatchString(v[1:]) {
			hint = fmt.Sprintf("drop the leading \"v\": write %s (the catalog adds the v where the URL needs it)", v[1:])
		}
		if v == "" {
			return Version{}, fault.Remedyf(hint, "%s: version is empty", component)
		}
		return Version{}, fault.Remedyf(hint, "%s: %q is not a %s release version", component, v, component)
	}
	out := Version{raw: v}
	for i := 1; i < len(m) && i <= 3; i++ {
		if m[i] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i])
		if err != nil {
			return Version{}, fmt.Errorf("%s: version %q: %w", component, v, err)
		}
		out.nums[i-1] = n
	}
	if len(m) > 4 {
		out.pre = strings.TrimPrefix(m[4], "-")
	}
	return out, nil
}

func mustVersion(v string) Version {
	out, err := ParseVersion("", v)
	if err != nil {
		panic(err)
	}
	return out
}

// Compare orders versions numerically; a pre-release sorts before its release.
func (v Version) Compare(b Version) int {
	for i := range v.nums {
		if v.nums[i] != b.nums[i] {
			if v.nums[i] < b.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case v.pre == b.pre:
		return 0
	case v.pre == "":
		return 1
	case b.pre == "":
		return -1
	}
	return comparePre(v.pre, b.pre)
}

// comparePre orders pre-release suffixes as semver 2.0.0 §11 does:
// dot-separated identifiers left to right, numeric ones numerically and
// below alphanumeric ones, a shorter list first when all else is equal
// (so rc.3 < rc.10 < rc.10.1).
func comparePre(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, y := as[i], bs[i]
		xn, xerr := strconv.Atoi(x)
		yn, yerr := strconv.Atoi(y)
		switch {
		case xerr == nil && yerr == nil:
			if xn != yn {
				return cmpInt(xn, yn)
			}
		case xerr == nil:
			return -1
		case yerr == nil:
			return 1
		case x != y:
			return strings.Compare(x, y)
		}
	}
	return cmpInt(len(as), len(bs))
}

func cmpInt(a, b int) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// AtLeast reports whether v >= the release version s.
func (v Version) AtLeast(s string) bool { return v.Compare(mustVersion(s)) >= 0 }

// Below reports whether v < the release version s.
func (v Version) Below(s string) bool { return !v.AtLeast(s) }
