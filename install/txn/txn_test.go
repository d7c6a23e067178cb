package txn

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/systemd"
)

// The fixture: a root with a file satchel never wrote (replaced: its
// original is kept until uninstall), a config satchel wrote earlier
// (replaced: its copy is kept until the run commits), a binary satchel
// wrote earlier and no longer wants (removed), and a plan that also
// writes a new file into a directory that does not exist yet.
const (
	pathNew     rootfs.Path = "/etc/demo/new.d/new.conf"
	pathForeign rootfs.Path = "/usr/local/bin/tool"
	pathOwned   rootfs.Path = "/etc/demo/owned.conf"
	pathOld     rootfs.Path = "/usr/local/bin/old"
	pathLink    rootfs.Path = "/etc/demo/link"
	pathDiscard rootfs.Path = "/etc/demo/discard.me"
	dirPrune    rootfs.Path = "/opt/empty/inner"
)

var started = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func hostFile(t testing.TB, dir string, p rootfs.Path, content string, mode fs.FileMode) {
	t.Helper()
	hp := filepath.Join(dir, string(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(hp, mode); err != nil { // past the umask
		t.Fatal(err)
	}
}

func previousState() *state.State {
	return &state.State{
		Version: state.Version, RunID: "20260201T000000Z-00000001", When: started.Add(-24 * time.Hour),
		Bundle: state.BundleInfo{Name: "demo", Version: "1.0", Sequence: 1},
		Files: []state.File{
			{Path: pathOwned, Kind: state.KindConfig},
			{Path: pathOld, Kind: state.KindFile, Mode: 0o755},
		},
	}
}

// makeTree writes the fixture's files into dir (the parent's half of a crash test).
func makeTree(t testing.TB, dir string) {
	hostFile(t, dir, pathForeign, "tool from the distribution\n", 0o755)
	hostFile(t, dir, pathOwned, "owned = 1\n", 0o640)
	hostFile(t, dir, pathOld, "old binary\n", 0o755)
	hostFile(t, dir, pathDiscard, "an original uninstall no longer needs\n", 0o644)
	if err := os.Symlink("owned.conf", filepath.Join(dir, string(pathLink))); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(dir, string(dirPrune)), 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := previousState().Encode()
	if err != nil {
		t.Fatal(err)
	}
	hostFile(t, dir, state.Path, string(b), 0o644)
}

type fixture struct {
	dir   string
	root  *rootfs.Root
	env   *Env
	plan  *plan.Plan
	warns []string
}

// openFixture opens dir (already holding makeTree's files) as a root with
// an offline systemd and the fixture's plan.
func openFixture(t testing.TB, dir string) *fixture {
	t.Helper()
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { root.Close() })
	f := &fixture{dir: dir, root: root}
	f.env = &Env{
		Root:    root,
		Systemd: &systemd.Manager{Root: root}, // offline: no unit is touched here anyway
		Now:     func() time.Time { return started },
		Warn:    func(s string) { f.warns = append(f.warns, s) },
	}
	bytesOf := func(s string) plan.Content { return plan.Content{Kind: plan.ContentBytes, Data: []byte(s)} }
	f.plan = &plan.Plan{
		Previous: previousState(),
		Actions: []plan.Action{
			{Kind: plan.KindConfig, Change: plan.ChangeNew, Path: pathNew, Mode: 0o644, Content: bytesOf("new = true\n")},
			{Kind: plan.KindFile, Change: plan.ChangeReplace, Path: pathForeign, Mode: 0o755, Content: bytesOf("tool from the bundle\n")},
			{Kind: plan.KindConfig, Change: plan.ChangeReplace, Path: pathOwned, Mode: 0o644, Content: bytesOf("owned = 2\n")},
			{Kind: plan.KindFile, Change: plan.ChangeRemove, Path: pathOld},
		},
	}
	return f
}

func newFixture(t *testing.T) *fixture {
	dir := t.TempDir()
	makeTree(t, dir)
	return openFixture(t, dir)
}

// committedState is what the run records when it commits.
func (f *fixture) committedState(runID string, originals map[rootfs.Path]rootfs.Path) *state.State {
	return &state.State{
		Version: state.Version, RunID: runID, When: started,
		Bundle: state.BundleInfo{Name: "demo", Version: "2.0", Sequence: 2},
		Files: []state.File{
			{Path: pathNew, Kind: state.KindConfig, Mode: 0o644},
			{Path: pathForeign, Kind: state.KindFile, Mode: 0o755, Original: originals[pathForeign]},
			{Path: pathOwned, Kind: state.KindConfig, Mode: 0o644},
		},
		History: []state.HistoryEntry{{Name: "demo", Version: "1.0", Sequence: 1}},
	}
}

// apply runs the whole plan and commits (also the crash helper's body).
func (f *fixture) apply(ctx context.Context) (*Run, error) {
	r, err := Begin(f.env, KindApply, "demo", 2, nil)
	if err != nil {
		return nil, err
	}
	for i := range f.plan.Actions {
		if err := r.Execute(ctx, f.plan, &f.plan.Actions[i]); err != nil {
			return r, err
		}
	}
	return r, r.Commit(f.committedState(r.ID(), r.Originals), []rootfs.Path{pathDiscard}, []rootfs.Path{"/opt/empty", dirPrune})
}

// snapshot describes every entry under dir: type, permissions, content or
// link text. Two equal snapshots are byte-identical trees.
func snapshot(t testing.TB, dir string, skip ...rootfs.Path) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, dir), "/")
		if slices.Contains(skip, rootfs.Path(rel)) {
			return nil
		}
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		switch {
		case info.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			m[rel] = "symlink -> " + l
		case info.IsDir():
			m[rel] = fmt.Sprintf("dir %v", info.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			m[rel] = fmt.Sprintf("file %v %q", info.Mode().Perm(), b)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func diffSnapshots(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		if g, ok := got[k]; !ok {
			t.Errorf("%s: %s is missing (want %s)", what, k, w)
		} else if g != w {
			t.Errorf("%s: %s is %s, want %s", what, k, g, w)
		}
	}
	for k, g := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: %s is left over (%s)", what, k, g)
		}
	}
}

