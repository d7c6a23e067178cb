package audit

import (
	"fmt"
	"strings"

	"golang.org/x/mod/semver"
)

// ordering compares two versions of one ecosystem: <0, 0, >0, or an error
// for a version it cannot read.
type ordering func(a, b string) (int, error)

// semverOrder compares Semantic Versioning 2.0 versions, with or without
// Go's "v" prefix (OSV writes them without; Go modules with).
func semverOrder(a, b string) (int, error) {
	va, vb := "v"+strings.TrimPrefix(a, "v"), "v"+strings.TrimPrefix(b, "v")
	if !semver.IsValid(va) {
		return 0, fmt.Errorf("%q is not a semantic version", a)
	}
	if !semver.IsValid(vb) {
		return 0, fmt.Errorf("%q is not a semantic version", b)
	}
	return semver.Compare(va, vb), nil
}

// GoVersionToSemver turns a Go toolchain version into the semantic version
// the Go vulnerability database uses for package "stdlib": go1.24.2 →
// 1.24.2, go1.21 → 1.21.0, go1.21rc2 → 1.21.0-rc.2, go1.20beta1 →
// 1.20.0-beta.1 (golang.org/x/vuln's semver conversion does the same).
// ok is false for a development toolchain ("devel …").
func GoVersionToSemver(v string) (string, bool) {
	v = strings.TrimPrefix(v, "go")
	if v == "" || strings.HasPrefix(v, "devel") {
		return "", false
	}
	pre := ""
	for _, tag := range []string{"rc", "beta", "alpha"} {
		if i := strings.Index(v, tag); i > 0 {
			pre = "-" + tag + "." + v[i+len(tag):]
			v = v[:i]
			break
		}
	}
	switch strings.Count(v, ".") {
	case 0:
		v += ".0.0"
	case 1:
		v += ".0"
	}
	out := v + pre
	if !semver.IsValid("v" + out) {
		return "", false
	}
	return out, true
}

// dpkgOrder compares Debian package versions as dpkg does (deb-version(7)):
// epoch numerically, then upstream version and revision with verrevcmp:
// alternating non-digit parts (letters before other characters, '~' before
// everything, even the end) and digit parts compared as numbers.
func dpkgOrder(a, b string) (int, error) {
	ea, ua, ra, err := splitDebVersion(a)
	if err != nil {
		return 0, err
	}
	eb, ub, rb, err := splitDebVersion(b)
	if err != nil {
		return 0, err
	}
	if ea != eb {
		if ea < eb {
			return -1, nil
		}
		return 1, nil
	}
	if c := verrevcmp(ua, ub); c != 0 {
		return c, nil
	}
	return verrevcmp(ra, rb), nil
}

func splitDebVersion(v string) (epoch int, upstream, revision string, err error) {
	if v == "" {
		return 0, "", "", fmt.Errorf("empty Debian version")
	}
	if e, rest, ok := strings.Cut(v, ":"); ok {
		for _, c := range e {
			if c < '0' || c > '9' {
				return 0, "", "", fmt.Errorf("%q: epoch is not a number", v)
			}
			epoch = epoch*10 + int(c-'0')
		}
		v = rest
	}
	if i := strings.LastIndex(v, "-"); i >= 0 {
		return epoch, v[:i], v[i+1:], nil
	}
	return epoch, v, "", nil
}

func order(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return 0
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z':
		return int(c)
	case c == '~':
		return -1
	}
	return int(c) + 256
}

func verrevcmp(a, b string) int {
	i, j := 0, 0
	for i < len(a) || j < len(b) {
		firstDiff := 0
		for i < len(a) && !isDigit(a[i]) || j < len(b) && !isDigit(b[j]) {
			ac, bc := 0, 0
			if i < len(a) {
				ac = order(a[i])
			}
			if j < len(b) {
				bc = order(b[j])
			}
			if ac != bc {
				return sign(ac - bc)
			}
			i++
			j++
		}
		for i < len(a) && a[i] == '0' {
			i++
		}
		for j < len(b) && b[j] == '0' {
			j++
		}
		for i < len(a) && isDigit(a[i]) && j < len(b) && isDigit(b[j]) {
			if firstDiff == 0 {
				firstDiff = int(a[i]) - int(b[j])
			}
			i++
			j++
		}
		if i < len(a) && isDigit(a[i]) {
			return 1
		}
		if j < len(b) && isDigit(b[j]) {
			return -1
		}
		if firstDiff != 0 {
			return sign(firstDiff)
		}
	}
	return 0
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func sign(x int) int {
	switch {
	case x < 0:
		return -1
	case x > 0:
		return 1
	}
	return 0
}

// orderingFor returns how to compare versions of a range type in an
// ecosystem, or nil when the audit cannot.
func orderingFor(rangeType, ecosystem string) ordering {
	base, _, _ := strings.Cut(ecosystem, ":")
	switch rangeType {
	case "SEMVER":
		return semverOrder
	case "ECOSYSTEM":
		switch base {
		case "Go":
			return semverOrder // Go module versions are semantic versions
		case "Debian", "Ubuntu":
			return dpkgOrder
		}
	}
	return nil // GIT ranges, and ecosystems whose ordering is not implemented
}

// affected reports whether version lies in r, per the OSV evaluation
// algorithm. The "0" of introduced means "from the first version".
func affected(version string, r Range, cmp ordering) (bool, error) {
	type ev struct {
		kind, v string
	}
	var evs []ev
	var limits []string
	for _, e := range r.Events {
		switch {
		case e.Introduced != "":
			evs = append(evs, ev{"introduced", e.Introduced})
		case e.Fixed != "":
			evs = append(evs, ev{"fixed", e.Fixed})
		case e.LastAffected != "":
			evs = append(evs, ev{"last_affected", e.LastAffected})
		case e.Limit != "":
			limits = append(limits, e.Limit)
		}
	}
	less := func(a, b string) (bool, error) {
		if a == "0" {
			return b != "0", nil
		}
		if b == "0" {
			return false, nil
		}
		c, err := cmp(a, b)
		return c < 0, err
	}
	// sorted(range.events): insertion sort, stable, errors surface.
	for i := 1; i < len(evs); i++ {
		for j := i; j > 0; j-- {
			l, err := less(evs[j].v, evs[j-1].v)
			if err != nil {
				return false, err
			}
			if !l {
				break
			}
			evs[j], evs[j-1] = evs[j-1], evs[j]
		}
	}
	if len(limits) > 0 {
		before := false
		for _, l := range limits {
			if l == "*" {
				before = true
				continue
			}
			c, err := cmp(version, l)
			if err != nil {
				return false, err
			}
			if c < 0 {
				before = true
			}
		}
		if !before {
			return false, nil
		}
	}
	vulnerable := false
	for _, e := range evs {
		var c int
		if e.v == "0" {
			c = 1
		} else {
			var err error
			if c, err = cmp(version, e.v); err != nil {
				return false, err
			}
		}
		switch e.kind {
		case "introduced":
			if c >= 0 {
				vulnerable = true
			}
		case "fixed":
			if c >= 0 {
				vulnerable = false
			}
		case "last_affected":
			if c > 0 {
				vulnerable = false
			}
		}
	}
	return vulnerable, nil
}
