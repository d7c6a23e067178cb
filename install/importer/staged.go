package importer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// ImportResult is what `images import --staged` did with one archive.
type ImportResult struct {
	Ref        string   `json:"ref"`
	File       string   `json:"file"`
	Namespaces []string `json:"namespaces,omitempty"`
	Pinned     bool     `json:"pinned"`
	Docker     string   `json:"docker,omitempty"` // "loaded", or why not
	Error      string   `json:"error,omitempty"`
}

// ImportReport is the result of ImportStaged.
type ImportReport struct {
	Images []ImportResult `json:"images"`
	// Done is set when every archive was imported and the staging directory removed.
	Done bool `json:"done"`
}

// ImportStaged imports the archives an earlier install staged (what
// satchel-images.service runs at first start): each into the namespaces
// recorded, with ctr, pinned, and into Docker (dockerBin, "" for none)
// when it answers; each archive is removed once imported, and the staging
// directory when all are.
func (c *Client) ImportStaged(ctx context.Context, root *rootfs.Root, ctr, dockerBin string) (*ImportReport, error) {
	rep := &ImportReport{}
	b, err := root.ReadFile(state.StagedList, 16<<20)
	if errors.Is(err, fs.ErrNotExist) {
		rep.Done = true
		return rep, nil
	}
	if err != nil {
		return nil, err
	}
	var list images.StagedList
	if err := json.Unmarshal(b, &list); err != nil {
		return nil, manifest.HintError(fmt.Errorf("reading %s: %w", state.StagedList, err), "run `satchel-install apply` again to stage the images afresh")
	}
	if err := c.WaitContainerd(ctx, ctr, 60*time.Second); err != nil {
		return nil, err
	}
	var errs []error
	for _, si := range list.Images {
		r := ImportResult{Ref: si.Ref, File: si.File}
		name := si.File
		if name == "" || strings.ContainsAny(name, "/\x00") || name == "." || name == ".." {
			r.Error = fmt.Sprintf("bad archive name %q in %s", si.File, state.StagedList)
			errs = append(errs, errors.New(r.Error))
			rep.Images = append(rep.Images, r)
			continue
		}
		p := state.ImageDir.Join(name)
		info, err := root.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			r.Pinned = true // imported by an earlier run, which removed the archive
			rep.Images = append(rep.Images, r)
			continue
		}
		if err == nil && !info.IsRegular() {
			err = fmt.Errorf("%s is a %s, not an archive", p, rootfs.TypeName(info.Mode))
		}
		if err == nil {
			err = c.importOne(ctx, ctr, dockerBin, root.HostPath(p), si, &r)
		}
		if err == nil {
			err = root.Remove(p)
		}
		if err != nil {
			r.Error = err.Error()
			errs = append(errs, err)
		}
		rep.Images = append(rep.Images, r)
	}
	if len(errs) > 0 {
		return rep, manifest.HintError(errors.Join(errs...),
			"check that containerd runs (systemctl status containerd), then run `satchel-install images import --staged` again; archives not imported are kept in "+string(state.ImageDir))
	}
	if err := root.RemoveAll(state.ImageDir); err != nil {
		return rep, err
	}
	rep.Done = true
	return rep, nil
}

func (c *Client) importOne(ctx context.Context, ctr, dockerBin, tar string, si images.StagedImage, r *ImportResult) error {
	for _, ns := range si.Namespaces {
		if _, err := c.Ctr(ctx, ctr, ns, nil, "images", "import", tar); err != nil {
			return fmt.Errorf("importing %s into namespace %s: %w", si.Ref, ns, err)
		}
		if _, err := c.Ctr(ctx, ctr, ns, nil, "images", "label", si.Ref, PinnedLabel); err != nil {
			return fmt.Errorf("pinning %s in namespace %s: %w", si.Ref, ns, err)
		}
		r.Namespaces = append(r.Namespaces, ns)
	}
	r.Pinned = true
	switch {
	case !si.Docker:
	case dockerBin == "" || !c.DockerAnswers(ctx, dockerBin):
		r.Docker = "skipped: Docker is not running (load it later with `docker load -i` from a fresh `satchel-install apply`)"
	default:
		if _, err := c.Docker(ctx, dockerBin, nil, 30*time.Minute, "load", "-i", tar); err != nil {
			return fmt.Errorf("docker load %s: %w", si.Ref, err)
		}
		r.Docker = "loaded"
	}
	return nil
}
