package plan

import (
	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// Rendered returns what an apply of the bundle with default options would
// write as configuration on a fresh host of the platform that boots with
// systemd: every rendered or merged configuration file and systemd unit,
// by path. It is a plan against an empty tree (nothing on the host, nothing
// running), so two bundles compare by what the installer itself would
// write: `satchel-bundle diff` shows the configurations that differ.
// Staged image lists are left out (images are compared by digest).
func Rendered(ix *manifest.Index, blobs images.BlobReader, files BundleFiles, platform string) (map[rootfs.Path][]byte, error) {
	in := Input{
		Index:  ix,
		Bundle: state.BundleInfo{Name: ix.Name, Version: ix.Version, Sequence: ix.Sequence},
		Blobs:  blobs, Files: files,
		Target: Target{Root: "/", Platform: platform, Systemd: true},
		Tree:   emptyTree{},
		// Archive digests only name staged archives, which are left out.
		ArchiveDigest: func(im *manifest.Image) (manifest.Digest, error) { return im.Digest, nil },
	}
	p, err := Make(in)
	if err != nil {
		return nil, err
	}
	out := map[rootfs.Path][]byte{}
	for _, a := range p.Actions {
		if (a.Kind != KindConfig && a.Kind != KindUnit) || a.Content.Kind != ContentBytes || a.Path == state.StagedList {
			continue
		}
		out[a.Path] = a.Content.Data
	}
	return out, nil
}

// emptyTree is a host with nothing on it.
type emptyTree struct{}

func (emptyTree) Entry(p rootfs.Path) (Entry, bool)  { return Entry{Path: p, Resolved: p}, true }
func (emptyTree) Content(rootfs.Path) ([]byte, bool) { return nil, true }
func (emptyTree) List(rootfs.Path) ([]string, bool)  { return nil, true }
