package txn

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// Recovery describes what the start of a run did about an interrupted one.
type Recovery struct {
	RunID string `json:"runID"`
	Kind  Kind   `json:"kind"`
	// Outcome is "rolled-back" (the interrupted run's steps were undone) or
	// "completed" (it had committed; only its cleanup was left).
	Outcome string `json:"outcome"`
	Steps   int    `json:"steps"`

	// StateDirs are the interrupted run's state directories; Prune a
	// committed uninstall's directories to remove.
	StateDirs []rootfs.Path `json:"-"`
	Prune     []rootfs.Path `json:"-"`
}

// Recover finishes or undoes the run an interrupted journal names; nil
// when there is none. The caller holds the lock.
func Recover(ctx context.Context, env *Env) (*Recovery, error) {
	j, err := Read(env.Root)
	if err != nil || j == nil {
		return nil, err
	}
	st, err := state.Read(env.Root)
	if err != nil {
		return nil, err
	}
	rec := &Recovery{RunID: j.RunID, Kind: j.Kind, Steps: len(j.Steps), StateDirs: j.StateDirs}
	n := len(j.Steps)
	committed := n > 0 && j.Steps[n-1].Op == OpCommit &&
		(j.Kind == KindUninstall && st == nil || st != nil && st.RunID == j.RunID)
	if committed {
		rec.Outcome = "completed"
		rec.Prune = j.Steps[n-1].Prune
		env.warnf("an interrupted %s (run %s) had committed; finishing its cleanup", j.Kind, j.RunID)
	} else {
		rec.Outcome = "rolled-back"
		env.warnf("rolling back an interrupted %s (run %s, %d steps)", j.Kind, j.RunID, n)
		if err := undo(ctx, env, j.Steps); err != nil {
			return nil, manifest.HintError(fmt.Errorf("rolling back interrupted run %s: %w", j.RunID, err),
				"fix the cause and run the command again; the journal "+string(state.JournalPath)+" is kept until rollback succeeds")
		}
	}
	if err := finish(env, j, committed); err != nil {
		return nil, err
	}
	return rec, nil
}

// undo reverses steps, last first. Every undo is idempotent.
func undo(ctx context.Context, env *Env, steps []Step) error {
	var errs []error
	reload := false
	sd := env.Systemd
	for i := len(steps) - 1; i >= 0; i-- {
		s := steps[i]
		switch s.Op {
		case OpWrite, OpRemove:
			if err := undoFile(env.Root, s); err != nil {
				errs = append(errs, fmt.Errorf("step %d (%s %s): %w", s.N, s.Op, s.Path, err))
			}
			if s.Path.Dir() == "/etc/systemd/system" {
				reload = true
			}
		case OpEnable:
			if !s.Was {
				errs = append(errs, sd.Disable(ctx, s.Unit))
				removeEmptyDirs(env.Root, s.Dirs)
			}
		case OpDisable:
			if s.Was {
				errs = append(errs, sd.Enable(ctx, s.Unit))
			}
		case OpStart:
			if !s.Was {
				errs = append(errs, sd.Stop(ctx, s.Unit))
			}
		case OpStop:
			if s.Was {
				errs = append(errs, sd.Start(ctx, s.Unit))
			}
		}
	}
	if reload {
		errs = append(errs, sd.Reload(ctx))
	}
	return errors.Join(errs...)
}

