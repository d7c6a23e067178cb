// Package plan decides every change an install or uninstall makes. It is
// a pure function of data: the bundle's index, the host's facts, what the
// probe saw in the root (Tree) and in running services (Observed), the
// recorded state and the options. It reads no file, runs no command and
// writes nothing; when it needs to know about a path the probe did not
// look at, it says so (*NeedError) and the caller probes and asks again.
// The executor (package txn) carries a plan out.
package plan

import (
	"slices"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// Kind says what an action touches.
type Kind string

// Action kinds.
const (
	KindFile         Kind = Kind(state.KindFile)      // a file from the bundle
	KindSymlink      Kind = Kind(state.KindSymlink)   // a symlink from the bundle
	KindConfig       Kind = Kind(state.KindConfig)    // a rendered or merged configuration file
	KindUnit         Kind = Kind(state.KindUnit)      // a systemd unit file
	KindInstaller    Kind = Kind(state.KindInstaller) // satchel-install itself, copied to /usr/local/bin
	KindImage        Kind = Kind(state.KindImage)     // an OCI image: imported, docker-loaded or staged
	KindRecord       Kind = Kind(state.KindRecord)    // the bundle's SBOM or provenance, kept under /var/lib/satchel
	KindService      Kind = "service"                 // a systemd unit enabled, started, restarted
	KindRuntimeClass Kind = "runtimeclass"            // RuntimeClasses applied with kubectl
	KindState        Kind = "state"                   // state.json, when what it records changes
)

// Change says what happens to the thing an action names.
type Change string

// Changes.
const (
	ChangeNew        Change = "new"
	ChangeReplace    Change = "replace"
	ChangeUnchanged  Change = "unchanged"
	ChangeRemove     Change = "remove"  // a file satchel wrote earlier, no longer wanted
	ChangeRestore    Change = "restore" // the file satchel replaced is put back
	ChangeRevert     Change = "revert"  // satchel's settings are taken out of a file people edited since
	ChangeSkip       Change = "skip"    // cannot be done here; Note says why
	ChangeStage      Change = "stage"   // image archive written for import at first start
	ChangeImport     Change = "import"  // image imported into containerd and pinned
	ChangeDockerLoad Change = "docker-load"
	ChangeReload     Change = "daemon-reload"
	ChangeEnable     Change = "enable"
	ChangeStart      Change = "start"
	ChangeRestart    Change = "restart"
	ChangeDisable    Change = "disable"
	ChangeKubectl    Change = "kubectl-apply"
)

// ContentKind says where an action's bytes come from.
type ContentKind int

// Content kinds.
const (
	ContentNone         ContentKind = iota
	ContentBytes                    // Content.Data
	ContentBundleFile               // Content.File, from the bundle
	ContentImageArchive             // Content.Image as an archive for the plan's platform
	ContentHostFile                 // Content.HostPath, a file outside the root (the installer itself)
	ContentOriginal                 // the kept original at Action.Original
)

// Content is what an action writes.
type Content struct {
	Kind     ContentKind
	Data     []byte
	File     manifest.File
	Image    *manifest.Image
	HostPath string
	// Length, when set, takes only the first Length bytes of HostPath (the
	// installer out of a self-extracting .run file).
	Length int64
}

// Owner is a file's numeric owner.
type Owner struct {
	UID int `json:"uid"`
	GID int `json:"gid"`
}

// Action is one entry of a plan. The executor carries out the actions
// whose Change is neither "unchanged" nor "skip", in order, one journal
// step each.
type Action struct {
	Kind   Kind        `json:"kind"`
	Change Change      `json:"change"`
	Path   rootfs.Path `json:"path,omitempty"`
	// Via is the path as the bundle or the installer names it, when
	// symlinks on the host lead it to Path (which is where it is written).
	Via       rootfs.Path     `json:"via,omitempty"`
	Component string          `json:"component,omitempty"`
	Mode      uint32          `json:"mode,omitempty"`
	Owner     *Owner          `json:"owner,omitempty"`
	Digest    manifest.Digest `json:"digest,omitempty"`
	OldDigest manifest.Digest `json:"oldDigest,omitempty"`
	Size      int64           `json:"size,omitempty"`
	Target    string          `json:"target,omitempty"`
	// Diff is a unified diff of a config file's old and new text.
	Diff       string   `json:"diff,omitempty"`
	Unit       string   `json:"unit,omitempty"`
	Ref        string   `json:"ref,omitempty"`
	Namespaces []string `json:"namespaces,omitempty"`
	Note       string   `json:"note,omitempty"`
	// Original is where a restore takes the file from (inside the root).
	Original rootfs.Path `json:"original,omitempty"`

	Content Content `json:"-"`
	// Tool is the program an import, load or kubectl action runs (host path).
	Tool string `json:"-"`
	// Edits are the settings a config action changes, recorded in the state.
	Edits []state.Edit `json:"-"`
	// Preexisting marks an unchanged file that was there before satchel.
	Preexisting bool `json:"-"`
	// UserEdited marks a config file people changed since satchel wrote
	// it: its kept original no longer stands for what uninstall restores.
	UserEdited bool `json:"-"`
}

// Changes reports whether the action changes something.
func (a *Action) Changes() bool { return a.Change != ChangeUnchanged && a.Change != ChangeSkip }

// Describe says what an action does, in a few words.
func (a *Action) Describe() string {
	switch a.Kind {
	case KindService:
		if a.Change == ChangeReload {
			return "systemctl daemon-reload"
		}
		return string(a.Change) + " " + a.Unit
	case KindImage:
		switch a.Change {
		case ChangeImport:
			return "import " + a.Ref + " into containerd (" + joinComma(a.Namespaces) + ")"
		case ChangeDockerLoad:
			return "docker load " + a.Ref
		case ChangeStage:
			return "stage " + a.Ref + " as " + string(a.Path)
		}
		return string(a.Change) + " " + a.Ref
	case KindRuntimeClass:
		return "kubectl apply -f " + string(a.Path)
	}
	return string(a.Change) + " " + string(a.Kind) + " " + string(a.Path)
}

// ImageMode says how images reach containerd.
type ImageMode string

// Image modes.
const (
	ImageImport ImageMode = "import" // into a running (or about to be started) containerd now
	ImageStage  ImageMode = "stage"  // archives under state.ImageDir for satchel-images.service
)

// Plan is the complete list of changes an apply (or uninstall) makes, in order.
type Plan struct {
	Bundle state.BundleInfo `json:"bundle"`
	Root   string           `json:"root"`
	// Live is set when root is "/"; Online when services can be started now.
	Live   bool `json:"live"`
	Online bool `json:"online"`
	// ContainerdVersion picks the config schema (from the bundle's containerd).
	ContainerdVersion string   `json:"containerdVersion,omitempty"`
	Runtimes          []string `json:"runtimes"`
	// Added lists components selected because a selected one needs them.
	Added     []Added   `json:"added,omitempty"`
	ImageMode ImageMode `json:"imageMode,omitempty"`
	Actions   []Action  `json:"actions"`
	Warnings  []string  `json:"warnings,omitempty"`
	// Preflight holds the host checks; apply refuses when Preflight.Failed.
	Preflight *Preflight `json:"preflight,omitempty"`
	// Interrupted names a journal left by an interrupted run; apply rolls it back first.
	Interrupted string `json:"interrupted,omitempty"`
	// Namespaces are the containerd namespaces images go into.
	Namespaces []string       `json:"namespaces,omitempty"`
	Summary    map[Change]int `json:"summary"`
	Changed    bool           `json:"changed"`

	// Transition names the installed bundle the plan goes from and the one
	// it goes to, with the component versions that change; nil when
	// nothing is installed.
	Transition *Transition `json:"transition,omitempty"`

	// Previous is the recorded state the plan starts from.
	Previous *state.State `json:"-"`
	// Carried are files of components left out with a selection, kept as they are.
	Carried []state.File `json:"-"`
	// Index is the bundle's index (nil for an uninstall).
	Index *manifest.Index `json:"-"`
}

// Transition is from the installed bundle to the one being planned.
type Transition struct {
	From BundleRef `json:"from"`
	To   BundleRef `json:"to"`
	// Same is set when the installed bundle is this one (same satchel.json).
	Same bool `json:"same"`
	// Components are those whose version changes, or that come or go.
	Components []VersionChange `json:"components,omitempty"`
}

// BundleRef names a bundle.
type BundleRef struct {
	Name        string          `json:"name"`
	Version     string          `json:"version"`
	Sequence    uint64          `json:"sequence"`
	IndexDigest manifest.Digest `json:"indexDigest,omitempty"`
}

// VersionChange is a component's version before and after ("" when it is
// not installed on that side).
type VersionChange struct {
	Name string `json:"name"`
	From string `json:"from,omitempty"`
	To   string `json:"to,omitempty"`
}

func transition(prev *state.State, to state.BundleInfo) *Transition {
	if prev == nil {
		return nil
	}
	from := prev.Bundle
	t := &Transition{
		From: BundleRef{Name: from.Name, Version: from.Version, Sequence: from.Sequence, IndexDigest: from.IndexDigest},
		To:   BundleRef{Name: to.Name, Version: to.Version, Sequence: to.Sequence, IndexDigest: to.IndexDigest},
		Same: from.IndexDigest != "" && from.IndexDigest == to.IndexDigest,
	}
	names := slices.Clone(from.Components)
	for _, c := range to.Components {
		if !slices.Contains(names, c) {
			names = append(names, c)
		}
	}
	for _, n := range names {
		o, n2 := from.ComponentVersions[n], to.ComponentVersions[n]
		if !slices.Contains(from.Components, n) {
			o = ""
		}
		if !slices.Contains(to.Components, n) {
			n2 = ""
		}
		if o != n2 {
			t.Components = append(t.Components, VersionChange{Name: n, From: o, To: n2})
		}
	}
	return t
}

// Added is a component selected because another needs it.
type Added struct {
	Name string `json:"name"`
	By   string `json:"by"`
}

// Preflight is what preflight found.
type Preflight struct {
	Bundle state.BundleInfo `json:"bundle"`
	// Verified is false when the bundle's signature was not checked
	// (preflight without a trusted key).
	Verified bool           `json:"verified"`
	Facts    *host.Facts    `json:"facts"`
	Findings []host.Finding `json:"findings"`
	// Failed is set when an error finding concerns the whole bundle or a
	// selected component: apply refuses (exit code 4).
	Failed            bool     `json:"failed"`
	FailingComponents []string `json:"failingComponents,omitempty"`
}

// Changes returns the actions that change something.
func (p *Plan) Changes() []*Action {
	var out []*Action
	for i := range p.Actions {
		if p.Actions[i].Changes() {
			out = append(out, &p.Actions[i])
		}
	}
	return out
}

func (p *Plan) add(a Action) *Action {
	p.Actions = append(p.Actions, a)
	return &p.Actions[len(p.Actions)-1]
}

func (p *Plan) finish() {
	p.Summary = map[Change]int{}
	for _, a := range p.Actions {
		p.Summary[a.Change]++
	}
	p.Changed = len(p.Changes()) > 0 || p.Interrupted != ""
}
