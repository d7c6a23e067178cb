package diff

import (
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/satchel-dev/satchel/audit"
)

// FindingChange is a known vulnerability that affects a package of one
// bundle and not the same package of the other: it appears (the new bundle
// brings it) or disappears (the new bundle fixes it or drops the package).
type FindingChange struct {
	ID       string         `json:"id"`
	Change   string         `json:"change"`
	Severity audit.Severity `json:"severity"`
	// Package is the package the finding is about, at the version of the
	// bundle that has it.
	Package audit.Package `json:"package"`
	Fixed   []string      `json:"fixed,omitempty"`
}

// AddFindings records the findings that appear or disappear between the
// audits of the old and the new bundle (audit.DB.Audit of each SBOM): a
// finding is the same when its id, ecosystem and package name are, so a
// package upgraded to a version still affected shows nothing.
func (r *Result) AddFindings(olds, news []audit.Finding) {
	key := func(f audit.Finding) string { return f.ID + "\x00" + f.Ecosystem + "\x00" + f.Name }
	in := func(fs []audit.Finding) map[string]audit.Finding {
		m := map[string]audit.Finding{}
		for _, f := range fs {
			m[key(f)] = f
		}
		return m
	}
	om, nm := in(olds), in(news)
	r.Findings = []FindingChange{}
	for k, f := range nm {
		if _, ok := om[k]; !ok {
			r.Findings = append(r.Findings, FindingChange{ID: f.ID, Change: Added, Severity: f.Severity, Package: f.Package, Fixed: f.Fixed})
		}
	}
	for k, f := range om {
		if _, ok := nm[k]; !ok {
			r.Findings = append(r.Findings, FindingChange{ID: f.ID, Change: Removed, Severity: f.Severity, Package: f.Package, Fixed: f.Fixed})
		}
	}
	sort.Slice(r.Findings, func(i, j int) bool {
		a, b := r.Findings[i], r.Findings[j]
		if a.Change != b.Change {
			return a.Change == Added // what the new bundle brings first
		}
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.ID != b.ID {
			return a.ID < b.ID
		}
		return a.Package.Name < b.Package.Name
	})
}

func (r *Result) writeFindings(w io.Writer) {
	if r.Findings == nil {
		return
	}
	if len(r.Findings) == 0 {
		fmt.Fprintln(w, "\nknown vulnerabilities: none appear or disappear")
		return
	}
	fmt.Fprintln(w, "\nknown vulnerabilities (+ the new bundle has it, - it no longer has it):")
	for _, f := range r.Findings {
		fixed := "no fix published"
		if len(f.Fixed) > 0 {
			fixed = "fixed in " + strings.Join(f.Fixed, ", ")
		}
		fmt.Fprintf(w, "  %s [%s] %s %s %s (%s)\n", sign[f.Change], f.Severity, f.ID, f.Package.Name, f.Package.Version, fixed)
	}
}
