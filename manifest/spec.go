package manifest

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"

	"sigs.k8s.io/yaml"

	"github.com/satchel-dev/satchel/component"
)

// APIVersion is the only apiVersion this release reads.
const APIVersion = "satchel/v1"

// Known component names. Each has a catalog entry in package profiles.
var KnownComponents = component.Names()

// KnownPlatforms are the platforms a bundle may carry.
var KnownPlatforms = component.Platforms

// Spec is bundle.yaml: what a user asks to carry.
type Spec struct {
	APIVersion string     `json:"apiVersion" yaml:"apiVersion"`
	Kind       string     `json:"kind" yaml:"kind"`
	Metadata   Metadata   `json:"metadata" yaml:"metadata"`
	Spec       BundleSpec `json:"spec" yaml:"spec"`
}

// Metadata names a bundle. Bundles of one name form a series ordered by Sequence.
type Metadata struct {
	Name     string `json:"name" yaml:"name"`
	Version  string `json:"version" yaml:"version"`
	Sequence uint64 `json:"sequence" yaml:"sequence"`
}

// BundleSpec lists components and images; Profile supplies defaults.
type BundleSpec struct {
	Profile    string          `json:"profile,omitempty" yaml:"profile,omitempty"`
	Platforms  []string        `json:"platforms,omitempty" yaml:"platforms,omitempty"`
	Components []ComponentSpec `json:"components,omitempty" yaml:"components,omitempty"`
	Images     []ImageSpec     `json:"images,omitempty" yaml:"images,omitempty"`
}

// ComponentSpec selects a component version; Sources override the catalog per platform.
type ComponentSpec struct {
	Name    string            `json:"name" yaml:"name"`
	Version string            `json:"version,omitempty" yaml:"version,omitempty"`
	Variant string            `json:"variant,omitempty" yaml:"variant,omitempty"`
	Sources map[string]Source `json:"sources,omitempty" yaml:"sources,omitempty"`
	// Versions name the release a platform carries where it is not Version
	// (kata-static 3.1.3 has no arm64 build: linux/arm64 carries 3.2.0).
	// The catalog URL, the pins and the notes then follow that release.
	Versions map[string]string `json:"versions,omitempty" yaml:"versions,omitempty"`
	// Platforms, when set, are the only platforms the component ships for:
	// the bundle's other platforms carry none of it.
	Platforms []string `json:"platforms,omitempty" yaml:"platforms,omitempty"`
	// Exclude drops a component the profile would otherwise bring.
	Exclude bool `json:"exclude,omitempty" yaml:"exclude,omitempty"`
}

// Source is where one platform's artifact comes from.
type Source struct {
	URL    string `json:"url" yaml:"url"`
	Digest Digest `json:"digest,omitempty" yaml:"digest,omitempty"`
}

// ImageSpec is an OCI image to carry.
type ImageSpec struct {
	Ref    string `json:"ref" yaml:"ref"`
	Digest Digest `json:"digest,omitempty" yaml:"digest,omitempty"`
	// Role marks the image's job on the host: "sandbox" for the pause image
	// (becomes containerd's sandbox image and is pinned).
	Role string `json:"role,omitempty" yaml:"role,omitempty"`
}

var nameRE = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// ReadSpecFile reads and validates bundle.yaml.
func ReadSpecFile(path string) (*Spec, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, HintError(fmt.Errorf("reading spec: %w", err),
			"write one with `satchel-bundle init --profile kylin-v10 -o bundle.yaml`, or pass -f FILE")
	}
	s, err := ParseSpec(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return s, nil
}

