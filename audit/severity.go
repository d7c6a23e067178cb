package audit

import (
	"fmt"
	"math"
	"strings"
)

// Severity is a finding's rating, ordered.
type Severity int

// Ratings, lowest first. Unknown: the record carries no rating satchel can
// read (the Go vulnerability database rates nothing; CVSS v4 vectors are
// not scored here).
const (
	Unknown Severity = iota
	Low
	Medium
	High
	Critical
)

func (s Severity) String() string {
	return [...]string{"unknown", "low", "medium", "high", "critical"}[s]
}

// MarshalText writes the lower-case name.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// ParseSeverity reads a rating: low, medium (or GitHub's moderate), high,
// critical; case does not matter.
func ParseSeverity(s string) (Severity, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "low":
		return Low, nil
	case "medium", "moderate":
		return Medium, nil
	case "high":
		return High, nil
	case "critical":
		return Critical, nil
	}
	return Unknown, fmt.Errorf("unknown severity %q: use low, medium, high or critical", s)
}

// rate returns an entry's severity and where it came from: GitHub's
// database_specific.severity when present, else the highest CVSS v3 base
// score of the entry or the matching affected[] item.
func rate(e *Entry, a *Affected) (Severity, string) {
	if s, err := ParseSeverity(e.DatabaseSpecific.Severity); err == nil {
		src := "GitHub rating " + strings.ToUpper(e.DatabaseSpecific.Severity)
		for _, sc := range e.Severity {
			src += "; " + sc.Score
		}
		return s, src
	}
	best, src := Unknown, ""
	scores := append(append([]Score(nil), e.Severity...), a.Severity...)
	for _, sc := range scores {
		if sc.Type != "CVSS_V3" {
			if src == "" {
				src = sc.Score + " (not scored here)"
			}
			continue
		}
		score, err := CVSS3BaseScore(sc.Score)
		if err != nil {
			continue
		}
		if s := cvssRating(score); s > best || best == Unknown {
			best, src = s, fmt.Sprintf("CVSS %.1f %s", score, sc.Score)
		}
	}
	return best, src
}

// cvssRating is the CVSS v3.1 qualitative rating (specification, section
// 5): 0.1-3.9 low, 4.0-6.9 medium, 7.0-8.9 high, 9.0-10.0 critical.
func cvssRating(score float64) Severity {
	switch {
	case score >= 9.0:
		return Critical
	case score >= 7.0:
		return High
	case score >= 4.0:
		return Medium
	case score > 0:
		return Low
	}
	return Unknown
}

// CVSS3BaseScore computes the base score of a CVSS v3.0/v3.1 vector with
// the formulas and weights of the CVSS v3.1 specification (FIRST, section
// 7.1 and 7.4; Roundup as in Appendix A).
func CVSS3BaseScore(vector string) (float64, error) {
	parts := strings.Split(vector, "/")
	if len(parts) == 0 || !strings.HasPrefix(parts[0], "CVSS:3.") {
		return 0, fmt.Errorf("%q is not a CVSS v3 vector", vector)
	}
	m := map[string]string{}
	for _, p := range parts[1:] {
		k, v, ok := strings.Cut(p, ":")
		if !ok {
			return 0, fmt.Errorf("%q: bad metric %q", vector, p)
		}
		m[k] = v
	}
	weight := func(metric string, table map[string]float64) (float64, error) {
		w, ok := table[m[metric]]
		if !ok {
			return 0, fmt.Errorf("%q: metric %s is %q", vector, metric, m[metric])
		}
		return w, nil
	}
	changed := m["S"] == "C"
	if m["S"] != "U" && !changed {
		return 0, fmt.Errorf("%q: metric S is %q", vector, m["S"])
	}
	pr := map[string]float64{"N": 0.85, "L": 0.62, "H": 0.27}
	if changed {
		pr = map[string]float64{"N": 0.85, "L": 0.68, "H": 0.5}
	}
	cia := map[string]float64{"H": 0.56, "L": 0.22, "N": 0}
	var w [7]float64
	var err error
	for i, x := range []struct {
		metric string
		table  map[string]float64
	}{
		{"AV", map[string]float64{"N": 0.85, "A": 0.62, "L": 0.55, "P": 0.2}},
		{"AC", map[string]float64{"L": 0.77, "H": 0.44}},
		{"PR", pr},
		{"UI", map[string]float64{"N": 0.85, "R": 0.62}},
		{"C", cia}, {"I", cia}, {"A", cia},
	} {
		if w[i], err = weight(x.metric, x.table); err != nil {
			return 0, err
		}
	}
	iss := 1 - (1-w[4])*(1-w[5])*(1-w[6])
	var impact float64
	if changed {
		impact = 7.52*(iss-0.029) - 3.25*math.Pow(iss-0.02, 15)
	} else {
		impact = 6.42 * iss
	}
	exploitability := 8.22 * w[0] * w[1] * w[2] * w[3]
	if impact <= 0 {
		return 0, nil
	}
	if changed {
		return roundup(math.Min(1.08*(impact+exploitability), 10)), nil
	}
	return roundup(math.Min(impact+exploitability, 10)), nil
}

// roundup is CVSS v3.1's Roundup: the smallest number with one decimal
// place not below x, computed on integers to avoid floating-point error.
func roundup(x float64) float64 {
	i := int64(math.Round(x * 100000))
	if i%10000 == 0 {
		return float64(i) / 100000
	}
	return float64(i/10000+1) / 10
}
