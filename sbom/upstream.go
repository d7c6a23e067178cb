package sbom

import (
	"net/url"
	"strings"

	"github.com/satchel-dev/satchel/component"
)

// Upstream is what satchel knows about a component's project: the license
// it declares and the Go module its release binaries are built from. The
// facts live in the component's descriptor (component.Project).
type Upstream = component.Project

// LookupUpstream returns what satchel knows about a component's project
// ("cni-plugins" is the CNI component's older name).
func LookupUpstream(name string) (Upstream, bool) {
	if name == "cni-plugins" {
		name = component.CNI
	}
	d, ok := component.Lookup(name)
	if !ok || d.Project.Homepage == "" {
		return Upstream{}, false
	}
	return d.Project, true
}

// ComponentModule returns the Go module path and module version that a
// component's release version is tagged as (see component.Project.Module).
func ComponentModule(name, version string) (path, modVersion string, ok bool) {
	u, found := LookupUpstream(name)
	if !found {
		return "", "", false
	}
	return u.Module(version)
}

// golangPURL is pkg:golang/<module path>@<version> (purl-spec's golang type:
// the namespace and name are the module path).
func golangPURL(path, version string) string {
	return "pkg:golang/" + purlPath(path) + "@" + url.PathEscape(version)
}

func purlPath(p string) string {
	parts := strings.Split(p, "/")
	for i, s := range parts {
		parts[i] = url.PathEscape(s)
	}
	return strings.Join(parts, "/")
}

func purlRef(locator string) ExternalRef {
	return ExternalRef{ReferenceCategory: "PACKAGE-MANAGER", ReferenceType: "purl", ReferenceLocator: locator}
}

// purlQualifiers encodes qualifiers sorted by key, as purl-spec asks.
func purlQualifiers(kv ...string) string {
	type q struct{ k, v string }
	var qs []q
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			qs = append(qs, q{kv[i], kv[i+1]})
		}
	}
	for i := 1; i < len(qs); i++ {
		for j := i; j > 0 && qs[j].k < qs[j-1].k; j-- {
			qs[j], qs[j-1] = qs[j-1], qs[j]
		}
	}
	var b strings.Builder
	for i, x := range qs {
		if i == 0 {
			b.WriteByte('?')
		} else {
			b.WriteByte('&')
		}
		b.WriteString(x.k + "=" + url.QueryEscape(x.v))
	}
	return b.String()
}
