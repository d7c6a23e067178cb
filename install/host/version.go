package host

import (
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// compareVersions is manifest's, named for this package's callers.
var compareVersions = manifest.CompareVersions

// isDotted reports whether s is a plain version like "2.28" or "2.2.5".
func isDotted(s string) bool {
	if s == "" {
		return false
	}
	for part := range strings.SplitSeq(s, ".") {
		if part == "" {
			return false
		}
		for _, c := range part {
			if c < '0' || c > '9' {
				return false
			}
		}
	}
	return true
}
