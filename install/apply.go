package install

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// KindState is the plan entry for state.json, listed when what it would
// record differs from what it records.
const KindState = "state"

// Report is what Apply did.
type Report struct {
	Plan *Plan `json:"plan"`
	// RunID names the journaled run; empty when nothing needed doing.
	RunID    string    `json:"runID,omitempty"`
	Recovery *Recovery `json:"recovery,omitempty"`
	// Steps is the number of journal steps carried out.
	Steps   int     `json:"steps"`
	Changed bool    `json:"changed"`
	Seconds float64 `json:"seconds"`
}

// Apply verifies every blob of src, rolls back (or finishes) an
// interrupted earlier run, computes the plan and carries it out, one
// journaled step per change, then records the state. A failing step rolls
// back every change of this run. Running it again with the same bundle
// changes nothing.
func (in *Installer) Apply(ctx context.Context, src *Source) (*Report, error) {
	start := in.now()
	if !src.Verified && !src.Insecure {
		return nil, manifest.VerificationError(manifest.Hintf("pass --key with the publisher's public key", "the bundle's signature was not checked"))
	}
	// Every blob is checked before the first byte is written anywhere.
	in.phase("checking blob digests")
	err := src.bundle.VerifyBlobs(src.Index, func(done, total int64) {
		in.progress(Event{Kind: EventBytes, Desc: "checking blob digests", Done: done, Total: total})
	})
	if err != nil {
		return nil, manifest.WithExitCode(err, manifest.ExitVerification)
	}
	plan, err := in.Plan(ctx, src)
	if err != nil {
		return nil, err
	}
	rep := &Report{Plan: plan}
	if plan.Preflight.Failed {
		return rep, preflightError(plan.Preflight)
	}
	if !plan.Changed {
		rep.Seconds = in.now().Sub(start).Seconds()
		return rep, nil
	}
	stateDirs, err := in.stateDirsToCreate()
	if err != nil {
		return nil, err
	}
	unlock, err := in.lock()
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rep.Recovery, err = in.recover(ctx); err != nil {
		return rep, err
	}
	if rep.Recovery != nil {
		if st, _ := in.readState(); st == nil {
			// A rolled-back first install created satchel's directories.
			for _, d := range rep.Recovery.stateDirs {
				if !slices.Contains(stateDirs, d) {
					stateDirs = append(stateDirs, d)
				}
			}
		}
		// The tree changed under the first plan: plan again.
		if plan, err = in.Plan(ctx, src); err != nil {
			return rep, err
		}
		rep.Plan = plan
		if !plan.Changed {
			rep.Changed = true
			rep.Seconds = in.now().Sub(start).Seconds()
			return rep, nil
		}
	}
	r := in.newRun("apply", src.Index.Name, src.Index.Sequence)
	r.stateDirs, r.j.StateDirs = stateDirs, stateDirs
	rep.RunID = r.j.RunID
	changes := plan.Changes()
	n := 0
	for _, a := range changes {
		if a.Kind != KindState {
			n++
		}
	}
	i := 0
	for _, a := range changes {
		if a.Kind == KindState {
			continue
		}
		i++
		in.progress(Event{Kind: EventPhase, Desc: fmt.Sprintf("[%d/%d] %s", i, n, a.Describe())})
		if err := r.execute(ctx, plan, a); err != nil {
			rep.Steps = len(r.j.Steps)
			return rep, r.rollback(ctx, fmt.Errorf("%s: %w", a.Describe(), err))
		}
	}
	st := in.buildState(plan, r.originals, r.createdDirs())
	st.RunID, st.When = r.j.RunID, in.now().UTC().Truncate(time.Second)
	var discard []string
	for _, a := range changes {
		if a.Change == ChangeRestore {
			discard = append(discard, a.original)
		}
	}
	if err := r.commitState(st, discard, nil); err != nil {
		rep.Steps = len(r.j.Steps)
		return rep, r.rollback(ctx, fmt.Errorf("recording the state: %w", err))
	}
	rep.Steps, rep.Changed = len(r.j.Steps), true
	rep.Seconds = in.now().Sub(start).Seconds()
	plan.finish() // completions generated or skipped changed their entries
	return rep, nil
}

// Describe says what an action does, in a few words.
func (a *Action) Describe() string {
	switch a.Kind {
	case KindService:
		if a.Change == ChangeReload {
			return "systemctl daemon-reload"
		}
		return a.Change + " " + a.Unit
	case KindImage:
		switch a.Change {
		case ChangeImport:
			return "import " + a.Ref + " into containerd (" + strings.Join(a.Namespaces, ", ") + ")"
		case ChangeDockerLoad:
			return "docker load " + a.Ref
		case ChangeStage:
			return "stage " + a.Ref + " as " + a.Path
		}
		return a.Change + " " + a.Ref
	case KindRuntimeClass:
		return "kubectl apply -f " + a.Path
	}
	return a.Change + " " + a.Kind + " " + a.Path
}

