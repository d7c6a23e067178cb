package audit

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strings"

	"github.com/satchel-dev/satchel/sbom"
)

// Package is one installed package version to check.
type Package struct {
	// Ecosystem is OSV's: "Go", "Debian:12", "Alpine:v3.20".
	Ecosystem string `json:"ecosystem"`
	Name      string `json:"name"`
	// Version as OSV writes it for the ecosystem (Go: without "v"; stdlib:
	// the semantic version of the toolchain).
	Version string `json:"version"`
	// Where lists what in the bundle carries it ("runc 1.2.6 release
	// (linux/amd64)", "/usr/local/bin/containerd (linux/arm64)").
	Where []string `json:"where"`
}

// Finding is one vulnerability affecting one package version.
type Finding struct {
	ID      string   `json:"id"`
	Aliases []string `json:"aliases,omitempty"`
	Summary string   `json:"summary,omitempty"`
	Package
	// Fixed lists the versions that fix it above the installed one (empty:
	// no fix is published).
	Fixed    []string `json:"fixed"`
	Severity Severity `json:"severity"`
	// SeveritySource says where Severity came from (GitHub's rating, a CVSS vector).
	SeveritySource string `json:"severitySource,omitempty"`
	// Records lists every database record merged into this finding (a GHSA
	// and the GO- record that aliases it describe one vulnerability).
	Records []string `json:"records"`
}

// Report is the result of an audit.
type Report struct {
	Database string `json:"database"`
	Records  int    `json:"records"`
	// Checked counts the package versions compared.
	Checked  int       `json:"checked"`
	Findings []Finding `json:"findings"`
	// NotChecked lists packages whose ecosystem the audit cannot compare,
	// and versions it cannot read.
	NotChecked []string `json:"notChecked,omitempty"`
}

// PackagesFromSBOM lists the packages of an SPDX document that carry a
// purl the audit understands: pkg:golang (modules, stdlib, component pins),
// pkg:deb and pkg:apk (image packages). Identical packages are merged, with
// every place they occur in Where.
func PackagesFromSBOM(doc *sbom.Document) []Package {
	// Where: the files that DEPEND_ON or are GENERATED_FROM a package, the
	// image manifests that CONTAIN it; a component artifact is itself.
	names := map[string]string{}
	for _, f := range doc.Files {
		names[f.SPDXID] = strings.TrimPrefix(f.FileName, ".")
	}
	for _, p := range doc.Packages {
		names[p.SPDXID] = p.Name
		if plat := platformOf(p.Comment); plat != "" {
			names[p.SPDXID] += " (" + plat + ")"
		}
	}
	users := map[string][]string{}
	platformOfFile := map[string]string{}
	for _, r := range doc.Relationships {
		if r.RelationshipType == sbom.RelContains {
			if p, ok := doc.Package(r.SPDXElementID); ok {
				platformOfFile[r.RelatedSPDXElement] = platformOf(p.Comment)
			}
		}
	}
	for _, r := range doc.Relationships {
		switch r.RelationshipType {
		case sbom.RelDependsOn, sbom.RelGeneratedFrom, sbom.RelContains:
			if r.SPDXElementID == sbom.BundleID || r.SPDXElementID == sbom.DocumentID {
				continue
			}
			n := names[r.SPDXElementID]
			if plat := platformOfFile[r.SPDXElementID]; plat != "" && !strings.Contains(n, "(") {
				n += " (" + plat + ")"
			}
			users[r.RelatedSPDXElement] = append(users[r.RelatedSPDXElement], n)
		}
	}
	merged := map[string]*Package{}
	var order []string
	for _, p := range doc.Packages {
		pk, ok := fromPURL(p.PURL())
		if !ok {
			continue
		}
		where := users[p.SPDXID]
		if strings.HasPrefix(p.SPDXID, "SPDXRef-Artifact-") {
			where = []string{fmt.Sprintf("%s %s release %s", p.Name, p.VersionInfo, platformSuffix(p.Comment))}
		}
		key := pk.Ecosystem + "|" + pk.Name + "|" + pk.Version
		if m, ok := merged[key]; ok {
			m.Where = append(m.Where, where...)
			continue
		}
		pk.Where = append([]string(nil), where...)
		merged[key] = &pk
		order = append(order, key)
	}
	sort.Strings(order)
	out := make([]Package, 0, len(order))
	for _, k := range order {
		p := merged[k]
		p.Where = uniqSorted(p.Where)
		out = append(out, *p)
	}
	return out
}

func platformOf(comment string) string {
	for _, part := range strings.Split(comment, ";") {
		part = strings.TrimSpace(part)
		if rest, ok := strings.CutPrefix(part, "platform "); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return f[0]
			}
		}
	}
	return ""
}

