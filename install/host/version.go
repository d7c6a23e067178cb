package host

import (
	"strconv"
	"strings"
)

// versionNums reads the leading dotted numbers of a version: "4.19.90-52.ky10"
// → [4 19 90], "2.28" → [2 28], "V10" → [].
func versionNums(s string) []int {
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

// compareVersions compares dotted versions numerically; missing parts are 0.
func compareVersions(a, b string) int {
	x, y := versionNums(a), versionNums(b)
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
