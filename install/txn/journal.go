// Package txn carries out a plan (package plan) against a root, one
// journaled step per change, so that an interrupted run — power loss,
// kill -9, a full disk — is rolled back, or finished when it had
// committed, by the next run.
//
// The journal (/var/lib/satchel/journal.jsonl) is append-only: a header
// line, then one line per step written and fsynced before the step runs.
// Every undo is idempotent (a file or directory that is already gone, a
// backup that is already back, count as done), so a crash during rollback
// is repaired by rolling back again.
package txn

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"time"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// CrashEnv names the test hook: when set to N, the process exits with
// status 137 (as after SIGKILL) right after journal step N is carried out;
// "N-" exits right after step N is recorded, before it runs.
const CrashEnv = "SATCHEL_TEST_CRASH_AFTER_STEP"

// Op is a journaled operation. Each records enough to be undone after a
// crash, whether or not the operation itself had finished.
type Op string

// Operations.
const (
	OpWrite   Op = "write"   // Path gets new content; a previous file is copied to Backup first
	OpRemove  Op = "remove"  // Path is removed; its content is copied to Backup first
	OpEnable  Op = "enable"  // Unit enabled
	OpDisable Op = "disable" // Unit disabled
	OpStart   Op = "start"   // Unit started
	OpStop    Op = "stop"    // Unit stopped
	OpReload  Op = "reload"  // systemctl daemon-reload
	OpRun     Op = "run"     // a command without undo (image import, kubectl apply)
	OpCommit  Op = "commit"  // state.json written: the run is complete
)

// Kind is what a run does.
type Kind string

// Run kinds.
const (
	KindApply     Kind = "apply"
	KindUninstall Kind = "uninstall"
)

// Header is the journal's first line.
type Header struct {
	RunID    string    `json:"runID"`
	Kind     Kind      `json:"kind"`
	Bundle   string    `json:"bundle,omitempty"`
	Sequence uint64    `json:"sequence,omitempty"`
	Started  time.Time `json:"started"`
	// StateDirs are the directories of state.Dir the run created, so that
	// a rolled-back first install still removes them.
	StateDirs []rootfs.Path `json:"stateDirs,omitempty"`
}

// Step is one journal line after the header.
type Step struct {
	N       int         `json:"n"`
	Op      Op          `json:"op"`
	Path    rootfs.Path `json:"path,omitempty"`
	Existed bool        `json:"existed,omitempty"`
	Backup  rootfs.Path `json:"backup,omitempty"`
	Temp    rootfs.Path `json:"temp,omitempty"`
	// Dirs are the directories this step creates, outermost first.
	Dirs []rootfs.Path `json:"dirs,omitempty"`
	Unit string        `json:"unit,omitempty"`
	// Was records the unit's state before: enabled for enable/disable, active for start/stop.
	Was  bool   `json:"was,omitempty"`
	Desc string `json:"desc,omitempty"`
	// Discard (files) and Prune (directories, removed when empty) are
	// cleaned up once a commit step has taken effect.
	Discard []rootfs.Path `json:"discard,omitempty"`
	Prune   []rootfs.Path `json:"prune,omitempty"`
}

// Journal is a journal as read back.
type Journal struct {
	Header
	Steps []Step
}

// legacyPath is the journal of satchel-install 0.1, rewritten whole per
// step; it is still read so an interrupted old run can be recovered.
const legacyPath rootfs.Path = state.Dir + "/journal.json"

// maxJournal bounds what is read of a journal.
const maxJournal = 256 << 20

// Read returns the journal an interrupted run left, or nil.
func Read(root *rootfs.Root) (*Journal, error) {
	b, err := root.ReadFile(state.JournalPath, maxJournal)
	if errors.Is(err, fs.ErrNotExist) {
		return readLegacy(root)
	}
	if err != nil {
		return nil, damaged(state.JournalPath, err)
	}
	var j Journal
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	first := true
	for sc.Scan() {
		line := sc.Bytes()
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if first {
			if err := json.Unmarshal(line, &j.Header); err != nil {
				return nil, damaged(state.JournalPath, err)
			}
			first = false
			continue
		}
		var s Step
		if err := json.Unmarshal(line, &s); err != nil {
			// A line cut short by a crash while it was being appended: the
			// step it names never ran (its record was not complete).
			if !sc.Scan() {
				break
			}
			return nil, damaged(state.JournalPath, err)
		}
		j.Steps = append(j.Steps, s)
	}
	if first {
		return nil, nil // created but empty: nothing ran
	}
	return &j, nil
}

func readLegacy(root *rootfs.Root) (*Journal, error) {
	b, err := root.ReadFile(legacyPath, maxJournal)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, damaged(legacyPath, err)
	}
	var j struct {
		Header
		Steps []Step `json:"steps"`
	}
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, damaged(legacyPath, err)
	}
	return &Journal{Header: j.Header, Steps: j.Steps}, nil
}

func damaged(p rootfs.Path, err error) error {
	return manifest.HintError(fmt.Errorf("reading %s: %w", p, err),
		"the journal of an interrupted run is damaged; inspect it, restore files from "+string(state.BackupDir)+" by hand, then remove it")
}

// writer appends journal lines, each fsynced.
type writer struct {
	f *os.File
}

func (w *writer) append(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the journal: %w", err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("writing the journal: %w", err)
	}
	return nil
}
