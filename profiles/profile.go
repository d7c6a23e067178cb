package profiles

import (
	"embed"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

//go:embed data/*.yaml
var profileFiles embed.FS

// Profile is a built-in, tested set of component versions with their pins.
type Profile struct {
	Name        string `json:"name" yaml:"name"`
	Description string `json:"description" yaml:"description"`
	// Platforms a bundle from this profile carries unless the spec says otherwise.
	Platforms []string `json:"platforms" yaml:"platforms"`
	// Components name each component's version (and variant). Sources, where
	// present, replace the catalog URL for a platform while the component stays
	// at this version and variant (kylin-v10's kata on arm64).
	Components []manifest.ComponentSpec `json:"components" yaml:"components"`
	Images     []manifest.ImageSpec     `json:"images,omitempty" yaml:"images,omitempty"`
	// MinKernel is the lowest kernel the profile was chosen for.
	MinKernel string `json:"minKernel,omitempty" yaml:"minKernel,omitempty"`
	// Pins are the digests the profile vouches for, by artifact URL. A pin
	// with an empty digest marks an artifact whose upstream publishes no
	// checksum and that nobody pinned publicly: lock resolves it, and From
	// says so.
	Pins []Pin `json:"pins,omitempty" yaml:"pins,omitempty"`
	// Notes are carried into bundles made from the profile (untested
	// platforms and the like).
	Notes []Note `json:"notes,omitempty" yaml:"notes,omitempty"`
}

// Pin is one artifact digest with where it was copied from.
type Pin struct {
	URL    string          `json:"url" yaml:"url"`
	Digest manifest.Digest `json:"digest,omitempty" yaml:"digest,omitempty"`
	From   string          `json:"from" yaml:"from"`
}

// Note is a profile note or an advisory (advisories.yaml). Version or
// Affected, when set, limit it to those releases of Component, evaluated
// per artifact against the artifact's own release: a note about kata 3.1.3
// says nothing about the kata a spec chooses instead, nor about the 3.2.0
// another platform carries. Affected lists ranges such as
// ">= 1.3.0-rc.1, < 1.3.3"; a release in any of them is affected.
//
// The embedded note's Version, in a profile, is the one release the note is
// about; in a resolved note, the release it was found to hold for.
type Note struct {
	manifest.Note `yaml:",inline"`
	Affected      []string `json:"affected,omitempty" yaml:"affected,omitempty"`
}

// profileFile is the on-disk form: a Profile with a format header.
type profileFile struct {
	APIVersion string `json:"apiVersion" yaml:"apiVersion"`
	Kind       string `json:"kind" yaml:"kind"`
	Profile    `yaml:",inline"`
}

var loadProfiles = sync.OnceValues(func() (map[string]*Profile, error) {
	entries, err := profileFiles.ReadDir("data")
	if err != nil {
		return nil, err
	}
	out := map[string]*Profile{}
	for _, e := range entries {
		b, err := profileFiles.ReadFile("data/" + e.Name())
		if err != nil {
			return nil, err
		}
		p, err := parseProfile(b)
		if err != nil {
			return nil, fmt.Errorf("built-in profile %s: %w", e.Name(), err)
		}
		if want := strings.TrimSuffix(e.Name(), ".yaml"); p.Name != want {
			return nil, fmt.Errorf("built-in profile %s: name %q does not match its file name", e.Name(), p.Name)
		}
		out[p.Name] = p
	}
	return out, nil
})

// parseProfile decodes a profile file strictly and checks it.
func parseProfile(b []byte) (*Profile, error) {
	var f profileFile
	if err := manifest.DecodeYAML("profile", b, &f); err != nil {
		return nil, err
	}
	if f.APIVersion != manifest.APIVersion || f.Kind != "Profile" {
		return nil, fmt.Errorf("apiVersion %q kind %q, want %s Profile", f.APIVersion, f.Kind, manifest.APIVersion)
	}
	p := f.Profile
	return &p, p.validate()
}

func (p *Profile) validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if p.Name == "" {
		bad("name is empty")
	}
	if len(p.Platforms) == 0 {
		bad("platforms is empty")
	}
	for _, pl := range p.Platforms {
		if !slices.Contains(manifest.KnownPlatforms, pl) {
			bad("unknown platform %q", pl)
		}
	}
	seen := map[string]bool{}
	for _, c := range p.Components {
		if !knownComponent(c.Name) || seen[c.Name] {
			bad("component %q unknown or listed twice", c.Name)
		}
		seen[c.Name] = true
		if _, err := component.ParseVersion(c.Name, c.Version); err != nil {
			errs = append(errs, err)
		}
		if c.Exclude {
			bad("component %s: exclude has no meaning in a profile", c.Name)
		}
		for pl, s := range c.Sources {
			if !slices.Contains(p.Platforms, pl) || !strings.HasPrefix(s.URL, "https://") {
				bad("component %s: source for %q must be a listed platform with an https URL", c.Name, pl)
			}
		}
		for pl, v := range c.Versions {
			if !slices.Contains(p.Platforms, pl) {
				bad("component %s: versions names %q, which the profile does not list", c.Name, pl)
			}
			if _, err := component.ParseVersion(c.Name, v); err != nil {
				errs = append(errs, err)
			}
		}
		for _, pl := range c.Platforms {
			if !slices.Contains(p.Platforms, pl) {
				bad("component %s: platforms names %q, which the profile does not list", c.Name, pl)
			}
		}
	}
	for _, pin := range p.Pins {
		if pin.Digest != "" {
			if _, err := manifest.ParseDigest(string(pin.Digest)); err != nil {
				errs = append(errs, fmt.Errorf("pin %s: %w", pin.URL, err))
			}
		}
		if pin.From == "" {
			bad("pin %s: from is empty (say where the digest was copied from)", pin.URL)
		}
	}
	for _, im := range p.Images {
		if im.Digest != "" {
			if _, err := manifest.ParseDigest(string(im.Digest)); err != nil {
				errs = append(errs, fmt.Errorf("image %s: %w", im.Ref, err))
			}
		}
	}
	for _, n := range p.Notes {
		if err := n.validate(); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func profiles() map[string]*Profile {
	m, err := loadProfiles()
	if err != nil {
		// The files are compiled in and checked by the tests: a failure here
		// is a broken build, not a user error.
		panic(err)
	}
	return m
}

// List returns the built-in profiles sorted by name. Each call returns fresh
// copies, so callers may change them.
func List() []*Profile {
	m := profiles()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]*Profile, 0, len(names))
	for _, n := range names {
		out = append(out, m[n].clone())
	}
	return out
}

