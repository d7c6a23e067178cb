package txn

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/systemd"
	"github.com/satchel-dev/satchel/manifest"
)

// tempSuffix marks the installer's temporary files.
const tempSuffix = ".satchel-tmp"

// Bundle is where the content of bundle files and images comes from.
type Bundle interface {
	images.BlobReader
	OpenFile(f manifest.File) (io.ReadCloser, error)
}

// Event is one progress report.
type Event struct {
	Kind  EventKind
	Desc  string
	Step  int
	Steps int
	Done  int64
	Total int64
}

// EventKind says what an Event reports.
type EventKind string

// Event kinds.
const (
	EventPhase EventKind = "phase" // a phase begins: Desc names it
	EventStep  EventKind = "step"  // journal step Step finished: Desc says what it did
	EventBytes EventKind = "bytes" // Done of Total bytes of a long step
)

// Env is what a run acts on and with.
type Env struct {
	Root    *rootfs.Root
	Runner  runner.Runner
	Systemd *systemd.Manager
	Images  *importer.Client
	// Bundle gives content for apply (nil for uninstall).
	Bundle Bundle
	// Kubeconfig is passed to kubectl.
	Kubeconfig string
	Progress   func(Event)
	Warn       func(string)
	Now        func() time.Time
}

func (e *Env) progress(ev Event) {
	if e.Progress != nil {
		e.Progress(ev)
	}
}

func (e *Env) warnf(format string, args ...any) {
	if e.Warn != nil {
		e.Warn(fmt.Sprintf(format, args...))
	}
}

// Run is one journaled execution (an apply or an uninstall).
type Run struct {
	env      *Env
	header   Header
	steps    []Step
	w        *writer
	crashAt  int
	crashAt0 bool // crash after recording, before running
	// Originals maps a path to the backup of its pre-satchel file made by
	// this run (for the state's Original).
	Originals map[rootfs.Path]rootfs.Path
	// Changed lists paths written or removed, for the report.
	Changed []rootfs.Path
}

// NewRunID names a run: when it started, and 8 random hex digits.
func NewRunID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Begin starts a journaled run by writing the journal's header.
// stateDirs are the directories of state.Dir the caller created for it
// (taking the lock), so that undoing a first install removes them too.
func Begin(env *Env, kind Kind, bundle string, seq uint64, stateDirs []rootfs.Path) (*Run, error) {
	now := env.Now()
	r := &Run{env: env, Originals: map[rootfs.Path]rootfs.Path{},
		header: Header{RunID: NewRunID(now), Kind: kind, Bundle: bundle, Sequence: seq, Started: now.UTC()}}
	if v := os.Getenv(CrashEnv); v != "" {
		n, before := strings.CutSuffix(v, "-")
		r.crashAt, _ = strconv.Atoi(n)
		r.crashAt0 = before
	}
	r.header.StateDirs = stateDirs
	f, err := env.Root.OpenAppend(state.JournalPath, 0o600)
	if err != nil {
		return nil, err
	}
	if err := f.Truncate(0); err != nil {
		f.Close()
		return nil, err
	}
	r.w = &writer{f: f}
	if err := r.w.append(r.header); err != nil {
		f.Close()
		return nil, err
	}
	return r, nil
}

// ID returns the run's id.
func (r *Run) ID() string { return r.header.RunID }

// Steps is the number of steps recorded.
func (r *Run) Steps() int { return len(r.steps) }

// StateDirs are the directories of state.Dir this run created.
func (r *Run) StateDirs() []rootfs.Path { return r.header.StateDirs }

// CreatedDirs lists every directory the run created, for state.Dirs.
func (r *Run) CreatedDirs() []rootfs.Path {
	dirs := slices.Clone(r.header.StateDirs)
	for _, s := range r.steps {
		for _, d := range s.Dirs {
			if !slices.Contains(dirs, d) {
				dirs = append(dirs, d)
			}
		}
	}
	return dirs
}

