//go:build !(linux && (amd64 || arm64))

package testenv

import (
	"fmt"
	"os"
)

func helper(name string) int {
	fmt.Fprintf(os.Stderr, "no helper %q on this platform\n", name)
	return 2
}
