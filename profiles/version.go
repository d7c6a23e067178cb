package profiles

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// Version shapes upstream projects tag releases with. Release versions are
// written without the "v" some tags carry: the catalog adds it where the URL
// needs it, so one spelling works for every component.
var (
	semverRE = regexp.MustCompile(`^(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z][0-9A-Za-z.-]*)?$`)
	gvisorRE = regexp.MustCompile(`^([0-9]{8})\.(0|[1-9][0-9]*)$`)
)

// version is a parsed release version: three numbers (gVisor's
// yyyymmdd.N fills the first two) and an optional pre-release suffix.
type version struct {
	nums [3]int
	pre  string
}

// parseVersion checks a version against the component's shape and explains
// a mismatch with an example of the right one.
func parseVersion(component, v string) (version, error) {
	example := "2.0.4"
	re := semverRE
	if component == "gvisor" {
		example, re = "20250331.0", gvisorRE
	}
	m := re.FindStringSubmatch(v)
	if m == nil {
		hint := fmt.Sprintf("write the release version as upstream numbers it, e.g. %s", example)
		if strings.HasPrefix(v, "v") && re.MatchString(v[1:]) {
			hint = fmt.Sprintf("drop the leading \"v\": write %s (the catalog adds the v where the URL needs it)", v[1:])
		}
		if v == "" {
			return version{}, manifest.Hintf(hint, "%s: version is empty", component)
		}
		return version{}, manifest.Hintf(hint, "%s: %q is not a %s release version", component, v, component)
	}
	var out version
	for i := 1; i < len(m) && i <= 3; i++ {
		if m[i] == "" {
			continue
		}
		n, err := strconv.Atoi(m[i])
		if err != nil {
			return version{}, fmt.Errorf("%s: version %q: %w", component, v, err)
		}
		out.nums[i-1] = n
	}
	if len(m) > 4 {
		out.pre = strings.TrimPrefix(m[4], "-")
	}
	return out, nil
}

// mustVersion parses a version the catalog itself wrote.
func mustVersion(v string) version {
	out, err := parseVersion("", v)
	if err != nil {
		panic(err)
	}
	return out
}

// compare orders versions numerically; a pre-release sorts before its release.
func (a version) compare(b version) int {
	for i := range a.nums {
		if a.nums[i] != b.nums[i] {
			if a.nums[i] < b.nums[i] {
				return -1
			}
			return 1
		}
	}
	switch {
	case a.pre == b.pre:
		return 0
	case a.pre == "":
		return 1
	case b.pre == "":
		return -1
	case a.pre < b.pre:
		return -1
	default:
		return 1
	}
}

// atLeast reports whether a >= the release version s.
func (a version) atLeast(s string) bool { return a.compare(mustVersion(s)) >= 0 }

// below reports whether a < the release version s.
func (a version) below(s string) bool { return !a.atLeast(s) }
