// Package diff compares two bundle indexes: what a reviewer who approved
// the old bundle needs to see before approving the new one. Components and
// their versions, each artifact's upstream URL and digest and the files it
// installs, images with their digests and platforms, compatibility notes,
// and the bundle's own name, version, sequence, platforms and requirements.
// It reads only the indexes, which name every byte of a bundle by digest.
package diff

import (
	"fmt"
	"io"
	"reflect"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/manifest"
)

// Kinds of change.
const (
	Added   = "added"
	Removed = "removed"
	Changed = "changed"
)

// Result is the difference between two bundles.
type Result struct {
	Old        Summary           `json:"old"`
	New        Summary           `json:"new"`
	Bundle     []FieldChange     `json:"bundle"`
	Components []ComponentChange `json:"components"`
	Images     []ImageChange     `json:"images"`
	Notes      []NoteChange      `json:"notes"`
	// Configs are the configuration files and units the installer would
	// write differently on a fresh host (Bundles; empty from Indexes).
	Configs []ConfigChange `json:"configs"`
	// Findings are the known vulnerabilities that appear or disappear
	// (AddFindings); nil when no vulnerability database was given.
	Findings []FindingChange `json:"findings,omitempty"`
}

// ConfigChange is a configuration file or unit an apply of the new bundle
// would write with other content than one of the old (or only one of them
// writes), per platform, with a unified diff.
type ConfigChange struct {
	Platform string `json:"platform"`
	Path     string `json:"path"`
	Change   string `json:"change"`
	Diff     string `json:"diff"`
}

// Summary identifies a bundle.
type Summary struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Sequence    uint64          `json:"sequence"`
	Created     string          `json:"created"`
	IndexDigest manifest.Digest `json:"indexDigest"`
}

// FieldChange is a changed bundle-level field.
type FieldChange struct {
	Field string `json:"field"`
	Old   string `json:"old"`
	New   string `json:"new"`
}

// ComponentChange is a component added, removed, or changed (version,
// variant, or any artifact).
type ComponentChange struct {
	Name       string           `json:"name"`
	Change     string           `json:"change"`
	OldVersion string           `json:"oldVersion,omitempty"`
	NewVersion string           `json:"newVersion,omitempty"`
	OldVariant string           `json:"oldVariant,omitempty"`
	NewVariant string           `json:"newVariant,omitempty"`
	Artifacts  []ArtifactChange `json:"artifacts,omitempty"`
}

// ArtifactChange is one upstream artifact (a component's file for a
// platform) added, removed or changed.
type ArtifactChange struct {
	Platform  string          `json:"platform"`
	Change    string          `json:"change"`
	OldURL    string          `json:"oldURL,omitempty"`
	NewURL    string          `json:"newURL,omitempty"`
	OldDigest manifest.Digest `json:"oldDigest,omitempty"`
	NewDigest manifest.Digest `json:"newDigest,omitempty"`
	Files     []FileChange    `json:"files,omitempty"`
}

// FileChange is an installed file added, removed, or with other content,
// mode or link target.
type FileChange struct {
	Path   string `json:"path"`
	Change string `json:"change"`
	Old    string `json:"old,omitempty"` // digest, or "-> target" for a symlink, with the mode
	New    string `json:"new,omitempty"`
}

// ImageChange is an image added, removed, or with another digest or platforms.
type ImageChange struct {
	Ref          string          `json:"ref"`
	Change       string          `json:"change"`
	OldDigest    manifest.Digest `json:"oldDigest,omitempty"`
	NewDigest    manifest.Digest `json:"newDigest,omitempty"`
	OldPlatforms []string        `json:"oldPlatforms,omitempty"`
	NewPlatforms []string        `json:"newPlatforms,omitempty"`
}

// NoteChange is a compatibility note that appears, disappears or says
// something else.
type NoteChange struct {
	ID     string         `json:"id"`
	Change string         `json:"change"`
	Old    *manifest.Note `json:"old,omitempty"`
	New    *manifest.Note `json:"new,omitempty"`
}

// Empty reports whether the bundles carry the same things.
func (r *Result) Empty() bool {
	return len(r.Bundle)+len(r.Components)+len(r.Images)+len(r.Notes)+len(r.Configs)+len(r.Findings) == 0
}

