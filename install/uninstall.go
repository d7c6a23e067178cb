package install

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/probe"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/txn"
)

// UninstallReport is what Uninstall did.
type UninstallReport struct {
	// NothingInstalled is set when the root had no satchel state.
	NothingInstalled bool             `json:"nothingInstalled,omitempty"`
	Bundle           state.BundleInfo `json:"bundle"`
	Actions          []plan.Action    `json:"actions"`
	// Left lists files satchel wrote that were changed since and stay.
	Left     []string  `json:"left,omitempty"`
	RunID    string    `json:"runID,omitempty"`
	Steps    int       `json:"steps"`
	Recovery *Recovery `json:"recovery,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
}

// Uninstall takes back what the state records: units are disabled (and
// stopped on the running system), every file satchel wrote is removed or,
// where it replaced one, the original is put back byte for byte; in a
// configuration people edited since, only satchel's settings are taken
// out; other files changed since stay and are reported. It is journaled
// like apply, so an interrupted uninstall is rolled back by the next run.
func (in *Installer) Uninstall(ctx context.Context) (*UninstallReport, error) {
	rep := &UninstallReport{}
	st, err := in.readState()
	if err != nil {
		return nil, err
	}
	j, err := txn.Read(in.root)
	if err != nil {
		return nil, err
	}
	if st == nil && j == nil {
		rep.NothingInstalled = true
		return rep, nil
	}
	unlock, _, err := in.lock()
	if err != nil {
		return nil, err
	}
	var prune []rootfs.Path
	defer func() {
		unlock()
		in.cleanupIfEmpty(prune...)
	}()
	env := in.env(nil)
	if rep.Recovery, err = txn.Recover(ctx, env); err != nil {
		return rep, err
	}
	if rep.Recovery != nil {
		prune = append(prune, rep.Recovery.StateDirs...)
		prune = append(prune, rep.Recovery.Prune...)
	}
	if st, err = in.readState(); err != nil {
		return rep, err
	}
	if st == nil {
		rep.NothingInstalled = true
		return rep, nil
	}
	rep.Bundle = st.Bundle
	t, err := in.target()
	if err != nil {
		return rep, err
	}
	p, left, err := in.uninstallPlan(st, t)
	if err != nil {
		return rep, err
	}
	rep.Actions, rep.Left = p.Actions, left
	run, err := txn.Begin(env, txn.KindUninstall, st.Bundle.Name, st.Bundle.Sequence, nil)
	if err != nil {
		return rep, err
	}
	rep.RunID = run.ID()
	for i := range p.Actions {
		a := &p.Actions[i]
		if !a.Changes() {
			continue
		}
		in.progress(Event{Kind: EventPhase, Desc: a.Describe()})
		if err := run.Execute(ctx, p, a); err != nil {
			rep.Steps = run.Steps()
			return rep, rollbackError(run.Rollback(ctx, fmt.Errorf("%s: %w", a.Describe(), err)))
		}
	}
	dirs := slices.Clone(st.Dirs)
	// Deepest first, so parents empty out before they are tried.
	slices.SortFunc(dirs, func(a, b rootfs.Path) int { return strings.Count(string(b), "/") - strings.Count(string(a), "/") })
	if err := run.Commit(nil, plan.Discards(p), dirs); err != nil {
		rep.Steps = run.Steps()
		return rep, rollbackError(run.Rollback(ctx, fmt.Errorf("removing the state: %w", err)))
	}
	rep.Steps = run.Steps()
	prune = append(prune, dirs...)
	if len(st.Images) > 0 {
		rep.Notes = append(rep.Notes, "images stay in containerd and Docker; remove them with `ctr -n k8s.io images rm REF` or `docker rmi REF`")
	}
	return rep, nil
}

// uninstallPlan probes the root until plan.Uninstall has all it needs.
func (in *Installer) uninstallPlan(st *state.State, t plan.Target) (*plan.Plan, []string, error) {
	tree := plan.NewMapTree()
	for range maxProbeRounds {
		p, left, err := plan.Uninstall(plan.UninstallInput{Previous: st, Target: t, Tree: tree})
		var need *plan.NeedError
		if !errors.As(err, &need) {
			return p, left, err
		}
		if err := probe.Fill(in.root, tree, need); err != nil {
			return nil, nil, err
		}
	}
	return nil, nil, errors.New("internal: the uninstall plan kept asking for more of the tree")
}

// Status is what status reports.
type Status struct {
	Root      string `json:"root"`
	Installed bool   `json:"installed"`
	// Interrupted names the run an interrupted apply or uninstall left a
	// journal for; the next apply or uninstall repairs it.
	Interrupted string               `json:"interrupted,omitempty"`
	Bundle      *state.BundleInfo    `json:"bundle,omitempty"`
	When        time.Time            `json:"when,omitempty"`
	Files       int                  `json:"files"`
	Missing     []string             `json:"missing,omitempty"`
	Modified    []string             `json:"modified,omitempty"`
	Units       []string             `json:"units,omitempty"`
	Enabled     []string             `json:"enabled,omitempty"`
	Images      []state.Image        `json:"images,omitempty"`
	History     []state.HistoryEntry `json:"history,omitempty"`
	// SBOM and Provenance are where the installed bundle's SBOM and
	// provenance are kept (paths inside the root), when it carried them.
	SBOM       string `json:"sbom,omitempty"`
	Provenance string `json:"provenance,omitempty"`
}

// Status reads the state and checks each recorded file against it.
func (in *Installer) Status(ctx context.Context) (*Status, error) {
	s := &Status{Root: in.o.root}
	j, err := txn.Read(in.root)
	if err != nil {
		return nil, err
	}
	if j != nil {
		s.Interrupted = j.RunID
	}
	st, err := in.readState()
	if err != nil || st == nil {
		return s, err
	}
	s.Installed, s.Bundle, s.When = true, &st.Bundle, st.When
	s.Units, s.Enabled, s.Images, s.History = st.Units, st.Enabled, st.Images, st.History
	for _, f := range st.Files {
		if f.Preexisting {
			continue
		}
		s.Files++
		if f.Kind == state.KindRecord {
			switch f.Path {
			case state.SBOMPath:
				s.SBOM = string(f.Path)
			case state.ProvenancePath:
				s.Provenance = string(f.Path)
			}
		}
		if f.Path.Within(state.ImageDir) {
			continue // removed by the import at first start
		}
		info, err := in.root.Lstat(f.Path)
		switch {
		case errors.Is(err, fs.ErrNotExist):
			s.Missing = append(s.Missing, string(f.Path))
			continue
		case err != nil:
			return nil, err
		}
		modified := false
		if f.Kind == state.KindSymlink {
			modified = !info.IsSymlink() || info.Target != f.Target
		} else if !info.IsRegular() {
			modified = true
		} else if d, err := probe.Digest(in.root, f.Path); err != nil || d != f.Digest {
			modified = true
		}
		if modified {
			s.Modified = append(s.Modified, string(f.Path))
		}
	}
	return s, nil
}

// Recover rolls back (or finishes) an interrupted apply or uninstall, as
// the next Apply or Uninstall would first; nil when there was none.
func (in *Installer) Recover(ctx context.Context) (*Recovery, error) {
	j, err := txn.Read(in.root)
	if err != nil || j == nil {
		return nil, err
	}
	unlock, _, err := in.lock()
	if err != nil {
		return nil, err
	}
	rec, err := txn.Recover(ctx, in.env(nil))
	unlock()
	if err == nil && rec != nil {
		in.cleanupIfEmpty(append(rec.StateDirs, rec.Prune...)...)
	}
	return rec, err
}
