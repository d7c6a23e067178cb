// Package component is the registry of what satchel knows about each
// component it carries: one Descriptor per component, in one table, that
// the builder, the planner, preflight and doctor iterate over instead of
// naming components themselves.
package component

import (
	"fmt"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/internal/fault"
)

// Names of the known components, as bundle.yaml and satchel.json write them.
const (
	Containerd = "containerd"
	Runc       = "runc"
	Docker     = "docker"
	Gvisor     = "gvisor"
	Kata       = "kata"
	Nerdctl    = "nerdctl"
	Crictl     = "crictl"
	CNI        = "cni"
	BuildKit   = "buildkit"
)

// Runtime names: containerd's runtime handler, Docker's runtime name and
// the Kubernetes RuntimeClass handler are the same word.
const (
	RuntimeRunc  = "runc"
	RuntimeRunsc = "runsc"
	RuntimeKata  = "kata"
)

// Unit names of the services satchel writes.
const (
	ContainerdService = "containerd.service"
	DockerService     = "docker.service"
	BuildKitService   = "buildkit.service"
)

// Descriptor is everything satchel knows about one component: what the
// builder fetches and how, what the installer writes and starts, what the
// host must offer. Each component has one, in a file of its own.
type Descriptor struct {
	Name string
	// Summary says what it is, for listings.
	Summary string
	// Project is its upstream project: license, homepage, Go module.
	Project Project

	// Optional: a profile may leave it out; a spec names it to carry it.
	Optional bool
	// Requires names the components it cannot work without. Selecting it
	// selects them (see Closure).
	Requires []string
	// Runtime is the OCI runtime it provides to containerd, Docker and
	// Kubernetes ("" for none).
	Runtime string
	// Service is the systemd unit satchel writes, enables and starts for it
	// ("" for none).
	Service string
	// Restarts are the services to restart when its files change: they
	// load it at start.
	Restarts []string
	// Networks: it puts containers on networks of its own, which needs the
	// host to forward IPv4 (net.ipv4.ip_forward=1).
	Networks bool
	// Modules are the kernel modules it needs on the host.
	Modules []Module
	// HostTools are the programs it runs on the host that a bundle cannot
	// carry (preflight reports each one missing, with the reason).
	HostTools []HostTool

	// DatedReleases: versions are yyyymmdd.N (gVisor), not x.y.z.
	DatedReleases bool
	// Variants are the builds upstream publishes of a release (the first is
	// the usual one); DefaultVariant picks one for a version (nil: none).
	Variants       []string
	DefaultVariant func(v Version) string
	// URLs returns a release's artifacts for a platform.
	URLs func(v Version, variant, platform string) ([]Artifact, error)
	// FromSource returns the artifacts of a source URL given in a spec
	// (nil: that URL alone).
	FromSource func(url string) []Artifact
	// Checksum names the checksum file upstream publishes beside an
	// artifact (nil: none; lock pins the download and says so).
	Checksum func(url string) ChecksumRef
	// Binary: the artifacts are programs, not archives.
	Binary bool
	// Files says which files of an artifact go where; have reports the
	// other components of the bundle.
	Files func(artifact, url string, have func(string) bool) ([]FileRule, []Link)
	// Completions are the bash completions its tools print.
	Completions []Completion
}

// HostTool is a program of the host a component runs, and why.
type HostTool struct {
	Name string
	Why  string
}

// NeedsHostTool reports why a component runs a host program ("" when it
// does not).
func (d *Descriptor) NeedsHostTool(name string) string {
	for _, t := range d.HostTools {
		if t.Name == name {
			return t.Why
		}
	}
	return ""
}

// ArtifactsFor returns the release's artifacts for a platform, or those a
// source URL names when source is not empty.
func (d *Descriptor) ArtifactsFor(v Version, variant, platform, source string) ([]Artifact, error) {
	switch {
	case source != "" && d.FromSource != nil:
		return d.FromSource(source), nil
	case source != "":
		return one(d.Name, source), nil
	case d.URLs == nil:
		return nil, fault.Remedyf("pin the artifact URL under the component's sources for each platform", "%s: no upstream URL pattern is known", d.Name)
	}
	return d.URLs(v, variant, platform)
}

