package profiles

import (
	_ "embed"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// Security and end-of-life notes about upstream releases live in
// advisories.yaml: they hold for a release whatever chose it (a profile or
// a spec), so every resolution evaluates them, per artifact, against the
// artifact's own release.
//
//go:embed advisories.yaml
var advisoriesFile []byte

// advisoriesDoc is the on-disk form of advisories.yaml.
type advisoriesDoc struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"` // "Advisories"
	Notes      []Note `json:"notes" yaml:"notes"`
}

var loadAdvisories = sync.OnceValues(func() ([]Note, error) {
	var d advisoriesDoc
	if err := manifest.DecodeYAML("advisories", advisoriesFile, &d); err != nil {
		return nil, err
	}
	if d.APIVersion != manifest.APIVersion || d.Kind != "Advisories" {
		return nil, fmt.Errorf("advisories.yaml: apiVersion %q kind %q, want %s Advisories", d.APIVersion, d.Kind, manifest.APIVersion)
	}
	var errs []error
	for _, n := range d.Notes {
		if err := n.validate(); err != nil {
			errs = append(errs, err)
		}
		if n.Kind == "" || n.Component == "" || len(n.Affected) == 0 {
			errs = append(errs, fmt.Errorf("advisory %s: needs a kind, a component and affected ranges", n.ID))
		}
	}
	return d.Notes, errors.Join(errs...)
})

// Advisories returns the built-in security and end-of-life notes.
func Advisories() []Note {
	ns, err := loadAdvisories()
	if err != nil {
		panic(err) // compiled in and checked by the tests: a broken build
	}
	return slices.Clone(ns)
}

// validate checks one note of a profile or of advisories.yaml.
func (n *Note) validate() error {
	var errs []error
	bad := func(format string, args ...any) {
		errs = append(errs, fmt.Errorf("note %q: "+format, append([]any{n.ID}, args...)...))
	}
	if n.ID == "" || !slices.Contains([]string{"info", "warning", "error"}, n.Severity) || n.Text == "" {
		bad("needs an id, a severity (info, warning, error) and a text")
	}
	switch n.Kind {
	case "":
	case manifest.NoteSecurity:
		if len(n.CVEs) == 0 || len(n.FixedIn) == 0 || n.Source == "" {
			bad("a security note needs cves, fixedIn and a source")
		}
	case manifest.NoteEOL:
		if n.Date == "" || n.Source == "" {
			bad("an end-of-life note needs a date and a source")
		}
	default:
		bad("kind %q is not %s or %s", n.Kind, manifest.NoteSecurity, manifest.NoteEOL)
	}
	if n.Version != "" && len(n.Affected) > 0 {
		bad("give version or affected, not both")
	}
	if n.Component != "" {
		for _, r := range n.Affected {
			if _, err := parseRange(n.Component, r); err != nil {
				errs = append(errs, fmt.Errorf("note %q: affected %q: %w", n.ID, r, err))
			}
		}
		for _, f := range n.FixedIn {
			if _, err := component.ParseVersion(n.Component, f); err != nil {
				errs = append(errs, fmt.Errorf("note %q: fixedIn: %w", n.ID, err))
			}
		}
	}
	return errors.Join(errs...)
}

// appliesTo reports whether the note holds for a release of its component.
func (n *Note) appliesTo(version string) bool {
	switch {
	case n.Version != "":
		return n.Version == version
	case len(n.Affected) == 0:
		return true
	}
	v, err := component.ParseVersion(n.Component, version)
	if err != nil {
		return false
	}
	for _, r := range n.Affected {
		if rg, err := parseRange(n.Component, r); err == nil && rg.contains(v) {
			return true
		}
	}
	return false
}

// versionRange is one affected range: every bound must hold.
type versionRange []bound

type bound struct {
	op string
	v  component.Version
}

// parseRange reads a range such as "< 1.2.8" or ">= 1.3.0-rc.1, < 1.3.3"
// (bounds joined by commas, each an operator <, <=, >, >= or = and a
// release version as the component writes it).
func parseRange(name, s string) (versionRange, error) {
	var out versionRange
	for _, part := range strings.Split(s, ",") {
		part = strings.TrimSpace(part)
		op := ""
		for _, o := range []string{">=", "<=", ">", "<", "="} {
			if strings.HasPrefix(part, o) {
				op = o
				break
			}
		}
		if op == "" {
			return nil, fmt.Errorf("%q: start each bound with <, <=, >, >= or =", part)
		}
		v, err := component.ParseVersion(name, strings.TrimSpace(part[len(op):]))
		if err != nil {
			return nil, err
		}
		out = append(out, bound{op, v})
	}
	return out, nil
}

func (r versionRange) contains(v component.Version) bool {
	for _, b := range r {
		c := v.Compare(b.v)
		ok := map[string]bool{"<": c < 0, "<=": c <= 0, ">": c > 0, ">=": c >= 0, "=": c == 0}[b.op]
		if !ok {
			return false
		}
	}
	return true
}

// releaseNote is a note as it applies to one release: the text says which
// release and, for a security note, the CVEs, the fix and the source, so
// that a reader of any version of the index (and preflight) sees them.
func releaseNote(n Note, version string) manifest.Note {
	out := n.Note
	if n.Version != "" || len(n.Affected) > 0 {
		out.Version = version
	}
	if n.Kind == "" {
		return out
	}
	name := n.Component
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s: ", name, version)
	switch n.Kind {
	case manifest.NoteSecurity:
		fmt.Fprintf(&b, "%s (%s).", strings.Join(n.CVEs, ", "), strings.TrimSuffix(n.Text, "."))
		fmt.Fprintf(&b, " Fixed in %s.", strings.Join(n.FixedIn, ", "))
	case manifest.NoteEOL:
		fmt.Fprintf(&b, "end of life %s: %s.", n.Date, strings.TrimSuffix(n.Text, "."))
	}
	fmt.Fprintf(&b, " Source: %s", n.Source)
	out.Text = b.String()
	return out
}

// KnownVulnerable returns the security notes among notes: the pins a
// strict build refuses.
func KnownVulnerable(notes []manifest.Note) []manifest.Note {
	var out []manifest.Note
	for _, n := range notes {
		if n.Kind == manifest.NoteSecurity {
			out = append(out, n)
		}
	}
	return out
}
