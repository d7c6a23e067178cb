package diff

import (
	"fmt"
	"io"
	"slices"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
)

// Contents reads a bundle's blobs and files, verified against its index;
// *pack.Bundle is one once its layout is checked.
type Contents interface {
	OpenBlob(d manifest.Digest) (io.Reader, error)
	OpenFile(f manifest.File) (io.ReadCloser, error)
}

// Bundles compares two bundles: Indexes, and for every platform both
// carry, the configuration files and units the installer would write on a
// fresh host with default options (plan.Rendered: the installer's own
// rendering, from data, nothing run), so a change of what containerd,
// Docker, crictl, CNI or systemd get shows up even when it follows from a
// version (a containerd config schema) or a component added or removed.
func Bundles(oldIx *manifest.Index, oldC Contents, newIx *manifest.Index, newC Contents) (*Result, error) {
	r, err := Indexes(oldIx, newIx)
	if err != nil {
		return nil, err
	}
	for _, p := range newIx.Platforms {
		if !slices.Contains(oldIx.Platforms, p) {
			continue // the platforms field says it was added
		}
		olds, err := plan.Rendered(oldIx, oldC, oldC, p)
		if err != nil {
			return nil, fmt.Errorf("rendering the old bundle's configuration for %s: %w", p, err)
		}
		news, err := plan.Rendered(newIx, newC, newC, p)
		if err != nil {
			return nil, fmt.Errorf("rendering the new bundle's configuration for %s: %w", p, err)
		}
		r.Configs = append(r.Configs, configs(p, olds, news)...)
	}
	return r, nil
}

func configs(platform string, olds, news map[rootfs.Path][]byte) []ConfigChange {
	var paths []rootfs.Path
	for p := range olds {
		paths = append(paths, p)
	}
	for p := range news {
		if _, ok := olds[p]; !ok {
			paths = append(paths, p)
		}
	}
	slices.Sort(paths)
	var out []ConfigChange
	for _, p := range paths {
		o, inOld := olds[p]
		n, inNew := news[p]
		c := ConfigChange{Platform: platform, Path: string(p)}
		switch {
		case !inOld:
			c.Change = Added
		case !inNew:
			c.Change = Removed
		case string(o) == string(n):
			continue
		default:
			c.Change = Changed
		}
		c.Diff = config.Diff(string(p), o, n)
		out = append(out, c)
	}
	return out
}
