package profiles

import (
	"fmt"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/manifest"
)

// What satchel knows of each component — where upstream publishes a
// release, its checksum file, its archive, which files go where — lives in
// the component's descriptor (package component, one file per component).
// These names are the descriptors' types and constants, for this
// package's callers.

// descriptor returns a known component's descriptor.
func descriptor(name string) (*component.Descriptor, error) {
	d, ok := component.Lookup(name)
	if !ok {
		return nil, manifest.Hintf("use one of "+fmt.Sprint(component.Names()), "unknown component %q", name)
	}
	return d, nil
}

// knownComponent reports whether the registry has an entry for name.
func knownComponent(name string) bool { return component.Known(name) }