// stateDirsToCreate lists the directories of StateDir that do not exist
// yet (in-root), so uninstall can remove them again.
func (in *Installer) stateDirsToCreate() ([]string, error) {
	hp, err := in.path(StateDir)
	if err != nil {
		return nil, err
	}
	dirs, err := missingDirs(hp)
	if err != nil {
		return nil, err
	}
	return in.inRootAll(dirs), nil
}

// lock keeps two installers off one root.
func (in *Installer) lock() (func(), error) {
	hp, err := in.path(LockPath)
	if err != nil {
		return nil, err
	}
	dirs, err := missingDirs(filepath.Dir(hp))
	if err != nil {
		return nil, err
	}
	if err := mkdirs(dirs); err != nil {
		return nil, fmt.Errorf("creating %s: %w", StateDir, err)
	}
	f, err := os.OpenFile(hp, os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening lock: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, manifest.Hintf("wait for the other satchel-install to finish (see "+LockPath+")",
			"another satchel-install is working on %s", in.root)
	}
	return func() { f.Close() }, nil
}

// inRoot turns a host path under the root into its in-root form.
func (in *Installer) inRoot(hp string) string {
	if in.root == "/" {
		return hp
	}
	rel := strings.TrimPrefix(hp, in.root)
	if rel == "" {
		return "/"
	}
	return rel
}

func (in *Installer) inRootAll(hps []string) []string {
	out := make([]string, len(hps))
	for i, h := range hps {
		out[i] = in.inRoot(h)
	}
	return out
}