// Indexes compares two indexes.
func Indexes(oldIx, newIx *manifest.Index) (*Result, error) {
	r := &Result{Bundle: []FieldChange{}, Components: []ComponentChange{}, Images: []ImageChange{}, Notes: []NoteChange{}, Configs: []ConfigChange{}}
	var err error
	if r.Old, err = summarize(oldIx); err != nil {
		return nil, err
	}
	if r.New, err = summarize(newIx); err != nil {
		return nil, err
	}
	field := func(name, o, n string) {
		if o != n {
			r.Bundle = append(r.Bundle, FieldChange{name, o, n})
		}
	}
	field("name", oldIx.Name, newIx.Name)
	field("version", oldIx.Version, newIx.Version)
	field("sequence", fmt.Sprint(oldIx.Sequence), fmt.Sprint(newIx.Sequence))
	field("profile", oldIx.Profile, newIx.Profile)
	field("platforms", strings.Join(oldIx.Platforms, ","), strings.Join(newIx.Platforms, ","))
	field("requirements.installer", oldIx.Requirements.Installer, newIx.Requirements.Installer)
	field("requirements.minKernel", oldIx.Requirements.MinKernel, newIx.Requirements.MinKernel)
	field("formatVersion", fmt.Sprint(oldIx.FormatVersion), fmt.Sprint(newIx.FormatVersion))

	for _, name := range unionNames(componentNames(oldIx), componentNames(newIx)) {
		oc, _ := oldIx.Component(name)
		nc, _ := newIx.Component(name)
		if c, ok := components(name, oc, nc); ok {
			r.Components = append(r.Components, c)
		}
	}
	r.Images = images(oldIx.Images, newIx.Images)
	r.Notes = notes(oldIx.Notes, newIx.Notes)
	return r, nil
}

func summarize(ix *manifest.Index) (Summary, error) {
	b, err := ix.Encode()
	if err != nil {
		return Summary{}, err
	}
	return Summary{Name: ix.Name, Version: ix.Version, Sequence: ix.Sequence,
		Created: ix.Created.UTC().Format("2006-01-02T15:04:05Z"), IndexDigest: manifest.DigestOf(manifest.SHA256, b)}, nil
}

func componentNames(ix *manifest.Index) []string {
	var out []string
	for _, c := range ix.Components {
		out = append(out, c.Name)
	}
	return out
}

