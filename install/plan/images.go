package plan

import (
	"encoding/json"
	"slices"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// platformImages returns the bundle's images for the target platform.
func (pl *planner) platformImages() []*manifest.Image {
	var out []*manifest.Image
	for i := range pl.ix.Images {
		im := &pl.ix.Images[i]
		if len(im.Platforms) == 0 || slices.Contains(im.Platforms, pl.in.Target.Platform) {
			out = append(out, im)
		}
	}
	return out
}

// namespaces are where images go: the CRI's (k8s.io) and the one ctr and
// nerdctl use unless told otherwise (default), so every client sees them
// without a pull (issue 9), and those the options add.
func (pl *planner) namespaces() []string {
	ns := []string{DefaultNamespace, ClientNamespace}
	for _, n := range pl.in.Options.Namespaces {
		if !slices.Contains(ns, n) {
			ns = append(ns, n)
		}
	}
	return ns
}

// tool is how an import or load runs a tool: the bundled one when its
// component is installed now, else the host's, else the bundled path.
func (pl *planner) tool(name, comp string) string {
	obs := pl.in.Observed
	bundled := obs.BinDir + "/" + name
	if pl.component(comp) != nil {
		return bundled
	}
	if name == "docker" && obs.Docker != "" {
		return obs.Docker
	}
	if p := obs.HostTools[name]; p != "" {
		return p
	}
	return bundled
}

// dockerWanted reports whether images go to Docker too: it is installed
// now, or already there on the running system.
func (pl *planner) dockerWanted() bool {
	return pl.component(component.Docker) != nil || pl.in.Observed.Docker != ""
}

// images plans image imports: straight into a running (or about to be
// started) containerd, or staged for satchel-images.service.
func (pl *planner) images() error {
	ims := pl.platformImages()
	if len(ims) == 0 {
		return nil
	}
	obs, o := pl.in.Observed, pl.in.Options
	socketUp := pl.in.Target.Live && obs.ContainerdUp
	startsContainerd := pl.p.Online && !o.NoStart && pl.component(component.Containerd) != nil
	if !o.NoStart && (socketUp || startsContainerd) {
		pl.p.ImageMode = ImageImport
	} else {
		pl.p.ImageMode = ImageStage
	}
	ns := pl.namespaces()
	if pl.p.ImageMode == ImageStage {
		return pl.stageImages(ims, ns, pl.dockerWanted())
	}
	if socketUp {
		for _, n := range ns {
			if _, ok := obs.Images[n]; !ok {
				pl.warnf("listing images in containerd namespace %s: %s (importing all)", n, obs.ImageErrors[n])
			}
		}
	}
	for _, im := range ims {
		var todo []string
		for _, n := range ns {
			got, ok := obs.Images[n][im.Ref]
			if !ok || got.Digest != im.Digest || !got.Pinned {
				todo = append(todo, n)
			}
		}
		a := Action{Kind: KindImage, Ref: im.Ref, Digest: im.Digest, Namespaces: ns, Content: Content{Kind: ContentImageArchive, Image: im}, Change: ChangeUnchanged}
		if len(todo) > 0 {
			a.Change, a.Namespaces = ChangeImport, todo
			a.Size = images.ArchiveSize(pl.ix, *im)
			a.Tool = pl.tool("ctr", component.Containerd)
		}
		pl.imports = append(pl.imports, a)
	}
	if pl.dockerWanted() {
		return pl.dockerLoads(ims)
	}
	return nil
}

// dockerLoads plans `docker load` for images Docker does not have yet,
// when Docker runs (or is about to be started).
func (pl *planner) dockerLoads(ims []*manifest.Image) error {
	obs := pl.in.Observed
	up := obs.DockerUp
	starts := pl.p.Online && !pl.in.Options.NoStart && pl.component(component.Docker) != nil
	if !up && !starts {
		for _, im := range ims {
			pl.loads = append(pl.loads, Action{Kind: KindImage, Change: ChangeSkip, Ref: im.Ref, Digest: im.Digest, Note: "Docker is not running here: no docker load"})
		}
		return nil
	}
	for _, im := range ims {
		a := Action{Kind: KindImage, Change: ChangeDockerLoad, Ref: im.Ref, Digest: im.Digest, Content: Content{Kind: ContentImageArchive, Image: im}, Size: images.ArchiveSize(pl.ix, *im), Tool: pl.tool("docker", component.Docker)}
		if up {
			cfg, err := images.ConfigDigest(pl.ix, pl.in.Blobs, *im, pl.in.Target.Platform)
			if err != nil {
				return err
			}
			if cfg == "" {
				a.Change, a.Note = ChangeSkip, "no manifest for "+pl.in.Target.Platform+" in the bundle"
			} else if id, ok := obs.DockerImages[im.Ref]; ok && id == string(cfg) {
				a.Change = ChangeUnchanged
			}
		}
		pl.loads = append(pl.loads, a)
	}
	return nil
}

// stageImages plans archives under state.ImageDir and the list
// `satchel-install images import --staged` reads at first start.
func (pl *planner) stageImages(ims []*manifest.Image, ns []string, docker bool) error {
	list := images.StagedList{Version: 1}
	for _, im := range ims {
		name := images.StagedName(im.Ref, im.Digest)
		p := state.ImageDir.Join(name)
		list.Images = append(list.Images, images.StagedImage{Ref: im.Ref, Digest: im.Digest, File: name, Namespaces: ns, Docker: docker})
		cur, err := pl.place(p, nil)
		if err != nil {
			return err
		}
		a := Action{Kind: KindImage, Path: p, Ref: im.Ref, Digest: im.Digest, Namespaces: ns, Mode: 0o600,
			Size: images.ArchiveSize(pl.ix, *im), Change: ChangeStage, Content: Content{Kind: ContentImageArchive, Image: im}}
		// Archives are deterministic: their digest is known before they are
		// written, and hashing one again is cheaper than a wrong "unchanged".
		want, err := pl.archiveDigest(im)
		if err != nil {
			return err
		}
		if cur.Kind == EntryFile && want == cur.Digest {
			a.Change = ChangeUnchanged
		}
		a.Digest = want
		pl.claim(a)
	}
	b, err := json.MarshalIndent(list, "", "  ")
	if err != nil {
		return err
	}
	if _, err := pl.owned(KindConfig, state.StagedList, append(b, '\n'), 0o600, ""); err != nil {
		return err
	}
	unit, err := config.ImagesUnit(config.ImagesUnitOptions{
		ExecStart:  config.Quote(string(state.SelfPath), "images", "import", "--staged"),
		StagingDir: string(state.ImageDir),
	})
	if err != nil {
		return err
	}
	_, err = pl.owned(KindUnit, config.ImagesUnitPath, unit, 0o644, "")
	return err
}

func (pl *planner) archiveDigest(im *manifest.Image) (manifest.Digest, error) {
	if pl.in.ArchiveDigest != nil {
		return pl.in.ArchiveDigest(im)
	}
	return images.ArchiveDigest(pl.ix, *im, pl.in.Blobs, pl.in.Target.Platform)
}
