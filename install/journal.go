package install

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/satchel-dev/satchel/manifest"
)

// CrashEnv names the test hook: when set to N, the process exits with
// status 137 (as after SIGKILL) right after journal step N is carried out.
const CrashEnv = "SATCHEL_TEST_CRASH_AFTER_STEP"

// Journal operations. Each records enough to be undone after a crash,
// whether or not the operation itself had finished.
const (
	opWrite   = "write"   // Path gets new content; a previous file is copied to Backup first
	opRemove  = "remove"  // Path is removed; its content is copied to Backup first
	opEnable  = "enable"  // Unit enabled
	opDisable = "disable" // Unit disabled
	opStart   = "start"   // Unit started
	opStop    = "stop"    // Unit stopped
	opReload  = "reload"  // systemctl daemon-reload
	opRun     = "run"     // a command without undo (image import, kubectl apply)
	opCommit  = "commit"  // state.json written: the run is complete
)

// journal is /var/lib/satchel/journal.json. It is rewritten and fsynced
// before every step, so after a crash it names every step that may have
// happened, and the next run undoes them in reverse.
type journal struct {
	RunID    string    `json:"runID"`
	Kind     string    `json:"kind"` // "apply" or "uninstall"
	Bundle   string    `json:"bundle,omitempty"`
	Sequence uint64    `json:"sequence,omitempty"`
	Started  time.Time `json:"started"`
	// StateDirs are the directories of StateDir the run created (in-root),
	// so that a rolled-back first install still removes them on uninstall.
	StateDirs []string      `json:"stateDirs,omitempty"`
	Steps     []journalStep `json:"steps"`
}

type journalStep struct {
	N       int    `json:"n"`
	Op      string `json:"op"`
	Path    string `json:"path,omitempty"`
	Existed bool   `json:"existed,omitempty"`
	Backup  string `json:"backup,omitempty"`
	Temp    string `json:"temp,omitempty"`
	// Dirs are the directories this step creates, outermost first.
	Dirs []string `json:"dirs,omitempty"`
	Unit string   `json:"unit,omitempty"`
	// Was records the unit's state before: enabled for enable/disable, active for start/stop.
	Was  bool   `json:"was,omitempty"`
	Desc string `json:"desc,omitempty"`
	// Discard (files) and Prune (directories, removed when empty) are
	// cleaned up once a commit step has taken effect.
	Discard []string `json:"discard,omitempty"`
	Prune   []string `json:"prune,omitempty"`
}