// ChecksumFor names the checksum file beside an artifact.
func (d *Descriptor) ChecksumFor(url string) ChecksumRef {
	if d.Checksum == nil {
		return ChecksumRef{}
	}
	return d.Checksum(url)
}

// ArchiveKind tells how an artifact is packed.
func (d *Descriptor) ArchiveKind(url string) (string, error) {
	if d.Binary {
		return ArchiveBinary, nil
	}
	return archiveFromURL(d.Name, url)
}

// FileRules says which files of an artifact go where.
func (d *Descriptor) FileRules(artifact, url string, have func(string) bool) ([]FileRule, []Link) {
	if d.Files == nil {
		return nil, nil
	}
	return d.Files(artifact, url, have)
}

// registry lists the descriptors in install order: a component comes
// after what it requires. Each is defined in the component's own file.
// (Filled in init: the descriptors' functions parse versions, which looks
// the registry up.)
var registry []*Descriptor

func init() {
	registry = []*Descriptor{&runc, &containerd, &gvisor, &kata, &docker, &nerdctl, &crictl, &cni, &buildkit}
}

// All returns every descriptor in install order.
func All() []*Descriptor { return slices.Clone(registry) }

// Names returns every known component name in install order.
func Names() []string {
	out := make([]string, len(registry))
	for i, d := range registry {
		out[i] = d.Name
	}
	return out
}

// Lookup returns the descriptor of a component.
func Lookup(name string) (*Descriptor, bool) {
	i := slices.IndexFunc(registry, func(d *Descriptor) bool { return d.Name == name })
	if i < 0 {
		return nil, false
	}
	return registry[i], true
}

// CompletionsOf lists the bash completions a component's tools print.
func CompletionsOf(name string) []Completion {
	if d, ok := Lookup(name); ok {
		return d.Completions
	}
	return nil
}

// Known reports whether name is a known component.
func Known(name string) bool { _, ok := Lookup(name); return ok }

// ByRuntime returns the component that provides a runtime.
func ByRuntime(runtime string) (*Descriptor, bool) {
	i := slices.IndexFunc(registry, func(d *Descriptor) bool { return d.Runtime == runtime })
	if i < 0 {
		return nil, false
	}
	return registry[i], true
}

// Added is a component a selection gained because another needs it.
type Added struct {
	Name string `json:"name"`
	// By names the component that needs it.
	By string `json:"by"`
}

// MissingError reports that a selected component needs one that is not
// available.
type MissingError struct {
	Component, Needs string
}

func (e *MissingError) Error() string {
	return fmt.Sprintf("%s needs %s, which is not available", e.Component, e.Needs)
}

// Closure returns the selection with everything it needs added, in
// install order, and what was added and why. available says which
// components can be had (for example: those in the bundle for this
// platform); a need that is not available is a *MissingError.
func Closure(selected []string, available func(string) bool) ([]string, []Added, error) {
	in := map[string]bool{}
	var added []Added
	var visit func(name, by string) error
	visit = func(name, by string) error {
		if in[name] {
			return nil
		}
		if !available(name) {
			if by == "" {
				return &MissingError{Component: name, Needs: name}
			}
			return &MissingError{Component: by, Needs: name}
		}
		in[name] = true
		if by != "" {
			added = append(added, Added{Name: name, By: by})
		}
		if d, ok := Lookup(name); ok {
			for _, r := range d.Requires {
				if err := visit(r, name); err != nil {
					return err
				}
			}
		}
		return nil
	}
	for _, s := range selected {
		if err := visit(s, ""); err != nil {
			return nil, nil, err
		}
	}
	var out []string
	for _, d := range registry {
		if in[d.Name] {
			out = append(out, d.Name)
		}
	}
	// Unknown names keep their place at the end (the index may carry
	// components a newer satchel knows).
	for _, s := range selected {
		if !Known(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out, added, nil
}

// Describe lists names for messages: "a, b and c".
func Describe(names []string) string {
	switch len(names) {
	case 0:
		return "nothing"
	case 1:
		return names[0]
	}
	return strings.Join(names[:len(names)-1], ", ") + " and " + names[len(names)-1]
}