// ParseSpec decodes YAML strictly (unknown fields are errors, versions are
// read as written; see DecodeYAML) and validates it.
func ParseSpec(b []byte) (*Spec, error) {
	var s Spec
	if err := DecodeYAML("bundle spec", b, &s); err != nil {
		return nil, err
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &s, nil
}

// Marshal encodes the spec as YAML.
func (s *Spec) Marshal() ([]byte, error) { return yaml.Marshal(s) }

// Validate checks every field and reports all problems at once, each naming
// its field and the fix.
func (s *Spec) Validate() error {
	var errs []error
	bad := func(field, hint, format string, args ...any) {
		errs = append(errs, HintError(fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)), hint))
	}
	if s.APIVersion != APIVersion {
		bad("apiVersion", "set `apiVersion: "+APIVersion+"`", "is %q, want %q", s.APIVersion, APIVersion)
	}
	if s.Kind != "Bundle" {
		bad("kind", "set `kind: Bundle`", "is %q, want \"Bundle\"", s.Kind)
	}
	if !nameRE.MatchString(s.Metadata.Name) {
		bad("metadata.name", "use lower-case letters, digits, '-' and '.', e.g. kylin-runtimes", "%q is not a valid bundle name", s.Metadata.Name)
	}
	if s.Metadata.Version == "" {
		bad("metadata.version", "set a version people read, e.g. 2025.04.0", "is empty")
	}
	if s.Metadata.Sequence == 0 {
		bad("metadata.sequence", "set a positive integer and raise it with every release of this bundle name (anti-downgrade compares it)", "must be at least 1")
	}
	if s.Spec.Profile == "" && len(s.Spec.Platforms) == 0 {
		bad("spec.platforms", "list platforms, e.g. [linux/amd64, linux/arm64], or name a profile", "is empty and no profile is named")
	}
	for i, p := range s.Spec.Platforms {
		if !slices.Contains(KnownPlatforms, p) {
			bad(fmt.Sprintf("spec.platforms[%d]", i), "use one of "+strings.Join(KnownPlatforms, ", "), "unknown platform %q", p)
		}
	}
	seen := map[string]bool{}
	for i, c := range s.Spec.Components {
		f := fmt.Sprintf("spec.components[%d]", i)
		if !slices.Contains(KnownComponents, c.Name) {
			bad(f+".name", "use one of "+strings.Join(KnownComponents, ", "), "unknown component %q", c.Name)
		}
		if seen[c.Name] {
			bad(f+".name", "list each component once", "component %q appears twice", c.Name)
		}
		seen[c.Name] = true
		if c.Version == "" && s.Spec.Profile == "" && !c.Exclude {
			bad(f+".version", "set the version, or name a profile that supplies it", "is empty")
		}
		for p, v := range c.Versions {
			vf := fmt.Sprintf("%s.versions[%s]", f, p)
			if !slices.Contains(KnownPlatforms, p) {
				bad(vf, "use one of "+strings.Join(KnownPlatforms, ", "), "unknown platform %q", p)
			}
			if _, err := component.ParseVersion(c.Name, v); err != nil && slices.Contains(KnownComponents, c.Name) {
				errs = append(errs, fmt.Errorf("%s: %w", vf, err))
			}
		}
		for j, p := range c.Platforms {
			if !slices.Contains(KnownPlatforms, p) {
				bad(fmt.Sprintf("%s.platforms[%d]", f, j), "use one of "+strings.Join(KnownPlatforms, ", "), "unknown platform %q", p)
			}
		}
		for p, src := range c.Sources {
			sf := fmt.Sprintf("%s.sources[%s]", f, p)
			if !slices.Contains(KnownPlatforms, p) {
				bad(sf, "use one of "+strings.Join(KnownPlatforms, ", "), "unknown platform %q", p)
			}
			if !strings.HasPrefix(src.URL, "https://") && !strings.HasPrefix(src.URL, "http://") {
				bad(sf+".url", "give an http(s) URL; use --mirror to redirect it", "%q is not an http(s) URL", src.URL)
			}
			if src.Digest != "" {
				if _, err := ParseDigest(string(src.Digest)); err != nil {
					errs = append(errs, fmt.Errorf("%s.digest: %w", sf, err))
				}
			}
		}
	}
	for i, im := range s.Spec.Images {
		f := fmt.Sprintf("spec.images[%d]", i)
		if im.Ref == "" {
			bad(f+".ref", "give a full reference, e.g. docker.io/library/nginx:1.27.4", "is empty")
		}
		if im.Digest != "" {
			if _, err := ParseDigest(string(im.Digest)); err != nil {
				errs = append(errs, fmt.Errorf("%s.digest: %w", f, err))
			}
		}
		if im.Role != "" && im.Role != "sandbox" {
			bad(f+".role", `the only role is "sandbox" (the pause image)`, "unknown role %q", im.Role)
		}
	}
	return errors.Join(errs...)
}