func readHost(t *testing.T, dir string, p rootfs.Path) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, string(p)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func exists(dir string, p rootfs.Path) bool {
	_, err := os.Lstat(filepath.Join(dir, string(p)))
	return err == nil
}

// TestJournalIsAppendOnly: each step adds one fsynced line and never
// rewrites an earlier one; Read gives back the header and the steps as
// recorded, with where each change's backup went.
func TestJournalIsAppendOnly(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	var events []Event
	f.env.Progress = func(e Event) { events = append(events, e) }
	r, err := Begin(f.env, KindApply, "demo", 2, []rootfs.Path{"/var/lib/satchel"})
	if err != nil {
		t.Fatal(err)
	}
	journal := filepath.Join(f.dir, string(state.JournalPath))
	prev, err := os.ReadFile(journal)
	if err != nil {
		t.Fatal(err)
	}
	if n := bytes.Count(prev, []byte("\n")); n != 1 {
		t.Fatalf("after Begin the journal has %d lines, want the header only", n)
	}
	for i := range f.plan.Actions {
		if err := r.Execute(ctx, f.plan, &f.plan.Actions[i]); err != nil {
			t.Fatalf("action %d: %v", i, err)
		}
		cur, err := os.ReadFile(journal)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(cur, prev) {
			t.Fatalf("step %d rewrote earlier journal lines:\nbefore %s\nafter  %s", i+1, prev, cur)
		}
		added := cur[len(prev):]
		if bytes.Count(added, []byte("\n")) != 1 || !bytes.HasSuffix(added, []byte("\n")) || !json.Valid(bytes.TrimSpace(added)) {
			t.Fatalf("step %d appended %q, want one JSON line", i+1, added)
		}
		prev = cur
	}
	if r.Steps() != 4 || len(events) != 4 {
		t.Errorf("%d steps, %d step events; want 4 and 4", r.Steps(), len(events))
	}

	j, err := Read(f.root)
	if err != nil || j == nil {
		t.Fatalf("Read = %v, %v", j, err)
	}
	if j.RunID != r.ID() || j.Kind != KindApply || j.Bundle != "demo" || j.Sequence != 2 || !j.Started.Equal(started) ||
		!slices.Equal(j.StateDirs, []rootfs.Path{"/var/lib/satchel"}) {
		t.Errorf("header %+v", j.Header)
	}
	if !strings.HasPrefix(r.ID(), "20260301T100000Z-") {
		t.Errorf("run id %q does not start with the start time", r.ID())
	}
	runBackups := state.RunBackupDir.Join(r.ID())
	want := []Step{
		{N: 1, Op: OpWrite, Path: pathNew, Dirs: []rootfs.Path{"/etc/demo/new.d"}},
		{N: 2, Op: OpWrite, Path: pathForeign, Existed: true, Backup: state.OriginalDir + pathForeign},
		{N: 3, Op: OpWrite, Path: pathOwned, Existed: true, Backup: runBackups + pathOwned},
		{N: 4, Op: OpRemove, Path: pathOld, Existed: true, Backup: runBackups + pathOld},
	}
	if len(j.Steps) != len(want) {
		t.Fatalf("read %d steps, want %d: %+v", len(j.Steps), len(want), j.Steps)
	}
	for i, w := range want {
		g := j.Steps[i]
		if g.N != w.N || g.Op != w.Op || g.Path != w.Path || g.Existed != w.Existed || g.Backup != w.Backup || !slices.Equal(g.Dirs, w.Dirs) {
			t.Errorf("step %d = %+v\nwant %+v", i+1, g, w)
		}
		if g.Op == OpWrite && (g.Temp.Dir() != g.Path.Dir() || !strings.HasSuffix(string(g.Temp), tempSuffix)) {
			t.Errorf("step %d: temporary file %s is not a %s beside %s", i+1, g.Temp, tempSuffix, g.Path)
		}
	}
	// The backups hold the old bytes while the run is open.
	if got := readHost(t, f.dir, runBackups+pathOwned); got != "owned = 1\n" {
		t.Errorf("backup of %s holds %q", pathOwned, got)
	}
	if got := readHost(t, f.dir, runBackups+pathOld); got != "old binary\n" {
		t.Errorf("backup of %s holds %q", pathOld, got)
	}
	if !slices.Equal(r.Changed, []rootfs.Path{pathNew, pathForeign, pathOwned, pathOld}) {
		t.Errorf("Changed = %v", r.Changed)
	}
	if !slices.Contains(r.CreatedDirs(), "/etc/demo/new.d") || !slices.Contains(r.CreatedDirs(), "/var/lib/satchel") {
		t.Errorf("CreatedDirs = %v", r.CreatedDirs())
	}
}

