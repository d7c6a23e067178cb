package plan

import (
	"fmt"
	"slices"

	"github.com/satchel-dev/satchel/install/config"
	"github.com/satchel-dev/satchel/install/state"
)

// removals plans what the previous install wrote and this one does not:
// removed, or the original put back.
func (pl *planner) removals() error {
	prev := pl.in.Previous
	if prev == nil {
		return nil
	}
	for _, f := range prev.Files {
		if _, ok := pl.owner[f.Path]; ok {
			continue
		}
		if f.Component != "" && !slices.Contains(pl.p.Bundle.Components, f.Component) {
			if _, inBundle := pl.ix.Component(f.Component); inBundle && len(pl.in.Options.Components) > 0 {
				pl.p.Carried = append(pl.p.Carried, f) // left out with --components: kept, still recorded
				continue
			}
		}
		a, err := removal(&pl.need, pl.in.Tree, f)
		if err != nil {
			return err
		}
		if a != nil {
			if a.Change == ChangeSkip {
				pl.warnf("%s", a.Note)
			}
			pl.p.add(*a)
		}
	}
	return nil
}

// removal plans taking back a file satchel wrote: restore the original,
// remove it, or take satchel's settings out of a configuration people
// edited since; any other file changed since is left alone.
func removal(need *needs, t Tree, f state.File) (*Action, error) {
	if f.Preexisting {
		return nil, nil
	}
	cur := need.entry(t, f.Path)
	a := Action{Kind: Kind(f.Kind), Path: f.Path, Component: f.Component, Mode: f.Mode, OldDigest: cur.Digest, Target: f.Target}
	ours := cur.Kind == EntryFile && cur.Digest == f.Digest || cur.Kind == EntrySymlink && cur.Target == f.Target
	switch {
	case !cur.Exists() && f.Original == "":
		return nil, nil
	case f.Kind == state.KindConfig && f.UserEdited && ours && len(f.Edits) == 0:
		return nil, nil // people own it now, and satchel changed nothing in it
	case cur.Exists() && (!ours || f.UserEdited):
		if f.Kind == state.KindConfig && cur.Kind == EntryFile && len(f.Edits) > 0 {
			now := need.content(t, f.Path)
			out, empty, changed, err := config.Revert(string(f.Path), now, f.Edits)
			if err == nil && changed {
				a.Mode, a.Owner = uint32(cur.Mode.Perm()), &Owner{UID: cur.UID, GID: cur.GID}
				a.Original = f.Original // superseded by what people kept: discarded at commit
				if empty && f.Original == "" {
					a.Change, a.Note = ChangeRemove, fmt.Sprintf("%s changed since satchel wrote it, but only in satchel's settings", f.Path)
					return &a, nil
				}
				a.Change, a.Content = ChangeRevert, Content{Kind: ContentBytes, Data: out}
				a.Digest = digestOf(out)
				a.Diff = config.Diff(string(f.Path), now, out)
				a.Note = fmt.Sprintf("%s changed since satchel wrote it: satchel's settings are taken out, the rest is kept", f.Path)
				return &a, nil
			}
		}
		if f.UserEdited && ours {
			return nil, nil // people own it now, and none of satchel's settings are left to take out
		}
		a.Change, a.Note = ChangeSkip, fmt.Sprintf("%s changed since satchel wrote it; left as it is", f.Path)
		if f.Original != "" {
			a.Note += fmt.Sprintf(" (the file it replaced is kept at %s)", f.Original)
		}
	case f.Original != "":
		orig := need.entry(t, f.Original)
		if !orig.Exists() {
			a.Change, a.Note = ChangeRemove, "the original copy at "+string(f.Original)+" is missing; removing"
			break
		}
		a.Change, a.Original, a.Content = ChangeRestore, f.Original, Content{Kind: ContentOriginal}
		a.Digest, a.Mode, a.Target = orig.Digest, uint32(orig.Mode.Perm()), orig.Target
		if f.Kind == state.KindConfig {
			a.Diff = config.Diff(string(f.Path), need.content(t, f.Path), need.content(t, f.Original))
		}
	default:
		a.Change = ChangeRemove
	}
	return &a, nil
}

// UninstallInput is what an uninstall plan is made from.
type UninstallInput struct {
	Previous *state.State
	Target   Target
	Tree     Tree
}

// Uninstall plans taking back everything the state records: units
// disabled (and stopped on the running system), every file removed or
// its original put back, configurations people edited since reverted to
// their own settings. A *NeedError asks for more of the tree.
func Uninstall(in UninstallInput) (*Plan, []string, error) {
	st := in.Previous
	p := &Plan{Bundle: st.Bundle, Root: in.Target.Root, Live: in.Target.Live, Online: in.Target.Online, Previous: st}
	var need needs
	for _, u := range st.Enabled {
		p.add(Action{Kind: KindService, Change: ChangeDisable, Unit: u})
	}
	var left []string
	unitsGone := false
	for i := len(st.Files) - 1; i >= 0; i-- {
		a, err := removal(&need, in.Tree, st.Files[i])
		if err != nil {
			return nil, nil, err
		}
		if a == nil {
			continue
		}
		switch {
		case a.Change == ChangeSkip:
			left = append(left, string(a.Path))
		case a.Kind == KindUnit:
			unitsGone = true
		}
		p.add(*a)
	}
	if err := need.err(); err != nil {
		return nil, nil, err
	}
	if unitsGone && p.Online {
		p.add(Action{Kind: KindService, Change: ChangeReload})
	}
	slices.Sort(left)
	p.finish()
	return p, left, nil
}