func (r *Run) close() {
	if r.w != nil {
		r.w.f.Close()
		r.w = nil
	}
}

// record appends s to the journal and makes it durable before the step runs.
func (r *Run) record(s Step) (*Step, error) {
	s.N = len(r.steps) + 1
	if err := r.w.append(s); err != nil {
		return nil, err
	}
	r.steps = append(r.steps, s)
	if r.crashAt0 && s.N == r.crashAt {
		os.Exit(137)
	}
	return &r.steps[len(r.steps)-1], nil
}

// done is called after a step completed; it is where the crash hook fires.
func (r *Run) done(s *Step) {
	r.env.progress(Event{Kind: EventStep, Step: s.N, Desc: s.Desc})
	if !r.crashAt0 && r.crashAt > 0 && s.N == r.crashAt {
		os.Exit(137)
	}
}

// step journals s, runs fn and marks the step done.
func (r *Run) step(s Step, fn func() error) error {
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

// Execute carries out one action of p as one journal step.
func (r *Run) Execute(ctx context.Context, p *plan.Plan, a *plan.Action) error {
	env := r.env
	switch a.Change {
	case plan.ChangeRemove:
		return r.remove(a)
	case plan.ChangeRestore, plan.ChangeRevert:
		return r.write(p, a)
	}
	switch a.Kind {
	case plan.KindService:
		sd := env.Systemd
		switch a.Change {
		case plan.ChangeReload:
			return r.step(Step{Op: OpReload, Desc: a.Describe()}, func() error { return sd.Reload(ctx) })
		case plan.ChangeEnable:
			dirs, err := r.enableDirs(a.Unit)
			if err != nil {
				return err
			}
			return r.step(Step{Op: OpEnable, Unit: a.Unit, Dirs: dirs, Desc: a.Describe()}, func() error { return sd.Enable(ctx, a.Unit) })
		case plan.ChangeStart:
			return r.step(Step{Op: OpStart, Unit: a.Unit, Desc: a.Describe()}, func() error { return sd.Start(ctx, a.Unit) })
		case plan.ChangeRestart:
			return r.step(Step{Op: OpRun, Unit: a.Unit, Desc: a.Describe()}, func() error { return sd.Restart(ctx, a.Unit) })
		case plan.ChangeDisable:
			return r.step(Step{Op: OpDisable, Unit: a.Unit, Was: true, Desc: a.Describe()}, func() error { return sd.Disable(ctx, a.Unit) })
		}
	case plan.KindImage:
		switch a.Change {
		case plan.ChangeImport:
			return r.step(Step{Op: OpRun, Desc: a.Describe()}, func() error {
				return env.Images.Import(ctx, a.Tool, p.Index, *a.Content.Image, env.Bundle, p.Bundle.Platform, a.Namespaces)
			})
		case plan.ChangeDockerLoad:
			return r.step(Step{Op: OpRun, Desc: a.Describe()}, func() error {
				return env.Images.DockerLoad(ctx, a.Tool, p.Index, *a.Content.Image, env.Bundle, p.Bundle.Platform)
			})
		case plan.ChangeStage:
			return r.write(p, a)
		}
	case plan.KindRuntimeClass:
		return r.step(Step{Op: OpRun, Desc: a.Describe()}, func() error {
			_, err := env.Runner.Run(ctx, runner.Cmd{Path: a.Tool, Args: []string{"--kubeconfig", env.Kubeconfig, "apply", "-f", env.Root.HostPath(a.Path)}, Timeout: 2 * time.Minute})
			return err
		})
	default:
		return r.write(p, a)
	}
	return fmt.Errorf("internal: no way to carry out %s %s", a.Kind, a.Change)
}

// enableDirs are the .wants directories enabling unit creates.
func (r *Run) enableDirs(unit string) ([]rootfs.Path, error) {
	links, err := r.env.Systemd.InstallLinks(unit)
	if err != nil {
		return nil, err
	}
	var dirs []rootfs.Path
	for _, l := range links {
		m, err := r.env.Root.MissingDirs(l.Dir())
		if err != nil {
			return nil, err
		}
		dirs = append(dirs, m...)
	}
	return dirs, nil
}

// backupFor picks where the current file at p is kept before it changes:
// the pre-satchel original is kept until uninstall, anything satchel wrote
// itself only until this run commits.
func (r *Run) backupFor(p rootfs.Path, prev *state.State) rootfs.Path {
	f, known := prev.File(p)
	owned := known && !f.Preexisting
	if !owned && (!known || f.Original == "") {
		orig := state.OriginalDir + p
		if _, err := r.env.Root.Lstat(orig); errors.Is(err, fs.ErrNotExist) {
			r.Originals[p] = orig
			return orig
		}
	}
	return state.RunBackupDir.Join(r.header.RunID) + p
}

// write puts an action's content at its path: journal, parents, backup,
// temporary file, fsync, rename, fsync directory.
func (r *Run) write(p *plan.Plan, a *plan.Action) error {
	root := r.env.Root
	cur, err := root.Lstat(a.Path)
	exists := err == nil
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if exists && !cur.IsRegular() && !cur.IsSymlink() {
		return manifest.Hintf("move it aside; satchel replaces only files and symlinks", "%s is a %s", a.Path, rootfs.TypeName(cur.Mode))
	}
	dirs, err := root.MissingDirs(a.Path.Dir())
	if err != nil {
		return err
	}
	tmp := "." + a.Path.Base() + "." + r.header.RunID + "-" + strconv.Itoa(len(r.steps)+1) + tempSuffix
	s := Step{Op: OpWrite, Path: a.Path, Existed: exists, Temp: a.Path.Dir().Join(tmp), Dirs: dirs, Desc: a.Describe()}
	if s.Existed {
		s.Backup = r.backupFor(a.Path, p.Previous)
	}
	rec, err := r.record(s)
	if err != nil {
		return err
	}
	if _, err := root.MkdirAll(a.Path.Dir()); err != nil {
		return err
	}
	if s.Existed {
		if err := root.CopyFile(a.Path, s.Backup, "."+s.Backup.Base()+tempSuffix); err != nil {
			return fmt.Errorf("backing up %s: %w", a.Path, err)
		}
	}
	owner := rootfs.NoOwner
	if a.Owner != nil {
		owner = rootfs.Owner{UID: a.Owner.UID, GID: a.Owner.GID}
	}
	mode := fs.FileMode(a.Mode).Perm()
	switch {
	case a.Kind == plan.KindSymlink && a.Change != plan.ChangeRevert:
		if a.Change == plan.ChangeRestore {
			err = root.CopyFile(a.Original, a.Path, tmp)
		} else {
			err = root.Symlink(a.Target, a.Path, tmp)
		}
	default:
		err = r.writeContent(p, a, tmp, mode, owner)
	}
	if err != nil {
		return err
	}
	r.Changed = append(r.Changed, a.Path)
	r.done(rec)
	return nil
}

func (r *Run) writeContent(p *plan.Plan, a *plan.Action, tmp string, mode fs.FileMode, owner rootfs.Owner) error {
	root := r.env.Root
	c := a.Content
	switch c.Kind {
	case plan.ContentBytes:
		return root.WriteFile(a.Path, tmp, bytes.NewReader(c.Data), mode, owner)
	case plan.ContentBundleFile:
		rc, err := r.env.Bundle.OpenFile(c.File)
		if err != nil {
			return err
		}
		defer rc.Close()
		return root.WriteFile(a.Path, tmp, rc, mode, owner)
	case plan.ContentHostFile:
		f, err := os.Open(c.HostPath)
		if err != nil {
			return err
		}
		defer f.Close()
		var r io.Reader = f
		if c.Length > 0 {
			r = io.LimitReader(f, c.Length)
		}
		return root.WriteFile(a.Path, tmp, r, mode, owner)
	case plan.ContentOriginal:
		return root.CopyFile(a.Original, a.Path, tmp)
	case plan.ContentImageArchive:
		return images.Stream(func(w io.Writer) error {
			return images.WriteArchive(w, p.Index, *c.Image, r.env.Bundle, p.Bundle.Platform, nil)
		}, func(rd io.Reader) error {
			return root.WriteFile(a.Path, tmp, rd, mode, owner)
		})
	}
	return fmt.Errorf("internal: no content for %s", a.Path)
}

// remove takes a file away, keeping a copy until the run commits.
func (r *Run) remove(a *plan.Action) error {
	root := r.env.Root
	if _, err := root.Lstat(a.Path); err != nil {
		return nil // already gone
	}
	s := Step{Op: OpRemove, Path: a.Path, Existed: true, Backup: state.RunBackupDir.Join(r.header.RunID) + a.Path, Desc: a.Describe()}
	rec, err := r.record(s)
	if err != nil {
		return err
	}
	if err := root.CopyFile(a.Path, s.Backup, "."+s.Backup.Base()+tempSuffix); err != nil {
		return fmt.Errorf("backing up %s: %w", a.Path, err)
	}
	if err := root.Remove(a.Path); err != nil {
		return err
	}
	r.Changed = append(r.Changed, a.Path)
	r.done(rec)
	return nil
}

// Commit journals the commit, then writes (or, for uninstall, removes)
// state.json: the point after which the run counts as done. Then backups
// of this run, discarded originals and emptied directories (prune) go,
// and the journal last.
func (r *Run) Commit(st *state.State, discard, prune []rootfs.Path) error {
	root := r.env.Root
	rec, err := r.record(Step{Op: OpCommit, Desc: "record state", Discard: discard, Prune: prune})
	if err != nil {
		return err
	}
	if st != nil {
		b, err := st.Encode()
		if err != nil {
			return err
		}
		if err := root.WriteFile(state.Path, "."+state.Path.Base()+tempSuffix, bytes.NewReader(b), 0o644, rootfs.NoOwner); err != nil {
			return err
		}
	} else if err := root.Remove(state.Path); err != nil {
		return err
	}
	r.done(rec)
	r.close()
	return finish(r.env, &Journal{Header: r.header, Steps: r.steps}, true)
}

// Rollback undoes this run after a failed step and returns the error to report.
func (r *Run) Rollback(ctx context.Context, cause error) error {
	r.close()
	r.env.progress(Event{Kind: EventPhase, Desc: "rolling back"})
	if err := undo(ctx, r.env, r.steps); err != nil {
		return &RollbackError{Cause: cause, Undo: err}
	}
	if err := finish(r.env, &Journal{Header: r.header, Steps: r.steps}, false); err != nil {
		return &RollbackError{Cause: cause, Cleanup: err}
	}
	return &RolledBackError{Cause: cause}
}

// RolledBackError is a failed run whose every change was undone.
type RolledBackError struct{ Cause error }

func (e *RolledBackError) Error() string {
	return e.Cause.Error() + " (every change of this run was rolled back)"
}
func (e *RolledBackError) Unwrap() error { return e.Cause }

// RollbackError is a failed run that could not be fully undone; the next
// run finishes the rollback from the journal.
type RollbackError struct {
	Cause, Undo, Cleanup error
}

func (e *RollbackError) Error() string {
	if e.Undo != nil {
		return fmt.Sprintf("%v; rolling back failed too: %v", e.Cause, e.Undo)
	}
	return fmt.Sprintf("%v; cleaning up after rollback: %v", e.Cause, e.Cleanup)
}
func (e *RollbackError) Unwrap() error { return e.Cause }
