package testenv

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// TestSkipsGoThroughTestenv keeps the CI rule from eroding: every direct
// t.Skip/Skipf/SkipNow in the module's tests either goes through this
// package (Skipf, SkipShort, Require*: fails in CI) or says on its line why
// skipping is right everywhere ("// by design: ...").
func TestSkipsGoThroughTestenv(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not at %s: %v", root, err)
	}
	direct := regexp.MustCompile(`\b[a-z]\.(Skip|Skipf|SkipNow)\(`)
	var bad []string
	n := 0
	err = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata" || d.Name() == "bin") && p != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(p, "_test.go") {
			return nil
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		for i, line := range strings.Split(string(b), "\n") {
			if !direct.MatchString(line) {
				continue
			}
			n++
			if !strings.Contains(line, "// by design") {
				rel, _ := filepath.Rel(root, p)
				bad = append(bad, rel+":"+strconv.Itoa(i+1)+": "+strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range bad {
		t.Errorf("%s\n\tuse testenv.Skipf/SkipShort/RequireRoot/RequireBinary (they fail in CI), or end the line with \"// by design: why\"", b)
	}
	t.Logf("%d direct skips, all marked by design", n-len(bad))
}
