package profiles

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// Resolved is a spec with its profile applied: every component with its
// upstream artifacts per platform, ready for lock and build.
type Resolved struct {
	Name       string               `json:"name"`
	Version    string               `json:"version"`
	Sequence   uint64               `json:"sequence"`
	Profile    string               `json:"profile,omitempty"`
	Platforms  []string             `json:"platforms"`
	MinKernel  string               `json:"minKernel,omitempty"`
	Components []ResolvedComponent  `json:"components"`
	Images     []manifest.ImageSpec `json:"images"`
	Notes      []manifest.Note      `json:"notes,omitempty"`
}

// ResolvedComponent is one component version with its artifacts.
type ResolvedComponent struct {
	Name      string             `json:"name"`
	Version   string             `json:"version"`
	Variant   string             `json:"variant,omitempty"`
	Artifacts []ResolvedArtifact `json:"artifacts"`
	// Absent lists the bundle's platforms the component does not ship for
	// (its platforms field leaves them out): they carry none of it.
	Absent []string `json:"absent,omitempty"`
}

// ResolvedArtifact is one upstream file for one platform. Name tells a
// component's artifacts apart where a platform has several (gVisor: "runsc"
// and "containerd-shim-runsc-v1"); elsewhere it is the component name.
type ResolvedArtifact struct {
	Name     string `json:"name"`
	Platform string `json:"platform"`
	// Version is the upstream release the artifact is: the component's,
	// or the one its versions field names for this platform.
	Version string `json:"version"`
	URL     string `json:"url"`
	// Digest is empty when neither the spec nor the profile pins the
	// artifact; lock then takes it from Checksum or from the download.
	Digest       manifest.Digest       `json:"digest,omitempty"`
	DigestSource string                `json:"digestSource,omitempty"` // manifest.DigestFromSpec or DigestFromProfile
	Checksum     component.ChecksumRef `json:"checksum"`
	Archive      string                `json:"archive"`
	Files        []component.FileRule  `json:"files"`
	Links        []component.Link      `json:"links,omitempty"`
}

// Component returns the resolved component by name.
func (r *Resolved) Component(name string) (*ResolvedComponent, bool) {
	for i := range r.Components {
		if r.Components[i].Name == name {
			return &r.Components[i], true
		}
	}
	return nil, false
}

// Versions returns component name → version, the input of CompatNotes.
func (r *Resolved) Versions() map[string]string {
	m := map[string]string{}
	for _, c := range r.Components {
		m[c.Name] = c.Version
		if c.Variant != "" {
			m[c.Name] = c.Version + "+" + c.Variant
		}
	}
	return m
}

// wanted is one component after the spec has been laid over the profile.
type wanted struct {
	name, version, variant string
	field                  string // where the version was set, for errors
	sources                map[string]manifest.Source
	specSource             map[string]bool // platform → the source came from the spec
	versions               map[string]string
	specVersion            map[string]bool // platform → the version came from the spec
	platforms              []string
}

