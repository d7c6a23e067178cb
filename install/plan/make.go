package plan

import (
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// DefaultNamespace is where Kubernetes (CRI) looks for images;
// ClientNamespace is where ctr and nerdctl look by default.
const (
	DefaultNamespace = "k8s.io"
	ClientNamespace  = "default"
)

// Lanes: where a bundle's files may go. A path that leads elsewhere
// through a symlink on the host is refused, whatever the bundle says.
var BundleLanes = []rootfs.Path{"/usr/local", "/opt"}

// maxConfigSize bounds a configuration file the plan merges into.
const maxConfigSize = 1 << 20

// planner carries one Make.
type planner struct {
	in    *Input
	ix    *manifest.Index
	p     *Plan
	need  needs
	sel   []*manifest.Component
	owner map[rootfs.Path]int // path → index of the action that writes it
	// touched collects components with changed files, for restarts.
	touched map[string]bool
	// imports and loads are image actions placed after their daemon starts.
	imports, loads []Action
	// settingsChanged are services that apply kernel settings whose files changed.
	settingsChanged []string
	// kataConfig is kata's configuration for containerd, when satchel wrote one.
	kataConfig string
}

// Make computes every change an apply of the bundle would make, from data
// alone. A *NeedError asks for more of the tree.
func Make(in Input) (*Plan, error) {
	pl := &planner{in: &in, ix: in.Index, owner: map[rootfs.Path]int{}, touched: map[string]bool{}}
	pl.p = &Plan{Root: in.Target.Root, Live: in.Target.Live, Online: in.Target.Online, Previous: in.Previous, Index: in.Index, Preflight: in.Preflight}
	if in.Interrupted != "" {
		pl.p.Interrupted = in.Interrupted
		pl.warnf("an interrupted %s (run %s) left a journal; apply rolls it back (or finishes it) before it changes anything", in.InterruptedKind, in.Interrupted)
	}
	if err := pl.selectComponents(); err != nil {
		return nil, err
	}
	names := make([]string, len(pl.sel))
	for i, c := range pl.sel {
		names[i] = c.Name
	}
	pl.p.Bundle = bundleInfo(in.Bundle, in.Index, in.Target.Platform, names)
	pl.p.Transition = transition(in.Previous, pl.p.Bundle)
	for _, c := range pl.sel {
		d, ok := component.Lookup(c.Name)
		if !ok || d.Runtime == "" {
			continue
		}
		if c.Name == component.Gvisor && in.Facts != nil {
			// A runtime that cannot start is not registered (issue 10, #1).
			if starts, why := host.RunscStarts(in.Facts, c); !starts {
				pl.warnf("runsc is not registered with containerd, Docker or Kubernetes: %s", why)
				continue
			}
		}
		pl.p.Runtimes = append(pl.p.Runtimes, d.Runtime)
	}
	if c := pl.component(component.Containerd); c != nil {
		pl.p.ContainerdVersion = c.VersionFor(pl.in.Target.Platform)
		if !slices.Contains(pl.p.Runtimes, component.RuntimeRunc) {
			// containerd's default runtime; configured even when runc comes from elsewhere.
			pl.p.Runtimes = append([]string{component.RuntimeRunc}, pl.p.Runtimes...)
		}
	}
	steps := []func() error{pl.files, pl.installer, pl.records, pl.profile, pl.kernel, pl.kata, pl.configs, pl.cni, pl.buildkit, pl.units, pl.images, pl.removals, pl.services, pl.kube}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if err := pl.need.err(); err != nil {
		return nil, err
	}
	pl.p.Namespaces = pl.namespaces()
	// state.json is listed when what it records would change (a new key,
	// say) even if no file does.
	if exp := BuildState(pl.p, nil, nil); !state.Same(exp, in.Previous) {
		ch := ChangeNew
		if in.Previous != nil {
			ch = ChangeReplace
		}
		pl.p.add(Action{Kind: KindState, Change: ch, Path: state.Path})
	}
	pl.p.finish()
	return pl.p, nil
}

// bundleInfo completes what the caller knows of the bundle with the
// platform and the selection.
func bundleInfo(b state.BundleInfo, ix *manifest.Index, platform string, components []string) state.BundleInfo {
	b.Platform, b.Components = platform, components
	b.ComponentVersions = map[string]string{}
	for _, c := range ix.Components {
		if slices.Contains(components, c.Name) {
			b.ComponentVersions[c.Name] = c.VersionFor(platform)
		}
	}
	return b
}

func (pl *planner) warnf(format string, args ...any) {
	pl.p.Warnings = append(pl.p.Warnings, fmt.Sprintf(format, args...))
}

func (pl *planner) component(name string) *manifest.Component {
	for _, c := range pl.sel {
		if c.Name == name {
			return c
		}
	}
	return nil
}

// SelectionError is a --components choice that cannot work.
type SelectionError struct{ Msg, Remedy string }

func (e *SelectionError) Error() string { return e.Msg }

// selectComponents picks the components with files for this platform, or
// those the options name and what they need.
func (pl *planner) selectComponents() error {
	platform := pl.in.Target.Platform
	avail := func(name string) bool {
		c, ok := pl.ix.Component(name)
		return ok && len(c.ArtifactsFor(platform)) > 0
	}
	var have []string
	for _, c := range pl.ix.Components {
		have = append(have, c.Name)
	}
	want := pl.in.Options.Components
	for _, w := range want {
		if _, ok := pl.ix.Component(w); !ok {
			return manifest.WithExitCode(&SelectionError{
				Msg:    fmt.Sprintf("--components: the bundle has no component %q", w),
				Remedy: "choose among: " + strings.Join(have, ", ")}, manifest.ExitUsage)
		}
		if !avail(w) {
			return manifest.WithExitCode(&SelectionError{
				Msg:    fmt.Sprintf("component %s has no files for %s in this bundle", w, platform),
				Remedy: "leave it out of --components, or use a bundle built for " + platform}, manifest.ExitPreflight)
		}
	}
	var names []string
	if len(want) > 0 {
		all, added, err := component.Closure(want, avail)
		if err != nil {
			var me *component.MissingError
			if errors.As(err, &me) {
				why := "this bundle does not carry it"
				if _, ok := pl.ix.Component(me.Needs); ok {
					why = "this bundle has no " + me.Needs + " files for " + platform
				}
				return manifest.WithExitCode(&SelectionError{
					Msg:    fmt.Sprintf("--components: %s needs %s, and %s", me.Component, me.Needs, why),
					Remedy: "use a bundle that carries " + me.Needs + " for " + platform + ", or leave " + me.Component + " out"}, manifest.ExitUsage)
			}
			return err
		}
		names = all
		for _, a := range added {
			pl.p.Added = append(pl.p.Added, Added{Name: a.Name, By: a.By})
			pl.warnf("%s is installed too: %s needs it", a.Name, a.By)
		}
	} else {
		for _, c := range pl.ix.Components {
			if !avail(c.Name) {
				pl.warnf("component %s has no files for %s in this bundle; it is not installed", c.Name, platform)
				continue
			}
			names = append(names, c.Name)
		}
		// A bundle without what a component needs still installs, with a warning.
		for _, n := range names {
			if d, ok := component.Lookup(n); ok {
				for _, r := range d.Requires {
					if !slices.Contains(names, r) {
						pl.warnf("%s needs %s, which this bundle does not carry for %s: it must come from elsewhere", n, r, platform)
					}
				}
			}
		}
	}
	// Index order, so plans read like the bundle.
	for i := range pl.ix.Components {
		c := &pl.ix.Components[i]
		if slices.Contains(names, c.Name) {
			pl.sel = append(pl.sel, c)
		}
	}
	if len(pl.sel) == 0 {
		return manifest.WithExitCode(&SelectionError{
			Msg:    fmt.Sprintf("the bundle has nothing to install on %s (it carries %s)", platform, strings.Join(pl.ix.Platforms, ", ")),
			Remedy: "use a bundle built for " + platform}, manifest.ExitPreflight)
	}
	return nil
}

// claim registers that an action writes its path; a second writer of the
// same path is dropped with a warning, except identical content.
func (pl *planner) claim(a Action) {
	if a.Change == ChangeUnchanged {
		if f, ok := pl.in.Previous.File(a.Path); !ok || f.Preexisting {
			a.Preexisting = true
		}
	}
	if i, ok := pl.owner[a.Path]; ok {
		prev := pl.p.Actions[i]
		if prev.Digest != a.Digest || prev.Target != a.Target {
			pl.warnf("%s is in both %s and %s with different content; installing the one from %s", a.Path, prev.Component, a.Component, prev.Component)
		}
		return
	}
	pl.owner[a.Path] = len(pl.p.Actions)
	pl.p.add(a)
}

// LaneError is a path that leads out of where it may be written.
type LaneError struct {
	Path, Resolved rootfs.Path
	Lanes          []rootfs.Path
	Why            string
}

func (e *LaneError) Error() string {
	if e.Why != "" {
		return fmt.Sprintf("%s: %s", e.Path, e.Why)
	}
	var ls []string
	for _, l := range e.Lanes {
		ls = append(ls, string(l))
	}
	return fmt.Sprintf("%s leads to %s through a symlink on this host, outside %s", e.Path, e.Resolved, strings.Join(ls, " and "))
}

// place resolves where a path is written and checks it stays in its
// lanes: a bundle file anywhere under BundleLanes, an installer-owned
// file exactly where it is named (nil lanes).
func (pl *planner) place(p rootfs.Path, lanes []rootfs.Path) (Entry, error) {
	e := pl.need.entry(pl.in.Tree, p)
	if e.ResolveErr != "" {
		return e, manifest.VerificationError(&LaneError{Path: p, Why: e.ResolveErr})
	}
	if e.Resolved == "" {
		e.Resolved = p
	}
	if lanes == nil {
		if e.Resolved != p {
			return e, manifest.HintError(&LaneError{Path: p, Resolved: e.Resolved, Lanes: []rootfs.Path{p}},
				"satchel writes its own files only through real directories; replace the symlink with a directory (a bind mount works where the data must live elsewhere)")
		}
		return e, nil
	}
	for _, l := range lanes {
		if e.Resolved.Within(l) && e.Resolved != l {
			return e, nil
		}
	}
	return e, manifest.VerificationError(manifest.HintError(&LaneError{Path: p, Resolved: e.Resolved, Lanes: lanes},
		"a bundle may write only below /usr/local and /opt; if a directory there is a symlink on this host, use a bind mount instead (mount --bind /data/opt /opt), or check the bundle's origin"))
}

// change classifies a path: new, replace or unchanged.
func change(cur Entry, same bool) Change {
	switch {
	case !cur.Exists():
		return ChangeNew
	case same:
		return ChangeUnchanged
	default:
		return ChangeReplace
	}
}

// files plans every file and symlink of the selected components.
func (pl *planner) files() error {
	for _, c := range pl.sel {
		for _, art := range c.ArtifactsFor(pl.in.Target.Platform) {
			for _, f := range art.Files {
				if err := pl.file(c.Name, f); err != nil {
					return err
				}
			}
		}
	}
	return nil
}

func (pl *planner) file(comp string, f manifest.File) error {
	want, err := rootfs.ParsePath(f.Path)
	if err != nil {
		return manifest.VerificationError(err)
	}
	cur, err := pl.place(want, BundleLanes)
	if err != nil {
		return err
	}
	a := Action{Path: cur.Resolved, Component: comp, Mode: f.Mode}
	if cur.Resolved != want {
		a.Via = want
	}
	switch cur.Kind {
	case EntryDir, EntryOther:
		return manifest.Hintf("move it aside; satchel replaces only files and symlinks",
			"%s exists and is a %s", a.Path, rootfs.TypeName(cur.Mode))
	}
	switch f.Type {
	case manifest.TypeSymlink:
		a.Kind, a.Target = KindSymlink, f.Target
		a.Change = change(cur, cur.Kind == EntrySymlink && cur.Target == f.Target)
	default:
		a.Kind, a.Digest, a.Size = KindFile, f.Digest, f.Size
		a.OldDigest = cur.Digest
		a.Change = change(cur, cur.Kind == EntryFile && cur.Digest == f.Digest && cur.Mode.Perm() == fs.FileMode(f.Mode))
		a.Content = Content{Kind: ContentBundleFile, File: f}
	}
	if a.Change != ChangeUnchanged {
		pl.touched[comp] = true
	}
	pl.claim(a)
	return nil
}

// installer plans the copy of satchel-install itself.
func (pl *planner) installer() error {
	o := pl.in.Options
	if o.Self == "" {
		pl.p.add(Action{Kind: KindInstaller, Change: ChangeSkip, Path: state.SelfPath, Note: "the running executable cannot be found"})
		return nil
	}
	cur, err := pl.place(state.SelfPath, BundleLanes)
	if err != nil {
		return err
	}
	if cur.Kind == EntryDir || cur.Kind == EntryOther {
		return manifest.Hintf("move it aside", "%s exists and is a %s", state.SelfPath, rootfs.TypeName(cur.Mode))
	}
	a := Action{Kind: KindInstaller, Path: cur.Resolved, Mode: 0o755, Digest: o.SelfDigest, Size: o.SelfSize, OldDigest: cur.Digest,
		Change:  change(cur, cur.Kind == EntryFile && cur.Digest == o.SelfDigest && cur.Mode.Perm() == 0o755),
		Content: Content{Kind: ContentHostFile, HostPath: o.Self, Length: o.SelfSize}}
	pl.claim(a)
	return nil
}

// owned plans a file the installer renders (config, unit) with complete
// new content: compared with what is there, with a diff for people. An
// existing file keeps its mode and owner (a 0600 config holding a password
// stays 0600); a new one gets mode.
func (pl *planner) owned(kind Kind, p rootfs.Path, data []byte, mode uint32, comp string) (*Action, error) {
	cur, err := pl.place(p, nil)
	if err != nil {
		return nil, err
	}
	switch cur.Kind {
	case EntryDir, EntryOther, EntrySymlink:
		what := rootfs.TypeName(cur.Mode)
		if cur.Kind == EntrySymlink {
			what = "symlink (to " + cur.Target + ")"
		}
		return nil, manifest.Hintf("replace it with a regular file (or move it aside); satchel writes and merges only regular files here",
			"%s exists and is a %s", p, what)
	}
	var old []byte
	a := Action{Kind: kind, Path: p, Mode: mode, Component: comp, Content: Content{Kind: ContentBytes, Data: data}}
	if cur.Kind == EntryFile {
		old = pl.need.content(pl.in.Tree, p)
		a.Mode = uint32(cur.Mode.Perm())
		a.Owner = &Owner{UID: cur.UID, GID: cur.GID}
	}
	d := manifest.DigestOf(manifest.SHA256, data)
	a.Digest, a.Size, a.OldDigest = d, int64(len(data)), cur.Digest
	a.Change = change(cur, cur.Kind == EntryFile && cur.Digest == d)
	if a.Change != ChangeUnchanged {
		a.Diff = config.Diff(string(p), old, data)
	}
	if kind == KindConfig {
		prev, _ := pl.in.Previous.File(p)
		edits, userEdited, err := config.TrackEdits(string(p), prevEdits(prev), old, data, prev != nil && cur.Digest != prev.Digest)
		if err != nil {
			pl.warnf("%s: satchel's settings cannot be tracked (%v); uninstall will restore the original or leave the file", p, err)
		}
		a.Edits, a.UserEdited = edits, userEdited
	}
	if a.Change != ChangeUnchanged && comp != "" {
		pl.touched[comp] = true
	}
	pl.claim(a)
	return &pl.p.Actions[pl.owner[p]], nil
}

func prevEdits(f *state.File) []state.Edit {
	if f == nil {
		return nil
	}
	return f.Edits
}

// readExisting returns the content of an installer-owned config (nil when absent).
func (pl *planner) readExisting(p rootfs.Path) ([]byte, error) {
	cur, err := pl.place(p, nil)
	if err != nil {
		return nil, err
	}
	switch cur.Kind {
	case EntryNone:
		return nil, nil
	case EntryFile:
		if cur.Size > maxConfigSize {
			return nil, manifest.Hintf("check the file; configuration files are small", "%s is %d bytes, more than satchel reads (%d)", p, cur.Size, maxConfigSize)
		}
		return pl.need.content(pl.in.Tree, p), nil
	case EntrySymlink:
		return nil, manifest.Hintf("replace it with a regular file (or move it aside); satchel merges only into regular files",
			"%s is a symlink (to %s)", p, cur.Target)
	}
	return nil, manifest.Hintf("move it aside", "%s exists and is a %s", p, rootfs.TypeName(cur.Mode))
}

// readTarget is config.ContainerdOptions.ReadFile over the tree.
func (pl *planner) readTarget(path string) ([]byte, error) {
	p, err := rootfs.ParsePath(path)
	if err != nil {
		return nil, err
	}
	b, err := pl.readExisting(p)
	if err != nil {
		return nil, err
	}
	if b == nil {
		return nil, fs.ErrNotExist
	}
	return b, nil
}