// unionNames keeps the old order, then names new in the new bundle.
func unionNames(a, b []string) []string {
	out := slices.Clone(a)
	for _, n := range b {
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return out
}

func components(name string, oc, nc *manifest.Component) (ComponentChange, bool) {
	switch {
	case oc == nil:
		return ComponentChange{Name: name, Change: Added, NewVersion: nc.Version, NewVariant: nc.Variant, Artifacts: artifacts(nil, nc.Artifacts)}, true
	case nc == nil:
		return ComponentChange{Name: name, Change: Removed, OldVersion: oc.Version, OldVariant: oc.Variant, Artifacts: artifacts(oc.Artifacts, nil)}, true
	}
	c := ComponentChange{Name: name, Change: Changed, OldVersion: oc.Version, NewVersion: nc.Version,
		OldVariant: oc.Variant, NewVariant: nc.Variant, Artifacts: artifacts(oc.Artifacts, nc.Artifacts)}
	if oc.Version == nc.Version && oc.Variant == nc.Variant && len(c.Artifacts) == 0 {
		return ComponentChange{}, false
	}
	return c, true
}

// artifacts pairs a component's artifacts by platform and position within
// the platform (gVisor ships runsc and its shim as two artifacts).
func artifacts(olds, news []manifest.Artifact) []ArtifactChange {
	key := func(list []manifest.Artifact) (map[string]manifest.Artifact, []string) {
		m := map[string]manifest.Artifact{}
		var order []string
		n := map[string]int{}
		for _, a := range list {
			k := fmt.Sprintf("%s#%d", a.Platform, n[a.Platform])
			n[a.Platform]++
			m[k] = a
			order = append(order, k)
		}
		return m, order
	}
	om, oorder := key(olds)
	nm, norder := key(news)
	var out []ArtifactChange
	for _, k := range unionNames(oorder, norder) {
		o, inOld := om[k]
		n, inNew := nm[k]
		switch {
		case !inOld:
			out = append(out, ArtifactChange{Platform: n.Platform, Change: Added, NewURL: n.URL, NewDigest: n.Digest, Files: files(nil, n.Files)})
		case !inNew:
			out = append(out, ArtifactChange{Platform: o.Platform, Change: Removed, OldURL: o.URL, OldDigest: o.Digest, Files: files(o.Files, nil)})
		default:
			fc := files(o.Files, n.Files)
			if o.URL == n.URL && o.Digest == n.Digest && len(fc) == 0 {
				continue
			}
			out = append(out, ArtifactChange{Platform: o.Platform, Change: Changed, OldURL: o.URL, NewURL: n.URL, OldDigest: o.Digest, NewDigest: n.Digest, Files: fc})
		}
	}
	return out
}

func fileValue(f manifest.File) string {
	if f.Type == manifest.TypeSymlink {
		return "-> " + f.Target
	}
	return fmt.Sprintf("%s %04o", f.Digest, f.Mode)
}

// matched calls each with the old and new element of every key, in the
// old list's order and then the new-only keys' (nil where a side has none).
func matched[T any](olds, news []T, key func(T) string, each func(k string, o, n *T)) {
	index := func(list []T) (map[string]*T, []string) {
		m := map[string]*T{}
		var order []string
		for i := range list {
			k := key(list[i])
			m[k] = &list[i]
			order = append(order, k)
		}
		return m, order
	}
	om, order := index(olds)
	nm, norder := index(news)
	for _, k := range unionNames(order, norder) {
		each(k, om[k], nm[k])
	}
}

func files(olds, news []manifest.File) []FileChange {
	var out []FileChange
	matched(olds, news, func(f manifest.File) string { return f.Path }, func(p string, o, n *manifest.File) {
		switch {
		case o == nil:
			out = append(out, FileChange{Path: p, Change: Added, New: fileValue(*n)})
		case n == nil:
			out = append(out, FileChange{Path: p, Change: Removed, Old: fileValue(*o)})
		case fileValue(*o) != fileValue(*n):
			out = append(out, FileChange{Path: p, Change: Changed, Old: fileValue(*o), New: fileValue(*n)})
		}
	})
	return out
}

func images(olds, news []manifest.Image) []ImageChange {
	out := []ImageChange{}
	matched(olds, news, func(im manifest.Image) string { return im.Ref }, func(ref string, o, n *manifest.Image) {
		switch {
		case o == nil:
			out = append(out, ImageChange{Ref: ref, Change: Added, NewDigest: n.Digest, NewPlatforms: n.Platforms})
		case n == nil:
			out = append(out, ImageChange{Ref: ref, Change: Removed, OldDigest: o.Digest, OldPlatforms: o.Platforms})
		case o.Digest != n.Digest || !slices.Equal(o.Platforms, n.Platforms):
			out = append(out, ImageChange{Ref: ref, Change: Changed, OldDigest: o.Digest, NewDigest: n.Digest, OldPlatforms: o.Platforms, NewPlatforms: n.Platforms})
		}
	})
	return out
}

func noteKey(n manifest.Note) string { return n.ID + "|" + n.Component + "|" + n.Platform }

func notes(olds, news []manifest.Note) []NoteChange {
	out := []NoteChange{}
	matched(olds, news, noteKey, func(_ string, o, n *manifest.Note) {
		// Copies: a change does not point into the indexes.
		switch {
		case o == nil:
			nc := *n
			out = append(out, NoteChange{ID: nc.ID, Change: Added, New: &nc})
		case n == nil:
			oc := *o
			out = append(out, NoteChange{ID: oc.ID, Change: Removed, Old: &oc})
		case !reflect.DeepEqual(*o, *n):
			oc, nc := *o, *n
			out = append(out, NoteChange{ID: oc.ID, Change: Changed, Old: &oc, New: &nc})
		}
	})
	return out
}

var sign = map[string]string{Added: "+", Removed: "-", Changed: "~"}

// WriteText writes the difference for people: one line per change, "+"
// added, "-" removed, "~" changed, indented under what it belongs to.
func (r *Result) WriteText(w io.Writer) {
	fmt.Fprintf(w, "old  %s %s (sequence %d), created %s, satchel.json %s\n", r.Old.Name, r.Old.Version, r.Old.Sequence, r.Old.Created, r.Old.IndexDigest)
	fmt.Fprintf(w, "new  %s %s (sequence %d), created %s, satchel.json %s\n", r.New.Name, r.New.Version, r.New.Sequence, r.New.Created, r.New.IndexDigest)
	if r.Empty() {
		fmt.Fprintln(w, "\nno differences in components, artifacts, images, notes or configurations")
		r.writeFindings(w)
		return
	}
	if len(r.Bundle) > 0 {
		fmt.Fprintln(w, "\nbundle:")
		for _, f := range r.Bundle {
			fmt.Fprintf(w, "  ~ %s: %s -> %s\n", f.Field, orNone(f.Old), orNone(f.New))
		}
	}
	if len(r.Components) > 0 {
		fmt.Fprintln(w, "\ncomponents:")
		for _, c := range r.Components {
			switch c.Change {
			case Added:
				fmt.Fprintf(w, "  + %s %s\n", c.Name, withVariant(c.NewVersion, c.NewVariant))
			case Removed:
				fmt.Fprintf(w, "  - %s %s\n", c.Name, withVariant(c.OldVersion, c.OldVariant))
			default:
				if c.OldVersion != c.NewVersion || c.OldVariant != c.NewVariant {
					fmt.Fprintf(w, "  ~ %s %s -> %s\n", c.Name, withVariant(c.OldVersion, c.OldVariant), withVariant(c.NewVersion, c.NewVariant))
				} else {
					fmt.Fprintf(w, "  ~ %s %s (same version, other artifacts)\n", c.Name, c.OldVersion)
				}
			}
			for _, a := range c.Artifacts {
				fmt.Fprintf(w, "      %s %s\n", sign[a.Change], a.Platform)
				if a.OldURL != a.NewURL || a.Change != Changed {
					if a.OldURL != "" {
						fmt.Fprintf(w, "          - %s\n", a.OldURL)
					}
					if a.NewURL != "" {
						fmt.Fprintf(w, "          + %s\n", a.NewURL)
					}
				}
				if a.OldDigest != a.NewDigest {
					if a.OldDigest != "" {
						fmt.Fprintf(w, "          - %s\n", a.OldDigest)
					}
					if a.NewDigest != "" {
						fmt.Fprintf(w, "          + %s\n", a.NewDigest)
					}
				}
				for _, f := range a.Files {
					fmt.Fprintf(w, "          %s %s\n", sign[f.Change], f.Path)
				}
			}
		}
	}
	if len(r.Images) > 0 {
		fmt.Fprintln(w, "\nimages:")
		for _, im := range r.Images {
			fmt.Fprintf(w, "  %s %s\n", sign[im.Change], im.Ref)
			if im.OldDigest != im.NewDigest {
				if im.OldDigest != "" {
					fmt.Fprintf(w, "      - %s\n", im.OldDigest)
				}
				if im.NewDigest != "" {
					fmt.Fprintf(w, "      + %s\n", im.NewDigest)
				}
			}
			if !slices.Equal(im.OldPlatforms, im.NewPlatforms) {
				fmt.Fprintf(w, "      platforms %s -> %s\n", orNone(strings.Join(im.OldPlatforms, ",")), orNone(strings.Join(im.NewPlatforms, ",")))
			}
		}
	}
	if len(r.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range r.Notes {
			note := n.New
			if note == nil {
				note = n.Old
			}
			fmt.Fprintf(w, "  %s [%s] %s: %s\n", sign[n.Change], note.Severity, n.ID, note.Text)
			if n.Change == Changed {
				fmt.Fprintf(w, "      was [%s] %s\n", n.Old.Severity, n.Old.Text)
			}
		}
	}
	r.writeFindings(w)
	if len(r.Configs) > 0 {
		fmt.Fprintln(w, "\nconfigurations the installer writes (on a fresh host, default options):")
		for _, c := range r.Configs {
			fmt.Fprintf(w, "  %s %s (%s)\n", sign[c.Change], c.Path, c.Platform)
			for _, l := range strings.Split(strings.TrimRight(c.Diff, "\n"), "\n") {
				if l != "" {
					fmt.Fprintf(w, "      %s\n", l)
				}
			}
		}
	}
}

func withVariant(v, variant string) string {
	if variant != "" {
		return v + " " + variant
	}
	return v
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// Counts returns how many components, images and notes changed, for a summary line.
func (r *Result) Counts() (components, images, notes int) {
	return len(r.Components), len(r.Images), len(r.Notes)
}
