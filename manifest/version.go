package manifest

import (
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
