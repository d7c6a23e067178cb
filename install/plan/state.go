package plan

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

func digestOf(b []byte) manifest.Digest {
	s := sha256.Sum256(b)
	return manifest.Digest("sha256:" + hex.EncodeToString(s[:]))
}

// BuildState is what state.json records once the plan is carried out:
// originals maps a path to the backup of its pre-satchel file made by the
// run, dirs lists the directories the run created.
func BuildState(p *Plan, originals map[rootfs.Path]rootfs.Path, dirs []rootfs.Path) *state.State {
	prev := p.Previous
	st := &state.State{Version: state.Version, Bundle: p.Bundle}
	units := map[string]bool{}
	for _, a := range p.Actions {
		switch a.Kind {
		case KindFile, KindSymlink, KindConfig, KindUnit, KindInstaller, KindRecord:
		case KindImage:
			switch a.Change {
			case ChangeImport, ChangeDockerLoad, ChangeStage, ChangeUnchanged:
				recordImage(st, p, a)
			}
		default:
			continue
		}
		if a.Path == "" {
			continue
		}
		switch a.Change {
		case ChangeRemove, ChangeRestore, ChangeRevert, ChangeSkip:
			continue
		}
		f := state.File{Path: a.Path, Kind: state.Kind(a.Kind), Component: a.Component, Mode: a.Mode, Digest: a.Digest, Target: a.Target, Edits: a.Edits}
		if a.Kind == KindSymlink {
			f.Mode, f.Digest = 0, ""
		}
		if pf, ok := prev.File(a.Path); ok {
			f.Original, f.UserEdited = pf.Original, pf.UserEdited
			f.Preexisting = pf.Preexisting && a.Change == ChangeUnchanged
		}
		if a.UserEdited {
			// The kept original no longer stands for what uninstall gives back.
			f.UserEdited, f.Original = true, ""
		}
		if o, ok := originals[a.Path]; ok && !f.UserEdited {
			f.Original, f.Preexisting = o, false
		}
		if a.Preexisting {
			f.Preexisting = true
		}
		st.Files = append(st.Files, f)
		if a.Kind == KindUnit {
			units[a.Path.Base()] = true
		}
	}
	st.Files = append(st.Files, p.Carried...)
	for u := range units {
		st.Units = append(st.Units, u)
	}
	slices.Sort(st.Units)
	for _, a := range p.Actions {
		if a.Kind == KindService && a.Change == ChangeEnable && !slices.Contains(st.Enabled, a.Unit) {
			st.Enabled = append(st.Enabled, a.Unit)
		}
	}
	if prev != nil {
		for _, u := range prev.Enabled {
			if units[u] && !slices.Contains(st.Enabled, u) {
				st.Enabled = append(st.Enabled, u)
			}
		}
		st.History = prev.History
		if prev.Bundle.IndexDigest != p.Bundle.IndexDigest {
			st.History = append(slices.Clone(prev.History), state.HistoryEntry{Name: prev.Bundle.Name, Version: prev.Bundle.Version, Sequence: prev.Bundle.Sequence, When: prev.When})
		}
		for _, d := range prev.Dirs {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	slices.Sort(st.Enabled)
	slices.Sort(dirs)
	st.Dirs = dirs
	return st
}

// Discards lists the kept originals a committed plan no longer needs:
// those put back, and those a user's edit superseded.
func Discards(p *Plan) []rootfs.Path {
	var out []rootfs.Path
	for _, a := range p.Actions {
		switch {
		case a.Change == ChangeRestore || a.Change == ChangeRevert || a.Change == ChangeRemove:
			if a.Original != "" {
				out = append(out, a.Original)
			}
		case a.UserEdited:
			if pf, ok := p.Previous.File(a.Path); ok && pf.Original != "" {
				out = append(out, pf.Original)
			}
		}
	}
	return out
}

func recordImage(st *state.State, p *Plan, a Action) {
	i := slices.IndexFunc(st.Images, func(s state.Image) bool { return s.Ref == a.Ref })
	if i < 0 {
		im := state.Image{Ref: a.Ref, Digest: a.Digest}
		if a.Content.Image != nil {
			im.Digest, im.Role = a.Content.Image.Digest, a.Content.Image.Role
		}
		st.Images = append(st.Images, im)
		i = len(st.Images) - 1
	}
	switch {
	case a.Path != "":
		st.Images[i].Staged, st.Images[i].Namespaces = true, p.Namespaces
	case a.Change == ChangeDockerLoad || a.Change == ChangeUnchanged && len(a.Namespaces) == 0:
		st.Images[i].Docker = true
	default:
		st.Images[i].Namespaces = p.Namespaces
	}
}
