package fetch

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// Mirror rewrites a prefix: a URL prefix for HTTP artifacts
// ("https://github.com" → "http://nexus.internal/github"), or a registry host
// with an optional repository path for images ("docker.io" →
// "harbor.internal/dockerhub"). A prefix matches only at a path boundary, so
// "https://github.com" does not match "https://github.com.evil.example/".
// When several mirrors match, the longest From wins.
type Mirror struct {
	From, To string
}

// String returns the mirror as the command line writes it, "FROM=TO".
func (m Mirror) String() string { return m.From + "=" + m.To }

// ParseMirror parses "FROM=TO" as given to --mirror or --registry-mirror.
func ParseMirror(s string) (Mirror, error) {
	from, to, ok := strings.Cut(s, "=")
	m := Mirror{From: strings.TrimSpace(from), To: strings.TrimSpace(to)}
	if !ok {
		return Mirror{}, manifest.Hintf(`write it as FROM=TO, e.g. https://github.com=http://nexus.internal/github or docker.io=harbor.internal/dockerhub`,
			"mirror %q: no '='", s)
	}
	if err := m.validate(); err != nil {
		return Mirror{}, err
	}
	return m, nil
}

func (m Mirror) validate() error {
	bad := func(format string, args ...any) error {
		return manifest.HintError(fmt.Errorf("mirror %q: %s", m.String(), fmt.Sprintf(format, args...)),
			`write it as FROM=TO, e.g. https://github.com=http://nexus.internal/github or docker.io=harbor.internal/dockerhub`)
	}
	if m.From == "" || m.To == "" {
		return bad("FROM and TO must both be given")
	}
	if strings.ContainsAny(m.From+m.To, " \t\r\n") {
		return bad("contains white space")
	}
	fromURL, toURL := strings.Contains(m.From, "://"), strings.Contains(m.To, "://")
	if fromURL != toURL {
		return bad("FROM and TO must both be URLs (with http:// or https://) or both registry hosts")
	}
	if fromURL {
		for _, s := range []string{m.From, m.To} {
			u, err := url.Parse(s)
			if err != nil {
				return bad("%v", err)
			}
			if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
				return bad("%q is not an http(s) URL with a host", s)
			}
			if u.RawQuery != "" || u.Fragment != "" {
				return bad("%q: a prefix cannot have a query or fragment", s)
			}
		}
	}
	return nil
}

// isURLMirror tells URL mirrors (--mirror) from registry mirrors.
func (m Mirror) isURLMirror() bool { return strings.Contains(m.From, "://") }

// rewriteURL applies the longest matching URL mirror to u.
func rewriteURL(mirrors []Mirror, u string) (string, *Mirror) {
	var best *Mirror
	var bestFrom string
	for i := range mirrors {
		m := &mirrors[i]
		if !m.isURLMirror() {
			continue
		}
		from := strings.TrimRight(m.From, "/")
		if prefixAtBoundary(u, from, "/?#") && len(from) > len(bestFrom) {
			best, bestFrom = m, from
		}
	}
	if best == nil {
		return u, nil
	}
	return strings.TrimRight(best.To, "/") + u[len(bestFrom):], best
}

// prefixAtBoundary reports whether s starts with prefix followed by the end
// of s or by one of the boundary characters.
func prefixAtBoundary(s, prefix, boundary string) bool {
	if !strings.HasPrefix(s, prefix) {
		return false
	}
	return len(s) == len(prefix) || strings.ContainsRune(boundary, rune(s[len(prefix)]))
}

// via describes where a URL was fetched from, for error messages: the
// original URL, and the rewritten one with its mirror when a mirror applied.
func via(orig, rewritten string, m *Mirror) string {
	if m == nil {
		return orig
	}
	return fmt.Sprintf("%s (via mirror %s: %s)", orig, m, rewritten)
}

// mirrorHint finishes a hint with which mirror was in use.
func mirrorHint(m *Mirror) string {
	if m == nil {
		return "no mirror is in use for this URL (--mirror FROM=TO redirects it)"
	}
	return fmt.Sprintf("mirror in use: %s; check that it serves this path", m)
}