func platformSuffix(comment string) string {
	if p := platformOf(comment); p != "" {
		return "(" + p + ")"
	}
	return ""
}

func uniqSorted(s []string) []string {
	sort.Strings(s)
	out := s[:0]
	for i, x := range s {
		if i == 0 || x != s[i-1] {
			out = append(out, x)
		}
	}
	return out
}

// fromPURL maps a purl to an OSV ecosystem, name and version.
func fromPURL(purl string) (Package, bool) {
	rest, ok := strings.CutPrefix(purl, "pkg:")
	if !ok {
		return Package{}, false
	}
	rest, query, _ := strings.Cut(rest, "?")
	typ, rest, ok := strings.Cut(rest, "/")
	if !ok {
		return Package{}, false
	}
	at := strings.LastIndex(rest, "@")
	if at < 0 {
		return Package{}, false
	}
	name, err1 := url.PathUnescape(rest[:at])
	version, err2 := url.PathUnescape(rest[at+1:])
	if err1 != nil || err2 != nil {
		return Package{}, false
	}
	q, _ := url.ParseQuery(query)
	switch typ {
	case "golang":
		if name == "stdlib" {
			v, ok := GoVersionToSemver(version)
			if !ok {
				return Package{}, false
			}
			return Package{Ecosystem: "Go", Name: "stdlib", Version: v}, true
		}
		return Package{Ecosystem: "Go", Name: name, Version: strings.TrimPrefix(version, "v")}, true
	case "deb", "apk":
		ns, pkgName, ok := strings.Cut(name, "/")
		if !ok {
			return Package{}, false
		}
		if up := q.Get("upstream"); up != "" {
			pkgName = up // OSV's Debian and Alpine records name source packages
		}
		eco := ""
		distro := q.Get("distro") // "<id>-<version id>"
		_, rel, _ := strings.Cut(distro, "-")
		switch ns {
		case "debian":
			eco = "Debian"
			if major, _, _ := strings.Cut(rel, "."); major != "" {
				eco += ":" + major
			}
		case "ubuntu":
			eco = "Ubuntu"
			if rel != "" {
				eco += ":" + rel
			}
		case "alpine":
			eco = "Alpine"
			if parts := strings.Split(rel, "."); len(parts) >= 2 {
				eco += ":v" + parts[0] + "." + parts[1]
			}
		default:
			return Package{}, false
		}
		return Package{Ecosystem: eco, Name: pkgName, Version: version}, true
	}
	return Package{}, false
}

// Audit checks pkgs against the database.
func (db *DB) Audit(pkgs []Package) *Report {
	rep := &Report{Database: db.Source, Records: db.Entries, Findings: []Finding{}}
	for _, p := range pkgs {
		if orderingFor("ECOSYSTEM", p.Ecosystem) == nil {
			rep.NotChecked = append(rep.NotChecked, fmt.Sprintf("%s %s %s: no version ordering for %s here", p.Ecosystem, p.Name, p.Version, p.Ecosystem))
			continue
		}
		rep.Checked++
		var found []Finding
		for _, e := range db.byPkg[pkgKey(p.Ecosystem, p.Name)] {
			f, ok, err := match(e, p)
			if err != nil {
				rep.NotChecked = append(rep.NotChecked, fmt.Sprintf("%s %s %s against %s: %v", p.Ecosystem, p.Name, p.Version, e.ID, err))
				continue
			}
			if ok {
				found = append(found, f)
			}
		}
		rep.Findings = append(rep.Findings, mergeAliases(found)...)
	}
	sort.SliceStable(rep.Findings, func(i, j int) bool {
		a, b := rep.Findings[i], rep.Findings[j]
		if a.Severity != b.Severity {
			return a.Severity > b.Severity
		}
		if a.Name != b.Name {
			return a.Name < b.Name
		}
		if a.Version != b.Version {
			return a.Version < b.Version
		}
		return a.ID < b.ID
	})
	rep.NotChecked = uniqSorted(rep.NotChecked)
	return rep
}

// ecosystemMatches: a record for "Debian" covers every Debian release; one
// for "Debian:12" only that release.
func ecosystemMatches(record, pkg string) bool {
	if record == pkg {
		return true
	}
	rb, rrel, rok := strings.Cut(record, ":")
	pb, _, _ := strings.Cut(pkg, ":")
	return rb == pb && (!rok || rrel == "")
}