// TestCommit: after Commit the new content is in place, state.json
// records the run, the pre-satchel original is kept for uninstall, the
// run's own backups, the discarded file, the pruned directories and the
// journal are gone.
func TestCommit(t *testing.T) {
	f := newFixture(t)
	r, err := f.apply(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkCommitted(t, f, r.ID())
	if got := r.Originals[pathForeign]; got != state.OriginalDir+pathForeign {
		t.Errorf("Originals[%s] = %q", pathForeign, got)
	}
	if j, err := Read(f.root); j != nil || err != nil {
		t.Errorf("journal after commit: %+v, %v", j, err)
	}
}

// checkCommitted checks the tree a committed run leaves.
func checkCommitted(t *testing.T, f *fixture, runID string) {
	t.Helper()
	for p, want := range map[rootfs.Path]string{
		pathNew:                         "new = true\n",
		pathForeign:                     "tool from the bundle\n",
		pathOwned:                       "owned = 2\n",
		state.OriginalDir + pathForeign: "tool from the distribution\n",
	} {
		if got := readHost(t, f.dir, p); got != want {
			t.Errorf("%s holds %q, want %q", p, got, want)
		}
	}
	for _, p := range []rootfs.Path{pathOld, pathDiscard, dirPrune, "/opt/empty", state.JournalPath, state.RunBackupDir} {
		if exists(f.dir, p) {
			t.Errorf("%s is still there after the commit", p)
		}
	}
	st, err := state.Read(f.root)
	if err != nil {
		t.Fatal(err)
	}
	if st == nil || st.RunID != runID || !state.Same(st, f.committedState(runID, map[rootfs.Path]rootfs.Path{pathForeign: state.OriginalDir + pathForeign})) {
		t.Errorf("state.json after commit: %+v", st)
	}
	// No temporary file of the run is left anywhere.
	for p := range snapshot(t, f.dir) {
		if strings.HasSuffix(p, tempSuffix) {
			t.Errorf("temporary file %s left", p)
		}
	}
}

// TestRollback: undoing the run puts back byte-identical originals (and
// their modes), removes what it created, and leaves no bookkeeping.
func TestRollback(t *testing.T) {
	f := newFixture(t)
	before := snapshot(t, f.dir)
	ctx := context.Background()
	r, err := Begin(f.env, KindApply, "demo", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range f.plan.Actions {
		if err := r.Execute(ctx, f.plan, &f.plan.Actions[i]); err != nil {
			t.Fatal(err)
		}
	}
	cause := errors.New("the fifth step failed")
	err = r.Rollback(ctx, cause)
	var rb *RolledBackError
	if !errors.As(err, &rb) || !errors.Is(err, cause) {
		t.Fatalf("Rollback = %v; want a *RolledBackError wrapping the cause", err)
	}
	diffSnapshots(t, "after rollback", snapshot(t, f.dir), before)
	// The run never touched the previous state: it still reads back.
	st, err := state.Read(f.root)
	if err != nil || !state.Same(st, previousState()) {
		t.Errorf("state after rollback: %+v, %v", st, err)
	}
}

// crashHelperEnv names the root a re-executed test binary applies the
// fixture's plan to (with CrashEnv set, so that it dies mid-run).
const crashHelperEnv = "SATCHEL_TXN_TEST_CRASH_ROOT"

// TestCrashHelper is not a test: it is the body of the process
// TestRecoverAfterCrash kills. It does nothing in a normal run.
func TestCrashHelper(t *testing.T) {
	dir := os.Getenv(crashHelperEnv)
	if dir == "" {
		return
	}
	f := openFixture(t, dir)
	if _, err := f.apply(context.Background()); err != nil {
		fmt.Fprintln(os.Stderr, "apply:", err)
		os.Exit(3)
	}
	os.Exit(0) // no crash happened: the parent fails on this
}

// crashAt runs the fixture's apply in a child process that exits with
// status 137, as after SIGKILL, at the point CrashEnv names.
func crashAt(t *testing.T, dir, at string) {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), crashHelperEnv+"="+dir, CrashEnv+"="+at)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 137 {
		t.Fatalf("helper with %s=%s: %v, want exit status 137\n%s", CrashEnv, at, err, out)
	}
}