// Names returns the built-in profile names, sorted.
func Names() []string {
	var out []string
	for _, p := range List() {
		out = append(out, p.Name)
	}
	return out
}

// Get returns a copy of the named built-in profile.
func Get(name string) (*Profile, error) {
	p, ok := profiles()[name]
	if !ok {
		return nil, manifest.Hintf("use one of: "+strings.Join(Names(), ", ")+" (`satchel-bundle profiles` lists them), or leave the profile out and list every component",
			"unknown profile %q", name)
	}
	return p.clone(), nil
}

// Pin returns the profile's digest for an artifact URL ("" when it pins none).
func (p *Profile) Pin(url string) (manifest.Digest, bool) {
	for _, c := range p.Components {
		for _, s := range c.Sources {
			if s.URL == url && s.Digest != "" {
				return s.Digest, true
			}
		}
	}
	for _, pin := range p.Pins {
		if pin.URL == url && pin.Digest != "" {
			return pin.Digest, true
		}
	}
	return "", false
}

// Component returns the profile's entry for a component.
func (p *Profile) Component(name string) (manifest.ComponentSpec, bool) {
	for _, c := range p.Components {
		if c.Name == name {
			return c, true
		}
	}
	return manifest.ComponentSpec{}, false
}

func (p *Profile) clone() *Profile {
	c := *p
	c.Platforms = slices.Clone(p.Platforms)
	c.Components = make([]manifest.ComponentSpec, len(p.Components))
	for i, comp := range p.Components {
		comp.Sources = cloneSources(comp.Sources)
		comp.Versions = maps.Clone(comp.Versions)
		comp.Platforms = slices.Clone(comp.Platforms)
		c.Components[i] = comp
	}
	c.Images = slices.Clone(p.Images)
	c.Pins = slices.Clone(p.Pins)
	c.Notes = slices.Clone(p.Notes)
	return &c
}

func cloneSources(m map[string]manifest.Source) map[string]manifest.Source {
	if m == nil {
		return nil
	}
	out := make(map[string]manifest.Source, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}