func newRunID(now time.Time) string {
	var b [4]byte
	rand.Read(b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// run is one journaled execution (an apply or an uninstall).
type run struct {
	in      *Installer
	j       journal
	crashAt int
	// changed lists in-root paths written or removed, for the report.
	changed []string
	// originals maps a path to the backup of its pre-satchel file made in this run.
	originals map[string]string
	// stateDirs are the directories of StateDir this run created.
	stateDirs []string
}

func (in *Installer) newRun(kind, bundle string, seq uint64) *run {
	r := &run{in: in, originals: map[string]string{}, j: journal{RunID: newRunID(in.now()), Kind: kind, Bundle: bundle, Sequence: seq, Started: in.now().UTC()}}
	if v := os.Getenv(CrashEnv); v != "" {
		r.crashAt, _ = strconv.Atoi(v)
	}
	return r
}

// record appends s to the journal and makes it durable before the step runs.
func (r *run) record(s journalStep) (*journalStep, error) {
	s.N = len(r.j.Steps) + 1
	r.j.Steps = append(r.j.Steps, s)
	if err := r.in.writeJournal(&r.j); err != nil {
		return nil, err
	}
	return &r.j.Steps[len(r.j.Steps)-1], nil
}

// done is called after a step completed; it is where the crash hook fires.
func (r *run) done(s *journalStep) {
	r.in.progress(Event{Kind: EventStep, Step: s.N, Desc: s.Desc})
	if r.crashAt > 0 && s.N == r.crashAt {
		os.Exit(137)
	}
}

func (in *Installer) writeJournal(j *journal) error {
	p, err := in.path(JournalPath)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(j, "", "  ")
	if err != nil {
		return err
	}
	dirs, err := missingDirs(filepath.Dir(p))
	if err != nil {
		return err
	}
	if err := mkdirs(dirs); err != nil {
		return err
	}
	if err := writeAtomic(p, p+tempSuffix, bytes.NewReader(append(b, '\n')), 0o600); err != nil {
		return fmt.Errorf("writing journal: %w", err)
	}
	return nil
}

func (in *Installer) readJournal() (*journal, error) {
	p, err := in.path(JournalPath)
	if err != nil {
		return nil, err
	}
	b, ok, err := readSmall(p)
	if err != nil || !ok {
		return nil, err
	}
	var j journal
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, manifest.HintError(fmt.Errorf("reading %s: %w", JournalPath, err),
			"the journal of an interrupted run is damaged; inspect it, restore files from "+BackupDir+" by hand, then remove it")
	}
	return &j, nil
}

// Recovery describes what the start of a run did about an interrupted one.
type Recovery struct {
	RunID string `json:"runID"`
	Kind  string `json:"kind"`
	// Outcome is "rolled-back" (the interrupted run's steps were undone) or
	// "completed" (it had committed; only its cleanup was left).
	Outcome string `json:"outcome"`
	Steps   int    `json:"steps"`

	stateDirs []string // the interrupted run's StateDirs
	prune     []string // a committed uninstall's directories to remove
}

// Recover rolls back (or finishes) an interrupted apply or uninstall, as
// the next Apply or Uninstall would first; nil when there was none.
func (in *Installer) Recover(ctx context.Context) (*Recovery, error) {
	j, err := in.readJournal()
	if err != nil || j == nil {
		return nil, err
	}
	unlock, err := in.lock()
	if err != nil {
		return nil, err
	}
	rec, err := in.recover(ctx)
	unlock()
	if err == nil {
		in.cleanupIfEmpty(rec)
	}
	return rec, err
}

// cleanupIfEmpty removes the lock and satchel's own directories when no
// install is recorded any more (a rolled-back first install, a finished
// uninstall), so the root is as it was before satchel.
func (in *Installer) cleanupIfEmpty(rec *Recovery) {
	if st, err := in.readState(); err != nil || st != nil {
		return
	}
	if lp, err := in.path(LockPath); err == nil {
		os.Remove(lp)
	}
	in.pruneStateDirs()
	var dirs []string
	if rec != nil {
		dirs = append(append(dirs, rec.prune...), rec.stateDirs...)
	}
	slices.SortFunc(dirs, func(a, b string) int { return strings.Count(b, "/") - strings.Count(a, "/") })
	for _, d := range dirs {
		if hp, err := in.path(d); err == nil {
			os.Remove(hp)
		}
	}
}

// recover finishes or undoes an interrupted run, if the journal names one.
func (in *Installer) recover(ctx context.Context) (*Recovery, error) {
	j, err := in.readJournal()
	if err != nil || j == nil {
		return nil, err
	}
	st, err := in.readState()
	if err != nil {
		return nil, err
	}
	rec := &Recovery{RunID: j.RunID, Kind: j.Kind, Steps: len(j.Steps), stateDirs: j.StateDirs}
	committed := len(j.Steps) > 0 && j.Steps[len(j.Steps)-1].Op == opCommit &&
		(j.Kind == "uninstall" && st == nil || st != nil && st.RunID == j.RunID)
	if committed {
		rec.Outcome = "completed"
		rec.prune = j.Steps[len(j.Steps)-1].Prune
		in.warnf("an interrupted %s (run %s) had committed; finishing its cleanup", j.Kind, j.RunID)
	} else {
		rec.Outcome = "rolled-back"
		in.warnf("rolling back an interrupted %s (run %s, %d steps)", j.Kind, j.RunID, len(j.Steps))
		if err := in.undo(ctx, j.Steps); err != nil {
			return nil, manifest.HintError(fmt.Errorf("rolling back interrupted run %s: %w", j.RunID, err),
				"fix the cause and run the command again; the journal "+JournalPath+" is kept until rollback succeeds")
		}
	}
	if err := in.finish(j, committed); err != nil {
		return nil, err
	}
	return rec, nil
}

// undo reverses steps, last first. Every undo is idempotent, so a crash
// during rollback is repaired by rolling back again.
func (in *Installer) undo(ctx context.Context, steps []journalStep) error {
	var errs []error
	reload := false
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		switch s.Op {
		case opWrite, opRemove:
			if err := in.undoFile(s); err != nil {
				errs = append(errs, fmt.Errorf("step %d (%s %s): %w", s.N, s.Op, s.Path, err))
			}
			if path.Dir(s.Path) == unitDir {
				reload = true
			}
		case opEnable:
			if !s.Was {
				errs = append(errs, in.svc.disable(ctx, s.Unit))
				var dirs []string
				for _, d := range s.Dirs {
					if hd, err := in.path(d); err == nil {
						dirs = append(dirs, hd)
					}
				}
				removeEmptyDirs(dirs)
			}
		case opDisable:
			if s.Was {
				errs = append(errs, in.svc.enable(ctx, s.Unit, false))
			}
		case opStart:
			if !s.Was {
				errs = append(errs, in.svc.stop(ctx, s.Unit))
			}
		case opStop:
			if s.Was {
				errs = append(errs, in.svc.start(ctx, s.Unit))
			}
		}
	}
	if reload {
		errs = append(errs, in.svc.reload(ctx))
	}
	return errors.Join(errs...)
}