// TestRecoverAfterCrash kills a run at every kind of point and checks
// that Recover converges: a run killed before its commit took effect is
// rolled back to the byte-identical tree it started from; one killed
// after is finished. Recovering again is a no-op, and so is recovering
// again from the same journal (a crash during recovery, before the
// journal was removed): every undo is idempotent.
func TestRecoverAfterCrash(t *testing.T) {
	cases := []struct {
		at        string
		committed bool
		steps     int
	}{
		{"1-", false, 1}, // the new file's step recorded, nothing written
		{"1", false, 1},
		{"2-", false, 2}, // the replace recorded, no backup made yet
		{"2", false, 2},
		{"3", false, 3},
		{"4-", false, 4}, // the removal recorded, file still there
		{"4", false, 4},
		{"5-", false, 5}, // commit recorded, state.json not yet written
		{"5", true, 5},   // state.json written, cleanup not done
	}
	for _, c := range cases {
		t.Run(c.at, func(t *testing.T) {
			dir := t.TempDir()
			makeTree(t, dir)
			before := snapshot(t, dir)
			crashAt(t, dir, c.at)
			f := openFixture(t, dir)
			if !exists(dir, state.JournalPath) {
				t.Fatal("the killed run left no journal")
			}
			journal, err := os.ReadFile(filepath.Join(dir, string(state.JournalPath)))
			if err != nil {
				t.Fatal(err)
			}
			j, err := Read(f.root)
			if err != nil || j == nil {
				t.Fatalf("Read = %v, %v", j, err)
			}
			ctx := context.Background()
			rec, err := Recover(ctx, f.env)
			if err != nil {
				t.Fatalf("Recover: %v", err)
			}
			wantOutcome := "rolled-back"
			if c.committed {
				wantOutcome = "completed"
			}
			if rec == nil || rec.RunID != j.RunID || rec.Kind != KindApply || rec.Outcome != wantOutcome || rec.Steps != c.steps {
				t.Fatalf("Recover = %+v; want %s of run %s after %d steps", rec, wantOutcome, j.RunID, c.steps)
			}
			if len(f.warns) != 1 || !strings.Contains(f.warns[0], j.RunID) {
				t.Errorf("warnings %q", f.warns)
			}
			check := func(what string) {
				t.Helper()
				if c.committed {
					checkCommitted(t, f, j.RunID)
				} else {
					diffSnapshots(t, what, snapshot(t, dir), before)
				}
			}
			check("after recovery")
			after := snapshot(t, dir)

			// Nothing is left to recover.
			if rec, err := Recover(ctx, f.env); rec != nil || err != nil {
				t.Errorf("second Recover = %+v, %v; want nothing to do", rec, err)
			}
			diffSnapshots(t, "after a second Recover", snapshot(t, dir), after)

			// Recovery itself killed before it removed the journal: recovering
			// from the same journal again converges on the same tree.
			if err := os.WriteFile(filepath.Join(dir, string(state.JournalPath)), journal, 0o600); err != nil {
				t.Fatal(err)
			}
			if rec, err := Recover(ctx, f.env); err != nil || rec == nil || rec.Outcome != wantOutcome {
				t.Fatalf("Recover from the same journal again = %+v, %v", rec, err)
			}
			check("after recovering from the same journal twice")
		})
	}
}

