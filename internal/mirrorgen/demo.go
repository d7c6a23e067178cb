package mirrorgen

import (
	"maps"
	"slices"

	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/profiles"
)

// DemoProfile is the profile DemoSpec copies its versions from.
const DemoProfile = "kylin-v10"

// DemoSpec returns the spec for demos and tests against a generated site:
// the component versions (and per-platform versions), variants, component
// platforms, per-platform source overrides, platforms and images of
// kylin-v10, but no profile
// and no digests. Stand-in files cannot match the profile's real pins; with
// none given, lock takes each digest from the site's checksum files or, for
// Docker and kata (which publish none), from the download, and each image's
// from the registry it was pushed to.
func DemoSpec() *manifest.Spec {
	p, err := profiles.Get(DemoProfile)
	if err != nil {
		panic(err) // a built-in profile; its tests guarantee it loads
	}
	s := &manifest.Spec{
		APIVersion: manifest.APIVersion,
		Kind:       "Bundle",
		Metadata:   manifest.Metadata{Name: "satchel-demo", Version: "0.1.0-demo", Sequence: 1},
		Spec:       manifest.BundleSpec{Platforms: p.Platforms},
	}
	for _, c := range p.Components {
		cs := manifest.ComponentSpec{Name: c.Name, Version: c.Version, Variant: c.Variant,
			Versions: maps.Clone(c.Versions), Platforms: slices.Clone(c.Platforms)}
		for pl, src := range c.Sources {
			if cs.Sources == nil {
				cs.Sources = map[string]manifest.Source{}
			}
			cs.Sources[pl] = manifest.Source{URL: src.URL}
		}
		s.Spec.Components = append(s.Spec.Components, cs)
	}
	for _, im := range p.Images {
		s.Spec.Images = append(s.Spec.Images, manifest.ImageSpec{Ref: im.Ref, Role: im.Role})
	}
	return s
}