// Resolve applies spec to its profile and the catalog.
//
// Rules: the spec's platforms replace the profile's. A spec component replaces
// the profile's version and variant (each only when given) and may add
// per-platform sources and versions; `exclude: true` drops it. The profile's
// own sources and per-platform versions apply only while the component keeps
// the profile's version and variant, because they pin that release. A
// component's platforms (the spec's, else the profile's) limit where it
// ships. Notes (the profile's, compatibility and advisories) are evaluated
// per artifact against the artifact's own release. Digests come
// from the spec's sources, else from the profile's pins by URL (so a pin
// follows its bytes, whatever put the URL there), else stay empty for lock.
// Spec images replace profile images of the same ref (a digest-less
// replacement keeps the profile's digest) or a profile image of the same
// role; the rest are added.
func Resolve(spec *manifest.Spec) (*Resolved, error) {
	if spec == nil {
		return nil, errors.New("resolving: no spec")
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	prof := &Profile{}
	if spec.Spec.Profile != "" {
		p, err := Get(spec.Spec.Profile)
		if err != nil {
			return nil, fmt.Errorf("spec.profile: %w", err)
		}
		prof = p
	}
	r := &Resolved{
		Name:      spec.Metadata.Name,
		Version:   spec.Metadata.Version,
		Sequence:  spec.Metadata.Sequence,
		Profile:   spec.Spec.Profile,
		Platforms: slices.Clone(spec.Spec.Platforms),
		MinKernel: prof.MinKernel,
	}
	if len(r.Platforms) == 0 {
		r.Platforms = slices.Clone(prof.Platforms)
	}

	ws, errs := mergeComponents(prof, spec)
	have := func(name string) bool {
		return slices.ContainsFunc(ws, func(w *wanted) bool { return w.name == name })
	}
	for _, w := range ws {
		c, err := resolveComponent(prof, w, r.Platforms, have)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		r.Components = append(r.Components, c)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	r.Images = mergeImages(prof.Images, spec.Spec.Images)

	r.Notes = append(r.Notes, r.releaseNotes(prof.Notes)...)
	for _, c := range r.Components {
		for _, pl := range c.Absent {
			r.Notes = append(r.Notes, manifest.Note{ID: c.Name + "-platforms", Platform: pl, Severity: "info",
				Text: fmt.Sprintf("%s is not in this bundle for %s: it ships for %s only, so a %s host gets none of it.", c.Name, pl, strings.Join(c.platforms(), ", "), pl)})
		}
	}
	if have("docker") {
		if !have("containerd") {
			r.Notes = append(r.Notes, manifest.Note{ID: "docker-bundled-containerd", Component: "docker", Severity: "info",
				Text: "No containerd component: Docker's bundled containerd, ctr and containerd-shim-runc-v2 are installed from the Docker archive."})
		}
		if !have("runc") {
			r.Notes = append(r.Notes, manifest.Note{ID: "docker-bundled-runc", Component: "docker", Severity: "info",
				Text: "No runc component: Docker's bundled runc is installed from the Docker archive."})
		}
	}
	r.Notes = append(r.Notes, r.compatNotes()...)
	r.Notes = append(r.Notes, r.releaseNotes(Advisories())...)
	return r, nil
}

// platforms lists the platforms the component has artifacts for.
func (c *ResolvedComponent) platforms() []string {
	var out []string
	for _, a := range c.Artifacts {
		if !slices.Contains(out, a.Platform) {
			out = append(out, a.Platform)
		}
	}
	return out
}

// versionOn returns the release the component carries for a platform
// ("" when it carries none there).
func (c *ResolvedComponent) versionOn(platform string) string {
	for _, a := range c.Artifacts {
		if a.Platform == platform {
			return a.Version
		}
	}
	return ""
}

// releaseNotes evaluates notes per artifact: a note about a component
// holds on each platform whose artifact release it names (Version,
// Affected). A note that holds alike on every platform the component
// ships for is given once; otherwise once per platform, naming it.
func (r *Resolved) releaseNotes(notes []Note) []manifest.Note {
	var out []manifest.Note
	for _, n := range notes {
		if n.Component == "" {
			if n.Platform == "" || slices.Contains(r.Platforms, n.Platform) {
				out = append(out, n.Note)
			}
			continue
		}
		c, ok := r.Component(n.Component)
		if !ok {
			continue
		}
		shipped := c.platforms()
		byVersion := map[string][]string{}
		var order []string
		for _, pl := range shipped {
			v := c.versionOn(pl)
			if n.Platform != "" && n.Platform != pl || !n.appliesTo(v) {
				continue
			}
			if _, ok := byVersion[v]; !ok {
				order = append(order, v)
			}
			byVersion[v] = append(byVersion[v], pl)
		}
		for _, v := range order {
			rn := releaseNote(n, v)
			pls := byVersion[v]
			if len(pls) == len(shipped) {
				out = append(out, rn)
				continue
			}
			for _, pl := range pls {
				rn.Platform = pl
				out = append(out, rn)
			}
		}
	}
	return out
}

// compatNotes evaluates the compatibility rules per platform, among the
// releases that platform carries; a note found alike on every platform is
// given once, others name their platform.
func (r *Resolved) compatNotes() []manifest.Note {
	type found struct {
		n         manifest.Note
		platforms []string
	}
	var all []*found
	for _, pl := range r.Platforms {
		var cs []compVersion
		for _, c := range r.Components {
			raw := c.versionOn(pl)
			if raw == "" {
				continue
			}
			v, err := component.ParseVersion(c.Name, raw)
			if err != nil {
				continue // Resolve has already refused it
			}
			cs = append(cs, compVersion{name: c.Name, variant: c.Variant, v: v, raw: raw})
		}
		for _, n := range compatNotes(cs) {
			i := slices.IndexFunc(all, func(f *found) bool { return f.n.ID == n.ID && f.n.Text == n.Text })
			if i < 0 {
				all = append(all, &found{n: n})
				i = len(all) - 1
			}
			all[i].platforms = append(all[i].platforms, pl)
		}
	}
	var out []manifest.Note
	for _, f := range all {
		if len(f.platforms) == len(r.Platforms) {
			out = append(out, f.n)
			continue
		}
		for _, pl := range f.platforms {
			n := f.n
			n.Platform = pl
			out = append(out, n)
		}
	}
	return out
}

// mergeComponents lays the spec's components over the profile's, in the
// canonical order of manifest.KnownComponents.
func mergeComponents(prof *Profile, spec *manifest.Spec) ([]*wanted, []error) {
	var errs []error
	byName := map[string]*wanted{}
	for _, c := range prof.Components {
		byName[c.Name] = &wanted{
			name: c.Name, version: c.Version, variant: c.Variant,
			field:      fmt.Sprintf("profile %s: component %s", prof.Name, c.Name),
			specSource: map[string]bool{}, specVersion: map[string]bool{},
			platforms: slices.Clone(c.Platforms),
		}
	}
	for i, c := range spec.Spec.Components {
		f := fmt.Sprintf("spec.components[%d]", i)
		if c.Exclude {
			delete(byName, c.Name)
			continue
		}
		w, ok := byName[c.Name]
		if !ok {
			if c.Version == "" {
				errs = append(errs, manifest.Hintf("set the version of "+c.Name,
					"%s.version: is empty, and profile %q does not bring %s", f, prof.Name, c.Name))
				continue
			}
			w = &wanted{name: c.Name, specSource: map[string]bool{}, specVersion: map[string]bool{}}
			byName[c.Name] = w
		}
		if len(c.Platforms) > 0 {
			w.platforms = slices.Clone(c.Platforms)
		}
		for pl, v := range c.Versions {
			if w.versions == nil {
				w.versions = map[string]string{}
			}
			w.versions[pl] = v
			w.specVersion[pl] = true
		}
		if c.Version != "" {
			w.version, w.field = c.Version, f
		}
		if c.Variant != "" {
			w.variant = c.Variant
		}
		for pl, s := range c.Sources {
			if w.sources == nil {
				w.sources = map[string]manifest.Source{}
			}
			w.sources[pl] = s
			w.specSource[pl] = true
		}
	}
	var out []*wanted
	for _, name := range manifest.KnownComponents {
		w, ok := byName[name]
		if !ok {
			continue
		}
		// The profile's sources pin the profile's release: keep them only
		// while the component is still that release.
		if pc, ok := prof.Component(name); ok && pc.Version == w.version && pc.Variant == w.variant {
			for pl, s := range pc.Sources {
				if !w.specSource[pl] {
					if w.sources == nil {
						w.sources = map[string]manifest.Source{}
					}
					w.sources[pl] = s
				}
			}
			for pl, v := range pc.Versions {
				if !w.specVersion[pl] {
					if w.versions == nil {
						w.versions = map[string]string{}
					}
					w.versions[pl] = v
				}
			}
		}
		out = append(out, w)
	}
	return out, errs
}

func resolveComponent(prof *Profile, w *wanted, platforms []string, have func(string) bool) (ResolvedComponent, error) {
	d, err := descriptor(w.name)
	if err != nil {
		return ResolvedComponent{}, fmt.Errorf("%s: %w", w.field, err)
	}
	v, err := component.ParseVersion(w.name, w.version)
	if err != nil {
		return ResolvedComponent{}, fmt.Errorf("%s.version: %w", w.field, err)
	}
	vs := d.Variants
	switch {
	case w.variant == "" && d.DefaultVariant != nil:
		w.variant = d.DefaultVariant(v)
	case w.variant == "":
	case len(vs) == 0:
		return ResolvedComponent{}, manifest.Hintf("remove the variant; only containerd has variants (static, dynamic)",
			"%s.variant: %s has no variants, got %q", w.field, w.name, w.variant)
	case !slices.Contains(vs, w.variant):
		return ResolvedComponent{}, manifest.Hintf("use one of: "+strings.Join(vs, ", "),
			"%s.variant: unknown %s variant %q", w.field, w.name, w.variant)
	}
	c := ResolvedComponent{Name: w.name, Version: w.version, Variant: w.variant}
	var errs []error
	for _, pl := range platforms {
		if len(w.platforms) > 0 && !slices.Contains(w.platforms, pl) {
			c.Absent = append(c.Absent, pl)
			continue
		}
		pv, raw := v, w.version
		if vs, ok := w.versions[pl]; ok {
			if pv, err = component.ParseVersion(w.name, vs); err != nil {
				errs = append(errs, fmt.Errorf("%s.versions[%s]: %w", w.field, pl, err))
				continue
			}
			raw = vs
		}
		src, hasSrc := w.sources[pl]
		urls, err := d.ArtifactsFor(pv, w.variant, pl, src.URL)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", w.field, pl, err))
			continue
		}
		for i, u := range urls {
			a := ResolvedArtifact{Name: u.Name, Platform: pl, Version: raw, URL: u.URL, Checksum: d.ChecksumFor(u.URL)}
			if a.Archive, err = d.ArchiveKind(u.URL); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %w", w.field, pl, err))
				continue
			}
			a.Files, a.Links = d.FileRules(u.Name, u.URL, have)
			switch {
			case i == 0 && hasSrc && w.specSource[pl] && src.Digest != "":
				a.Digest, a.DigestSource = src.Digest, manifest.DigestFromSpec
			default:
				if pd, ok := prof.Pin(u.URL); ok {
					a.Digest, a.DigestSource = pd, manifest.DigestFromProfile
				}
			}
			c.Artifacts = append(c.Artifacts, a)
		}
	}
	return c, errors.Join(errs...)
}

// mergeImages lays spec images over profile images.
func mergeImages(prof, spec []manifest.ImageSpec) []manifest.ImageSpec {
	out := slices.Clone(prof)
	for _, im := range spec {
		i := slices.IndexFunc(out, func(p manifest.ImageSpec) bool { return p.Ref == im.Ref })
		if i < 0 && im.Role != "" {
			i = slices.IndexFunc(out, func(p manifest.ImageSpec) bool { return p.Role == im.Role })
		}
		if i < 0 {
			out = append(out, im)
			continue
		}
		if out[i].Ref == im.Ref {
			if im.Digest == "" {
				im.Digest = out[i].Digest
			}
			if im.Role == "" {
				im.Role = out[i].Role
			}
		}
		out[i] = im
	}
	return out
}