func writeJournal(t *testing.T, dir string, p rootfs.Path, content string) {
	t.Helper()
	hostFile(t, dir, p, content, 0o600)
}

const header = `{"runID":"20260301T100000Z-0000abcd","kind":"apply","bundle":"demo","sequence":2,"started":"2026-03-01T10:00:00Z"}`

func TestReadJournal(t *testing.T) {
	step1 := `{"n":1,"op":"write","path":"/etc/a","temp":"/etc/.a.x.satchel-tmp"}`
	step2 := `{"n":2,"op":"remove","path":"/etc/b","existed":true,"backup":"/var/lib/satchel/backups/run/x/etc/b"}`
	for _, c := range []struct {
		name    string
		content string
		steps   int
		damaged bool
		none    bool
	}{
		{name: "complete", content: header + "\n" + step1 + "\n" + step2 + "\n", steps: 2},
		{name: "no final newline", content: header + "\n" + step1 + "\n" + step2, steps: 2},
		{name: "torn last line", content: header + "\n" + step1 + "\n" + step2[:30], steps: 1},
		{name: "torn header only", content: header + "\n" + step1[:10], steps: 0},
		{name: "blank lines", content: header + "\n\n" + step1 + "\n\n", steps: 1},
		{name: "empty", content: "", none: true},
		{name: "torn line in the middle", content: header + "\n" + step1[:20] + "\n" + step2 + "\n", damaged: true},
		{name: "damaged header", content: `{"runID":` + "\n" + step1 + "\n", damaged: true},
	} {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			writeJournal(t, dir, state.JournalPath, c.content)
			root, err := rootfs.Open(dir)
			if err != nil {
				t.Fatal(err)
			}
			defer root.Close()
			j, err := Read(root)
			switch {
			case c.damaged:
				if err == nil || !strings.Contains(err.Error(), string(state.JournalPath)) {
					t.Fatalf("Read = %+v, %v; want an error naming the journal", j, err)
				}
				return
			case err != nil:
				t.Fatal(err)
			case c.none:
				if j != nil {
					t.Fatalf("Read of an empty journal = %+v, want nil", j)
				}
				return
			case j == nil:
				t.Fatal("Read = nil")
			}
			if j.RunID != "20260301T100000Z-0000abcd" || j.Kind != KindApply || j.Sequence != 2 {
				t.Errorf("header %+v", j.Header)
			}
			if len(j.Steps) != c.steps {
				t.Fatalf("%d steps, want %d: %+v", len(j.Steps), c.steps, j.Steps)
			}
			if c.steps >= 1 && (j.Steps[0].Op != OpWrite || j.Steps[0].Path != "/etc/a") {
				t.Errorf("step 1 = %+v", j.Steps[0])
			}
			if c.steps >= 2 && (j.Steps[1].Op != OpRemove || !j.Steps[1].Existed || j.Steps[1].Backup == "") {
				t.Errorf("step 2 = %+v", j.Steps[1])
			}
		})
	}
}