// undoFile puts back what a write or remove step found. A backup that is
// not there means the step stopped before it touched Path (or an earlier
// rollback already moved it back); a Path whose directory is gone has
// nothing to remove.
func undoFile(root *rootfs.Root, s Step) error {
	if s.Temp != "" {
		if err := root.Remove(s.Temp); err != nil && !gone(err) {
			return err
		}
	}
	if s.Existed {
		if s.Backup != "" {
			root.Remove(s.Backup.Dir().Join("." + s.Backup.Base() + tempSuffix)) // a backup cut short
			b, err := root.Lstat(s.Backup)
			switch {
			case err == nil:
				if sameEntry(root, s.Path, s.Backup, b) {
					// Path never changed (the write failed, say on a read-only
					// or full file system): only the copy goes.
					if err := root.Remove(s.Backup); err != nil {
						return err
					}
				} else if err := root.Rename(s.Backup, s.Path); err != nil {
					// Across file systems: copy back, then drop the backup.
					if err := root.CopyFile(s.Backup, s.Path, "."+s.Path.Base()+tempSuffix); err != nil {
						return err
					}
					root.Remove(s.Backup)
				}
			case !gone(err):
				return err
			}
		}
	} else if err := root.Remove(s.Path); err != nil && !gone(err) {
		return err
	}
	removeEmptyDirs(root, s.Dirs)
	return nil
}

// sameEntry reports whether p is the backup b already (same inode, or
// same symlink text).
func sameEntry(root *rootfs.Root, p, backup rootfs.Path, b rootfs.Info) bool {
	cur, err := root.Lstat(p)
	if err != nil {
		return false
	}
	if b.IsSymlink() {
		return cur.IsSymlink() && cur.Target == b.Target
	}
	if !cur.IsRegular() || !b.IsRegular() || cur.Size != b.Size {
		return false
	}
	if cur.Inode == b.Inode && cur.Dev == b.Dev {
		return true
	}
	// A copy (another file system): compare the bytes.
	x, err1 := fileDigest(root, p)
	y, err2 := fileDigest(root, backup)
	return err1 == nil && err2 == nil && x == y
}

func fileDigest(root *rootfs.Root, p rootfs.Path) (string, error) {
	f, err := root.Open(p)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return string(h.Sum(nil)), nil
}

func gone(err error) bool {
	return errors.Is(err, fs.ErrNotExist)
}

// removeEmptyDirs removes dirs (innermost first) that are empty.
func removeEmptyDirs(root *rootfs.Root, dirs []rootfs.Path) {
	for i := len(dirs) - 1; i >= 0; i-- {
		root.RemoveDir(dirs[i])
	}
}

// finish removes the run's backups, and for a committed run the files
// and directories its commit step lists, and then the journal.
func finish(env *Env, j *Journal, committed bool) error {
	root := env.Root
	if n := len(j.Steps); committed && n > 0 && j.Steps[n-1].Op == OpCommit {
		c := j.Steps[n-1]
		for _, f := range c.Discard {
			if err := root.Remove(f); err != nil && !gone(err) {
				return err
			}
		}
		prune := slices.Clone(c.Prune)
		slices.SortFunc(prune, func(a, b rootfs.Path) int { return strings.Count(string(b), "/") - strings.Count(string(a), "/") })
		for _, d := range prune {
			root.RemoveDir(d)
		}
	}
	if err := root.RemoveAll(state.RunBackupDir.Join(j.RunID)); err != nil {
		return err
	}
	PruneStateDirs(root)
	if err := root.Remove(state.JournalPath); err != nil {
		return err
	}
	return root.Remove(legacyPath)
}

// PruneStateDirs removes empty backup directories, so a rolled-back or
// uninstalled root keeps no empty shells of satchel's bookkeeping.
func PruneStateDirs(root *rootfs.Root) {
	for _, d := range []rootfs.Path{state.RunBackupDir, state.OriginalDir, state.BackupDir} {
		pruneEmpty(root, d)
	}
}

// pruneEmpty removes empty directories under dir (and dir itself if it ends up empty).
func pruneEmpty(root *rootfs.Root, dir rootfs.Path) bool {
	names, err := root.ReadDir(dir)
	if err != nil {
		return false
	}
	empty := true
	for _, n := range names {
		p := dir.Join(n)
		if info, err := root.Lstat(p); err == nil && info.IsDir() && pruneEmpty(root, p) {
			continue
		}
		empty = false
	}
	if empty {
		return root.RemoveDir(dir) == nil
	}
	return false
}