func (in *Installer) undoFile(s journalStep) error {
	p, err := in.path(s.Path)
	if err != nil {
		return err
	}
	if s.Temp != "" {
		if t, err := in.path(s.Temp); err == nil {
			os.Remove(t)
		}
	}
	if s.Existed {
		b, err := in.path(s.Backup)
		if err != nil {
			return err
		}
		os.Remove(b + tempSuffix) // a backup cut short
		if _, err := os.Lstat(b); err == nil {
			if err := moveBack(b, p); err != nil {
				return err
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return err
		}
		// No backup: the step stopped before it touched Path.
	} else if err := removeFile(p); err != nil {
		return err
	}
	var dirs []string
	for _, d := range s.Dirs {
		if hd, err := in.path(d); err == nil {
			dirs = append(dirs, hd)
		}
	}
	removeEmptyDirs(dirs)
	return nil
}

// finish removes the run's backups, and for a committed run the files
// and directories its commit step lists, and then the journal.
func (in *Installer) finish(j *journal, committed bool) error {
	if n := len(j.Steps); committed && n > 0 && j.Steps[n-1].Op == opCommit {
		c := j.Steps[n-1]
		for _, f := range c.Discard {
			if hp, err := in.path(f); err == nil {
				if err := removeFile(hp); err != nil {
					return err
				}
			}
		}
		for _, d := range c.Prune {
			if hp, err := in.path(d); err == nil {
				os.Remove(hp)
			}
		}
	}
	if rb, err := in.path(path.Join(RunBackupDir, j.RunID)); err == nil {
		if err := os.RemoveAll(rb); err != nil {
			return err
		}
		in.pruneStateDirs()
	}
	p, err := in.path(JournalPath)
	if err != nil {
		return err
	}
	return removeFile(p)
}

// pruneStateDirs removes empty backup directories, so a rolled-back or
// uninstalled root keeps no empty shells of satchel's bookkeeping.
func (in *Installer) pruneStateDirs() {
	for _, d := range []string{RunBackupDir, OriginalDir, BackupDir} {
		if p, err := in.path(d); err == nil {
			pruneEmpty(p)
		}
	}
}

// pruneEmpty removes empty directories under dir (and dir itself if it ends up empty).
func pruneEmpty(dir string) bool {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return false
	}
	empty := true
	for _, e := range ents {
		if e.IsDir() && pruneEmpty(filepath.Join(dir, e.Name())) {
			continue
		}
		empty = false
	}
	if empty {
		return os.Remove(dir) == nil
	}
	return false
}