// TestReadLegacyJournal: satchel-install 0.1's journal.json (one JSON
// document, rewritten per step) is still read, and recovery removes it.
func TestReadLegacyJournal(t *testing.T) {
	dir := t.TempDir()
	hostFile(t, dir, "/etc/a", "written by the interrupted run\n", 0o644)
	hostFile(t, dir, "/etc/b.satchel-backup", "b before\n", 0o644)
	legacy := `{"runID":"20250101T000000Z-00000001","kind":"apply","bundle":"old","sequence":1,"started":"2025-01-01T00:00:00Z","steps":[` +
		`{"n":1,"op":"write","path":"/etc/a"},` +
		`{"n":2,"op":"remove","path":"/etc/b","existed":true,"backup":"/etc/b.satchel-backup"}]}`
	writeJournal(t, dir, legacyPath, legacy)
	f := openFixture(t, dir)
	j, err := Read(f.root)
	if err != nil || j == nil {
		t.Fatalf("Read = %+v, %v", j, err)
	}
	if j.RunID != "20250101T000000Z-00000001" || j.Bundle != "old" || len(j.Steps) != 2 || j.Steps[1].Backup != "/etc/b.satchel-backup" {
		t.Errorf("legacy journal read as %+v", j)
	}
	// The new journal wins when both are there.
	writeJournal(t, dir, state.JournalPath, header+"\n")
	if j, err := Read(f.root); err != nil || j == nil || j.RunID != "20260301T100000Z-0000abcd" {
		t.Errorf("with both journals Read = %+v, %v", j, err)
	}
	os.Remove(filepath.Join(dir, string(state.JournalPath)))

	rec, err := Recover(context.Background(), f.env)
	if err != nil || rec == nil || rec.Outcome != "rolled-back" || rec.Steps != 2 {
		t.Fatalf("Recover = %+v, %v", rec, err)
	}
	if exists(dir, "/etc/a") || exists(dir, legacyPath) || exists(dir, "/etc/b.satchel-backup") {
		t.Error("recovery left the legacy run's file, journal or backup")
	}
	if got := readHost(t, dir, "/etc/b"); got != "b before\n" {
		t.Errorf("/etc/b = %q after recovery", got)
	}

	// A damaged legacy journal is an error, not a fresh start.
	writeJournal(t, dir, legacyPath, `{"runID":`)
	if _, err := Read(f.root); err == nil || !strings.Contains(err.Error(), string(legacyPath)) {
		t.Errorf("damaged legacy journal: %v", err)
	}
}
