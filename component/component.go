// Package component is the registry of what satchel knows about each
// component it carries: one Descriptor per component, in one table, that
// the builder, the planner, preflight and doctor iterate over instead of
// naming components themselves.
package component

import (
	"fmt"
	"slices"
	"strings"
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

// Descriptor is everything satchel knows about one component.
type Descriptor struct {
	Name string
	// Summary says what it is, for listings.
	Summary string
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
}

// registry lists the descriptors in install order: a component comes
// after what it requires.
var registry = []*Descriptor{
	{Name: Runc, Summary: "the reference OCI runtime", Runtime: RuntimeRunc, Restarts: []string{ContainerdService}},
	{Name: Containerd, Summary: "container daemon with the CRI plugin", Requires: []string{Runc}, Service: ContainerdService, Restarts: []string{ContainerdService}},
	{Name: Gvisor, Summary: "gVisor runsc and its containerd shim: an application kernel sandbox", Requires: []string{Containerd}, Runtime: RuntimeRunsc},
	{Name: Kata, Summary: "Kata Containers: lightweight VMs (needs KVM)", Requires: []string{Containerd}, Runtime: RuntimeKata},
	{Name: Docker, Summary: "Docker Engine static binaries, on the bundle's containerd and runc", Requires: []string{Containerd, Runc}, Service: DockerService, Restarts: []string{DockerService}},
	{Name: Nerdctl, Summary: "Docker-compatible CLI for containerd", Requires: []string{Containerd}},
	{Name: Crictl, Summary: "CLI for the Kubernetes CRI", Requires: []string{Containerd}},
	// The CNI plugins put containers of containerd's CRI and of nerdctl on a
	// network (nerdctl's README: needed for `nerdctl run`; containerd 2.x's
	// getting-started installs them into /opt/cni/bin). They need no daemon.
	{Name: CNI, Summary: "CNI plugins: container networks for the CRI and nerdctl", Restarts: []string{ContainerdService}},
	// BuildKit's buildkitd with the containerd worker, for `nerdctl build`.
	{Name: BuildKit, Summary: "BuildKit daemon on the installed containerd (nerdctl build)", Requires: []string{Containerd}, Service: BuildKitService, Restarts: []string{BuildKitService}},
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