func match(e *Entry, p Package) (Finding, bool, error) {
	var hit *Affected
	fixed := map[string]bool{}
	for i := range e.Affected {
		a := &e.Affected[i]
		if a.Package.Name != p.Name || !ecosystemMatches(a.Package.Ecosystem, p.Ecosystem) {
			continue
		}
		in := false
		for _, v := range a.Versions {
			if v == p.Version || "v"+v == p.Version {
				in = true
			}
		}
		for _, r := range a.Ranges {
			cmp := orderingFor(r.Type, p.Ecosystem)
			if cmp == nil {
				continue // GIT ranges: commits, not versions
			}
			ok, err := affected(p.Version, r, cmp)
			if err != nil {
				return Finding{}, false, err
			}
			if !ok {
				continue
			}
			in = true
			for _, ev := range r.Events {
				if ev.Fixed == "" {
					continue
				}
				if c, err := cmp(ev.Fixed, p.Version); err == nil && c > 0 {
					fixed[ev.Fixed] = true
				}
			}
		}
		if in && hit == nil {
			hit = a
		}
	}
	if hit == nil {
		return Finding{}, false, nil
	}
	sev, src := rate(e, hit)
	f := Finding{ID: e.ID, Aliases: append([]string(nil), e.Aliases...), Summary: e.Summary, Package: p,
		Severity: sev, SeveritySource: src, Records: []string{e.ID}, Fixed: []string{}}
	for v := range fixed {
		f.Fixed = append(f.Fixed, v)
	}
	cmp := orderingFor("ECOSYSTEM", p.Ecosystem)
	sort.Slice(f.Fixed, func(i, j int) bool { c, _ := cmp(f.Fixed[i], f.Fixed[j]); return c < 0 })
	return f, true, nil
}

// mergeAliases folds findings of one package that are the same
// vulnerability (one's id is another's alias, or they share an alias) into
// one: the highest severity, every alias and fixed version, every record id.
// The id shown is the CVE when there is one, else the first record.
func mergeAliases(fs []Finding) []Finding {
	parent := make([]int, len(fs))
	for i := range parent {
		parent[i] = i
	}
	var find func(int) int
	find = func(i int) int {
		if parent[i] != i {
			parent[i] = find(parent[i])
		}
		return parent[i]
	}
	names := func(f Finding) []string { return append([]string{f.ID}, f.Aliases...) }
	owner := map[string]int{}
	for i, f := range fs {
		for _, n := range names(f) {
			if j, ok := owner[n]; ok {
				parent[find(i)] = find(j)
			} else {
				owner[n] = i
			}
		}
	}
	groups := map[int][]Finding{}
	var roots []int
	for i, f := range fs {
		r := find(i)
		if _, ok := groups[r]; !ok {
			roots = append(roots, r)
		}
		groups[r] = append(groups[r], f)
	}
	var out []Finding
	for _, r := range roots {
		g := groups[r]
		sort.Slice(g, func(i, j int) bool { return g[i].ID < g[j].ID })
		m := g[0]
		all := map[string]bool{}
		fixed := map[string]bool{}
		var records []string
		for _, f := range g {
			records = append(records, f.ID)
			for _, n := range names(f) {
				all[n] = true
			}
			for _, v := range f.Fixed {
				fixed[v] = true
			}
			if f.Severity > m.Severity {
				m.Severity, m.SeveritySource = f.Severity, f.SeveritySource
			}
			if m.Summary == "" {
				m.Summary = f.Summary
			}
		}
		id := m.ID
		var cves []string
		for n := range all {
			if strings.HasPrefix(n, "CVE-") {
				cves = append(cves, n)
			}
		}
		sort.Strings(cves)
		if len(cves) > 0 {
			id = cves[0]
		}
		m.ID = id
		m.Aliases = nil
		for n := range all {
			if n != id {
				m.Aliases = append(m.Aliases, n)
			}
		}
		sort.Strings(m.Aliases)
		m.Records = records
		m.Fixed = m.Fixed[:0:0]
		for v := range fixed {
			m.Fixed = append(m.Fixed, v)
		}
		cmp := orderingFor("ECOSYSTEM", m.Ecosystem)
		sort.Slice(m.Fixed, func(i, j int) bool { c, _ := cmp(m.Fixed[i], m.Fixed[j]); return c < 0 })
		out = append(out, m)
	}
	return out
}

// ErrThreshold is wrapped by the error AtOrAbove returns when findings
// reach the threshold; the CLI maps it to its own exit code.
var ErrThreshold = errors.New("findings at or above the severity threshold")

// AtOrAbove returns the findings whose severity is at least threshold, and
// an error wrapping ErrThreshold when there are any. Findings of unknown
// severity count only when threshold is Unknown ("any finding").
func (r *Report) AtOrAbove(threshold Severity) ([]Finding, error) {
	var out []Finding
	for _, f := range r.Findings {
		if threshold == Unknown || f.Severity != Unknown && f.Severity >= threshold {
			out = append(out, f)
		}
	}
	if len(out) == 0 {
		return nil, nil
	}
	what := threshold.String()
	if threshold == Unknown {
		what = "any"
	}
	return out, fmt.Errorf("%d finding(s) at or above %s: %w", len(out), what, ErrThreshold)
}
