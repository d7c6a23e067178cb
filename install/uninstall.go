package install

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"
)

// UninstallReport is what Uninstall did.
type UninstallReport struct {
	// NothingInstalled is set when the root had no satchel state.
	NothingInstalled bool       `json:"nothingInstalled,omitempty"`
	Bundle           BundleInfo `json:"bundle"`
	Actions          []Action   `json:"actions"`
	// Left lists files satchel wrote that were changed since and stay.
	Left     []string  `json:"left,omitempty"`
	RunID    string    `json:"runID,omitempty"`
	Steps    int       `json:"steps"`
	Recovery *Recovery `json:"recovery,omitempty"`
	Notes    []string  `json:"notes,omitempty"`
}

// Uninstall removes what the state records: units are disabled (and
// stopped on the running system), every file satchel wrote is removed or,
// where it replaced one, the original is put back byte for byte; files
// changed since the install stay and are reported. It is journaled like
// apply, so an interrupted uninstall is rolled back by the next run.
func (in *Installer) Uninstall(ctx context.Context) (*UninstallReport, error) {
	rep := &UninstallReport{}
	st, err := in.readState()
	if err != nil {
		return nil, err
	}
	j, err := in.readJournal()
	if err != nil {
		return nil, err
	}
	if st == nil && j == nil {
		rep.NothingInstalled = true
		return rep, nil
	}
	unlock, err := in.lock()
	if err != nil {
		return nil, err
	}
	locked := true
	defer func() {
		if locked {
			unlock()
		}
	}()
	if rep.Recovery, err = in.recover(ctx); err != nil {
		return rep, err
	}
	if st, err = in.readState(); err != nil {
		return rep, err
	}
	if st == nil {
		unlock()
		locked = false
		in.cleanupIfEmpty(rep.Recovery)
		rep.NothingInstalled = true
		return rep, nil
	}
	rep.Bundle = st.Bundle

	p := &Plan{Root: in.root, Live: in.Live(), Online: in.svc.Online(), previous: st}
	for _, u := range st.Enabled {
		p.add(Action{Kind: KindService, Change: ChangeDisable, Unit: u})
	}
	unitsGone := false
	for i := len(st.Files) - 1; i >= 0; i-- {
		a, err := in.removalAction(st.Files[i])
		if err != nil {
			return rep, err
		}
		if a == nil {
			continue
		}
		if a.Change == ChangeSkip {
			rep.Left = append(rep.Left, a.Path)
		} else if a.Kind == KindUnit {
			unitsGone = true
		}
		p.add(*a)
	}
	if unitsGone && p.Online {
		p.add(Action{Kind: KindService, Change: ChangeReload})
	}
	slices.Sort(rep.Left)
	rep.Actions = p.Actions

	r := in.newRun("uninstall", st.Bundle.Name, st.Bundle.Sequence)
	rep.RunID = r.j.RunID
	var discard []string
	for i := range p.Actions {
		a := &p.Actions[i]
		if !a.Changes() {
			continue
		}
		in.progress(Event{Kind: EventPhase, Desc: a.Describe()})
		if err := r.execute(ctx, p, a); err != nil {
			rep.Steps = len(r.j.Steps)
			return rep, r.rollback(ctx, fmt.Errorf("%s: %w", a.Describe(), err))
		}
		if a.Change == ChangeRestore {
			discard = append(discard, a.original)
		}
	}
	dirs := slices.Clone(st.Dirs)
	// Deepest first, so parents empty out before they are tried.
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	if err := r.commitState(nil, discard, dirs); err != nil {
		rep.Steps = len(r.j.Steps)
		return rep, r.rollback(ctx, fmt.Errorf("removing the state: %w", err))
	}
	rep.Steps = len(r.j.Steps)
	// The lock and satchel's own directories go last.
	unlock()
	locked = false
	in.cleanupIfEmpty(&Recovery{prune: dirs})
	if len(st.Images) > 0 {
		rep.Notes = append(rep.Notes, "images stay in containerd and Docker; remove them with `ctr -n k8s.io images rm REF` or `docker rmi REF`")
	}
	return rep, nil
}

// Status is what status reports.
type Status struct {
	Root      string `json:"root"`
	Installed bool   `json:"installed"`
	// Interrupted names the run an interrupted apply or uninstall left a
	// journal for; the next apply or uninstall repairs it.
	Interrupted string         `json:"interrupted,omitempty"`
	Bundle      *BundleInfo    `json:"bundle,omitempty"`
	When        time.Time      `json:"when,omitempty"`
	Files       int            `json:"files"`
	Missing     []string       `json:"missing,omitempty"`
	Modified    []string       `json:"modified,omitempty"`
	Units       []string       `json:"units,omitempty"`
	Enabled     []string       `json:"enabled,omitempty"`
	Images      []StateImage   `json:"images,omitempty"`
	History     []HistoryEntry `json:"history,omitempty"`
}

// Status reads the state and checks each recorded file against it.
func (in *Installer) Status(ctx context.Context) (*Status, error) {
	s := &Status{Root: in.root}
	j, err := in.readJournal()
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
		if strings.HasPrefix(f.Path, ImageStageDir+"/") {
			continue // removed by the import at first start
		}
		hp, err := in.path(f.Path)
		if err != nil {
			return nil, err
		}
		cur, err := inspect(hp)
		if err != nil {
			return nil, err
		}
		switch {
		case cur.Kind == "":
			s.Missing = append(s.Missing, f.Path)
		case f.Kind == KindSymlink && cur.Target != f.Target, f.Kind != KindSymlink && cur.Digest != f.Digest:
			s.Modified = append(s.Modified, f.Path)
		}
	}
	return s, nil
}
