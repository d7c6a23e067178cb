package component

import (
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/fault"
)

func TestVersionCompare(t *testing.T) {
	for _, tt := range []struct {
		a, b string
		want int
	}{
		{"1.2.6", "1.2.6", 0},
		{"1.2.6", "1.2.8", -1},
		{"1.10.0", "1.9.9", 1},
		{"1.4.0-rc.3", "1.4.0", -1},
		{"1.4.0-rc.3", "1.4.0-rc.10", -1},
		{"1.4.0-rc.10", "1.4.0-rc.10.1", -1},
		{"1.4.0-rc.1", "1.4.0-beta.2", 1},
		{"1.4.0-1", "1.4.0-alpha", -1},
		{"20250331.0", "20260817.0", -1},
	} {
		a, b := mustVersion(tt.a), mustVersion(tt.b)
		if got := a.Compare(b); got != tt.want {
			t.Errorf("%s vs %s = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := b.Compare(a); got != -tt.want {
			t.Errorf("%s vs %s = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
	if !mustVersion("1.4.3").AtLeast("1.4.0-rc.3") || mustVersion("1.2.6").AtLeast("1.2.8") {
		t.Error("AtLeast")
	}
}

func TestParseVersionExplains(t *testing.T) {
	for _, tt := range []struct{ component, v, remedy string }{
		{Runc, "v1.2.6", "drop the leading"},
		{Gvisor, "1.2.3", "20250331.0"},
		{Containerd, "", "e.g. 2.0.4"},
		{Containerd, "2.0", "e.g. 2.0.4"},
	} {
		_, err := ParseVersion(tt.component, tt.v)
		if err == nil {
			t.Errorf("%s %q parsed", tt.component, tt.v)
			continue
		}
		if !strings.Contains(fault.Remedy(err), tt.remedy) {
			t.Errorf("%s %q: remedy %q lacks %q", tt.component, tt.v, fault.Remedy(err), tt.remedy)
		}
	}
	if _, err := ParseVersion(Gvisor, "20260817.0"); err != nil {
		t.Error(err)
	}
}

// The registry is consistent: names unique, every requirement known and
// installed before what needs it, every descriptor complete enough for the
// builder (URLs for both platforms, file rules, a project for the SBOM).
func TestRegistryIsConsistent(t *testing.T) {
	seen := map[string]int{}
	for i, d := range All() {
		if _, dup := seen[d.Name]; dup {
			t.Errorf("%s registered twice", d.Name)
		}
		seen[d.Name] = i
		if d.Summary == "" || d.Project.Homepage == "" || d.Project.License == "" {
			t.Errorf("%s: summary %q, project %+v", d.Name, d.Summary, d.Project)
		}
		for _, r := range d.Requires {
			j, ok := seen[r]
			if !ok {
				t.Errorf("%s requires %s, which is not registered before it", d.Name, r)
			} else if j >= i {
				t.Errorf("%s comes before its requirement %s", d.Name, r)
			}
		}
		if d.Runtime != "" {
			if got, ok := ByRuntime(d.Runtime); !ok || got.Name != d.Name {
				t.Errorf("ByRuntime(%s) = %v", d.Runtime, got)
			}
		}
		version := "3.7.0" // kata publishes arm64 from 3.2.0
		if d.DatedReleases {
			version = "20260817.0"
		}
		v, err := ParseVersion(d.Name, version)
		if err != nil {
			t.Fatal(err)
		}
		variant := ""
		if d.DefaultVariant != nil {
			variant = d.DefaultVariant(v)
		}
		for _, platform := range Platforms {
			arts, err := d.ArtifactsFor(v, variant, platform, "")
			if err != nil || len(arts) == 0 {
				t.Errorf("%s %s: %v %v", d.Name, platform, arts, err)
				continue
			}
			for _, a := range arts {
				if !strings.HasPrefix(a.URL, "https://") || !strings.Contains(a.URL, version) {
					t.Errorf("%s %s: URL %s", d.Name, platform, a.URL)
				}
				if _, err := d.ArchiveKind(a.URL); err != nil {
					t.Errorf("%s: %v", d.Name, err)
				}
				rules, _ := d.FileRules(a.Name, a.URL, func(string) bool { return true })
				if len(rules) == 0 {
					t.Errorf("%s %s: no file rules", d.Name, a.URL)
				}
				for _, r := range rules {
					if !strings.HasPrefix(r.Target, "/usr/local/") && !strings.HasPrefix(r.Target, "/opt/") {
						t.Errorf("%s: rule %+v leaves the bundle's lanes", d.Name, r)
					}
				}
			}
		}
	}
	if !reflect.DeepEqual(Names(), func() []string {
		var n []string
		for _, d := range All() {
			n = append(n, d.Name)
		}
		return n
	}()) {
		t.Error("Names and All disagree")
	}
}

func TestClosure(t *testing.T) {
	all := func(string) bool { return true }
	got, added, err := Closure([]string{Docker}, all)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(got, Containerd) || !slices.Contains(got, Runc) {
		t.Errorf("docker alone: %v", got)
	}
	if len(added) == 0 || added[0].By == "" {
		t.Errorf("added %+v", added)
	}
	// Install order, whatever the selection order.
	got, _, _ = Closure([]string{Crictl, Gvisor, Runc}, all)
	for i := 1; i < len(got); i++ {
		a, _ := Lookup(got[i-1])
		b, _ := Lookup(got[i])
		if slices.Index(Names(), a.Name) > slices.Index(Names(), b.Name) {
			t.Errorf("order %v", got)
		}
	}
	// A need that cannot be had.
	_, _, err = Closure([]string{BuildKit}, func(n string) bool { return n != Containerd })
	var missing *MissingError
	if !errors.As(err, &missing) || missing.Component != BuildKit || missing.Needs != Containerd {
		t.Errorf("err %v", err)
	}
	// Every component alone closes over what it needs.
	for _, d := range All() {
		got, _, err := Closure([]string{d.Name}, all)
		if err != nil {
			t.Errorf("%s: %v", d.Name, err)
		}
		for _, r := range d.Requires {
			if !slices.Contains(got, r) {
				t.Errorf("%s alone: %v lacks %s", d.Name, got, r)
			}
		}
	}
}

func TestFileRuleMatch(t *testing.T) {
	r := FileRule{Source: "opt/kata/**", Target: "/opt/kata"}
	for name, want := range map[string]string{
		"./opt/kata/bin/kata-runtime": "/opt/kata/bin/kata-runtime",
		"opt/kata":                    "/opt/kata",
		"opt/katax/bin":               "",
		"../opt/kata/x":               "/opt/kata/x",
	} {
		got, ok := r.Match(name)
		if ok != (want != "") || got != want {
			t.Errorf("Match(%q) = %q %v, want %q", name, got, ok, want)
		}
	}
}
