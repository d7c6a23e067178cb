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

// Checksum file formats, as fetch.ParseChecksumFile reads them.
const (
	ChecksumSHA256Sum    = component.ChecksumSHA256Sum
	ChecksumBareSHA256   = component.ChecksumBareSHA256
	ChecksumSHA512       = component.ChecksumSHA512
	ChecksumSHA256Sums   = component.ChecksumSHA256Sums
	ChecksumPGPSHA256Sum = component.ChecksumPGPSHA256Sum
)

// Archive kinds, as pack.WalkArchive reads them.
const (
	ArchiveTarGz  = component.ArchiveTarGz
	ArchiveTgz    = component.ArchiveTgz
	ArchiveTarXz  = component.ArchiveTarXz
	ArchiveTarZst = component.ArchiveTarZst
	ArchiveBinary = component.ArchiveBinary
)

// Install locations.
const (
	BinDir        = component.BinDir
	KataDir       = component.KataDir
	CompletionDir = component.CompletionDir
)

// ChecksumRef, FileRule, Link and Completion are the descriptors' types.
type (
	ChecksumRef = component.ChecksumRef
	FileRule    = component.FileRule
	Link        = component.Link
	Completion  = component.Completion
)

// Completions lists the bash completions a component's tools print.
func Completions(name string) []Completion {
	if d, ok := component.Lookup(name); ok {
		return d.Completions
	}
	return nil
}

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