// createdDirs lists every directory the run created (in-root), for state.Dirs.
func (r *run) createdDirs() []string {
	dirs := slices.Clone(r.stateDirs)
	for _, s := range r.j.Steps {
		for _, d := range s.Dirs {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

// backupFor picks where the current file at p is kept before it changes:
// the pre-satchel original is kept until uninstall, anything satchel wrote
// itself only until this run commits.
func (r *run) backupFor(p string, prev *State) string {
	f, known := prev.File(p)
	owned := known && !f.Preexisting
	if !owned && (!known || f.Original == "") {
		orig := path.Join(OriginalDir, p)
		if hp, err := r.in.path(orig); err == nil {
			if _, err := os.Lstat(hp); err != nil {
				r.originals[p] = orig
				return orig
			}
		}
	}
	return path.Join(RunBackupDir, r.j.RunID, p)
}

// execute carries out one action as one journal step.
func (r *run) execute(ctx context.Context, p *Plan, a *Action) error {
	in := r.in
	switch a.Change {
	case ChangeRemove:
		return r.remove(p, a)
	case ChangeRestore:
		return r.write(p, a)
	}
	switch a.Kind {
	case KindService:
		switch a.Change {
		case ChangeReload:
			return r.step(journalStep{Op: opReload, Desc: a.Describe()}, func() error { return in.svc.reload(ctx) })
		case ChangeEnable:
			dirs, err := r.enableDirs(a.Unit)
			if err != nil {
				return err
			}
			return r.step(journalStep{Op: opEnable, Unit: a.Unit, Dirs: dirs, Desc: a.Describe()}, func() error { return in.svc.enable(ctx, a.Unit, false) })
		case ChangeStart:
			return r.step(journalStep{Op: opStart, Unit: a.Unit, Desc: a.Describe()}, func() error { return in.svc.start(ctx, a.Unit) })
		case ChangeRestart:
			return r.step(journalStep{Op: opRun, Unit: a.Unit, Desc: a.Describe()}, func() error { return in.svc.restart(ctx, a.Unit) })
		case ChangeDisable:
			return r.step(journalStep{Op: opDisable, Unit: a.Unit, Was: true, Desc: a.Describe()}, func() error { return in.svc.disable(ctx, a.Unit) })
		}
	case KindImage:
		switch a.Change {
		case ChangeImport:
			return r.step(journalStep{Op: opRun, Desc: a.Describe()}, func() error {
				return in.importImage(ctx, a.tool, p.src, p.Bundle.Platform, a.image, a.Namespaces)
			})
		case ChangeDockerLoad:
			return r.step(journalStep{Op: opRun, Desc: a.Describe()}, func() error {
				return in.dockerLoad(ctx, a.tool, p.src, p.Bundle.Platform, a.image)
			})
		case ChangeStage:
			return r.write(p, a)
		}
	case KindRuntimeClass:
		rc, err := in.path(a.Path)
		if err != nil {
			return err
		}
		return r.step(journalStep{Op: opRun, Desc: a.Describe()}, func() error {
			_, err := in.runner.Run(ctx, Cmd{Path: a.tool, Args: []string{"--kubeconfig", in.kubeconfig, "apply", "-f", rc}, Timeout: 2 * time.Minute})
			return err
		})
	default:
		switch a.Change {
		case ChangeRemove:
			return r.remove(p, a)
		case ChangeGenerate:
			out, err := in.runCompletion(ctx, a.binary)
			if err != nil {
				// Not a failure: a tool for another architecture, say.
				a.Change, a.Note = ChangeSkip, err.Error()
				return nil
			}
			a.data = out
			a.Digest = manifest.DigestOf(manifest.SHA256, out)
			a.Change = ChangeNew
			if hp, err := in.path(a.Path); err == nil {
				if cur, _ := inspect(hp); cur.Kind != "" {
					a.Change = ChangeReplace
				}
			}
			return r.write(p, a)
		default:
			return r.write(p, a)
		}
	}
	return fmt.Errorf("internal: no way to carry out %s %s", a.Kind, a.Change)
}

// step journals s, runs fn and marks the step done.
func (r *run) step(s journalStep, fn func() error) error {
	rec, err := r.record(s)
	if err != nil {
		return err
	}
	if err := fn(); err != nil {
		return err
	}
	r.done(rec)
	return nil
}

// enableDirs are the .wants directories enabling unit creates (in-root).
func (r *run) enableDirs(unit string) ([]string, error) {
	links, err := r.in.svc.installLinks(unit)
	if err != nil {
		return nil, err
	}
	var dirs []string
	for _, l := range links {
		hp, err := r.in.path(path.Dir(l))
		if err != nil {
			return nil, err
		}
		m, err := missingDirs(hp)
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, r.in.inRootAll(m)...)
	}
	return dirs, nil
}

// write puts an action's content at its path: journal, parents, backup,
// temporary file, fsync, rename, fsync directory.
func (r *run) write(p *Plan, a *Action) error {
	in := r.in
	hp, err := in.path(a.Path)
	if err != nil {
		return err
	}
	cur, err := inspect(hp)
	if err != nil {
		return err
	}
	if cur.Kind == "other" {
		return manifest.Hintf("move it aside; satchel replaces only files and symlinks", "%s is a %s", a.Path, cur.Mode.Type())
	}
	dirs, err := missingDirs(filepath.Dir(hp))
	if err != nil {
		return err
	}
	tmp := tempName(hp, fmt.Sprintf("%s-%d", r.j.RunID, len(r.j.Steps)+1))
	s := journalStep{Op: opWrite, Path: a.Path, Existed: cur.Kind != "", Temp: in.inRoot(tmp), Dirs: in.inRootAll(dirs), Desc: a.Describe()}
	if s.Existed {
		s.Backup = r.backupFor(a.Path, p.previous)
	}
	rec, err := r.record(s)
	if err != nil {
		return err
	}
	if err := mkdirs(dirs); err != nil {
		return err
	}
	if s.Existed {
		bh, err := in.path(s.Backup)
		if err != nil {
			return err
		}
		if err := copyAside(hp, bh); err != nil {
			return fmt.Errorf("backing up %s: %w", a.Path, err)
		}
	}
	mode := os.FileMode(a.Mode).Perm()
	switch {
	case a.Change == ChangeRestore:
		oh, err := in.path(a.original)
		if err != nil {
			return err
		}
		err = copyVia(oh, hp, tmp)
		if err != nil {
			return fmt.Errorf("restoring %s from %s: %w", a.Path, a.original, err)
		}
	case a.Kind == KindSymlink:
		if err := symlinkAtomic(hp, tmp, a.Target); err != nil {
			return err
		}
	case a.data != nil:
		if err := writeAtomic(hp, tmp, bytes.NewReader(a.data), mode); err != nil {
			return err
		}
	case a.open != nil:
		rc, err := a.open()
		if err != nil {
			return err
		}
		err = writeAtomic(hp, tmp, rc, mode)
		rc.Close()
		if err != nil {
			return err
		}
	case a.stream != nil:
		h := sha256.New()
		err := in.streamInto(context.Background(), func(w io.Writer) error {
			return a.stream(io.MultiWriter(w, h))
		}, func(rd io.Reader) error {
			return writeAtomic(hp, tmp, rd, mode)
		})
		if err != nil {
			return err
		}
		a.Digest = manifest.FromHash(manifest.SHA256, h)
	default:
		return fmt.Errorf("internal: no content for %s", a.Path)
	}
	r.changed = append(r.changed, a.Path)
	r.done(rec)
	return nil
}

// remove takes a file away, keeping a copy until the run commits.
func (r *run) remove(p *Plan, a *Action) error {
	in := r.in
	hp, err := in.path(a.Path)
	if err != nil {
		return err
	}
	if _, err := os.Lstat(hp); err != nil {
		return nil // already gone
	}
	s := journalStep{Op: opRemove, Path: a.Path, Existed: true, Backup: path.Join(RunBackupDir, r.j.RunID, a.Path), Desc: a.Describe()}
	rec, err := r.record(s)
	if err != nil {
		return err
	}
	bh, err := in.path(s.Backup)
	if err != nil {
		return err
	}
	if err := copyAside(hp, bh); err != nil {
		return fmt.Errorf("backing up %s: %w", a.Path, err)
	}
	if err := removeFile(hp); err != nil {
		return err
	}
	r.changed = append(r.changed, a.Path)
	r.done(rec)
	return nil
}

// commitState journals the commit, then writes (or, for uninstall, removes)
// state.json: the point after which the run counts as done. Then backups
// of this run, originals put back (discard) and emptied directories
// (prune) go, and the journal last.
func (r *run) commitState(st *State, discard, prune []string) error {
	in := r.in
	rec, err := r.record(journalStep{Op: opCommit, Desc: "record state", Discard: discard, Prune: prune})
	if err != nil {
		return err
	}
	hp, err := in.path(StatePath)
	if err != nil {
		return err
	}
	if st != nil {
		b, err := st.encode()
		if err != nil {
			return err
		}
		if err := writeAtomic(hp, hp+tempSuffix, bytes.NewReader(b), 0o644); err != nil {
			return err
		}
	} else if err := removeFile(hp); err != nil {
		return err
	}
	r.done(rec)
	return in.finish(&r.j, true)
}

// rollback undoes this run after a failed step and returns the error to report.
func (r *run) rollback(ctx context.Context, cause error) error {
	in := r.in
	in.phase("rolling back")
	if err := in.undo(ctx, r.j.Steps); err != nil {
		return manifest.HintError(fmt.Errorf("%w; rolling back failed too: %v", cause, err),
			"fix the cause; the next satchel-install run finishes the rollback from "+JournalPath)
	}
	if err := in.finish(&r.j, false); err != nil {
		return fmt.Errorf("%w; cleaning up after rollback: %v", cause, err)
	}
	if manifest.Hint(cause) != "" {
		return fmt.Errorf("%w (every change of this run was rolled back)", cause)
	}
	return manifest.WithExitCode(manifest.HintError(fmt.Errorf("%w; every change of this run was rolled back", cause),
		"fix the cause and run apply again"), manifest.ExitCode(cause))
}

// buildState is what state.json records after the plan is carried out.
func (in *Installer) buildState(p *Plan, originals map[string]string, dirs []string) *State {
	prev := p.previous
	st := &State{Version: stateVersion, Bundle: p.Bundle}
	units := map[string]bool{}
	for _, a := range p.Actions {
		switch a.Kind {
		case KindFile, KindSymlink, KindConfig, KindUnit, KindCompletion, KindInstaller:
		case KindImage:
			switch a.Change {
			case ChangeImport, ChangeDockerLoad, ChangeStage, ChangeUnchanged:
				in.recordImage(st, p, a)
			}
		default:
			continue
		}
		if a.Path == "" {
			continue
		}
		switch a.Change {
		case ChangeRemove, ChangeRestore, ChangeSkip, ChangeGenerate:
			continue
		}
		f := StateFile{Path: a.Path, Kind: a.Kind, Component: a.Component, Mode: a.Mode, Digest: a.Digest, Target: a.Target}
		if a.Kind == KindSymlink {
			f.Mode, f.Digest = 0, ""
		}
		if pf, ok := prev.File(a.Path); ok {
			f.Original = pf.Original
			f.Preexisting = pf.Preexisting && a.Change == ChangeUnchanged
		}
		if o, ok := originals[a.Path]; ok {
			f.Original, f.Preexisting = o, false
		}
		if a.preexist {
			f.Preexisting = true
		}
		st.Files = append(st.Files, f)
		if a.Kind == KindUnit {
			units[path.Base(a.Path)] = true
		}
	}
	for _, f := range p.carried {
		st.Files = append(st.Files, f)
	}
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
			st.History = append(slices.Clone(prev.History), HistoryEntry{Name: prev.Bundle.Name, Version: prev.Bundle.Version, Sequence: prev.Bundle.Sequence, When: prev.When})
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

func (in *Installer) recordImage(st *State, p *Plan, a Action) {
	i := slices.IndexFunc(st.Images, func(s StateImage) bool { return s.Ref == a.Ref })
	if i < 0 {
		st.Images = append(st.Images, StateImage{Ref: a.Ref, Digest: a.image.Digest, Role: a.image.Role})
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

// sameState compares what two states record, ignoring when and by which run.
func sameState(a, b *State) bool {
	if a == nil || b == nil {
		return a == b
	}
	strip := func(s State) []byte {
		s.RunID, s.When, s.History = "", time.Time{}, nil
		j, _ := json.Marshal(s)
		return j
	}
	return bytes.Equal(strip(*a), strip(*b))
}
