package txn

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/systemd"
)

// systemctlRecorder stands for systemctl on a running system.
type systemctlRecorder struct{ lines []string }

func (r *systemctlRecorder) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	r.lines = append(r.lines, c.String())
	return nil, nil
}

func (r *systemctlRecorder) LookPath(string) (string, error) { return "", exec.ErrNotFound }

// TestServiceStepsUndo: unit steps are journaled with what they need to
// be undone, and rolling back runs their opposites, last first, then one
// daemon-reload because a unit file changed.
func TestServiceStepsUndo(t *testing.T) {
	f := newFixture(t)
	hostFile(t, f.dir, "/etc/systemd/system/demo.service", "[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n", 0o644)
	sc := &systemctlRecorder{}
	f.env.Systemd = &systemd.Manager{Root: f.root, Runner: sc, Online: true}
	p := &plan.Plan{Previous: previousState(), Actions: []plan.Action{
		{Kind: plan.KindUnit, Change: plan.ChangeNew, Path: "/etc/systemd/system/demo-helper.service", Mode: 0o644,
			Content: plan.Content{Kind: plan.ContentBytes, Data: []byte("[Service]\nExecStart=/bin/true\n")}},
		{Kind: plan.KindService, Change: plan.ChangeReload},
		{Kind: plan.KindService, Change: plan.ChangeEnable, Unit: "demo.service"},
		{Kind: plan.KindService, Change: plan.ChangeStart, Unit: "demo.service"},
		{Kind: plan.KindService, Change: plan.ChangeDisable, Unit: "old.service"},
	}}
	ctx := context.Background()
	r, err := Begin(f.env, KindApply, "demo", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range p.Actions {
		if err := r.Execute(ctx, p, &p.Actions[i]); err != nil {
			t.Fatal(err)
		}
	}
	want := []string{"systemctl daemon-reload", "systemctl enable demo.service", "systemctl start demo.service", "systemctl disable --now old.service"}
	if !slices.Equal(sc.lines, want) {
		t.Errorf("run\n got %q\nwant %q", sc.lines, want)
	}
	j, err := Read(f.root)
	if err != nil {
		t.Fatal(err)
	}
	ops := []Op{}
	for _, s := range j.Steps {
		ops = append(ops, s.Op)
	}
	if !slices.Equal(ops, []Op{OpWrite, OpReload, OpEnable, OpStart, OpDisable}) {
		t.Errorf("journal ops %v", ops)
	}
	if en := j.Steps[2]; en.Unit != "demo.service" || !slices.Equal(en.Dirs, []rootfs.Path{"/etc/systemd/system/multi-user.target.wants"}) {
		t.Errorf("enable step %+v: want the .wants directory enabling creates", en)
	}
	if d := j.Steps[4]; !d.Was {
		t.Errorf("disable step %+v: want Was (it was enabled)", d)
	}

	sc.lines = nil
	err = r.Rollback(ctx, errors.New("boom"))
	var rb *RolledBackError
	if !errors.As(err, &rb) {
		t.Fatalf("Rollback = %v", err)
	}
	want = []string{"systemctl enable old.service", "systemctl stop demo.service", "systemctl disable --now demo.service", "systemctl daemon-reload"}
	if !slices.Equal(sc.lines, want) {
		t.Errorf("rollback\n got %q\nwant %q", sc.lines, want)
	}
	if _, err := os.Lstat(filepath.Join(f.dir, "etc/systemd/system/demo-helper.service")); !os.IsNotExist(err) {
		t.Errorf("the new unit file is still there: %v", err)
	}
}

// TestWriteRefusesDirectory: a directory where a file goes is left alone
// and nothing is journaled for it.
func TestWriteRefusesDirectory(t *testing.T) {
	f := newFixture(t)
	if err := os.MkdirAll(filepath.Join(f.dir, "etc/demo/dir.conf"), 0o755); err != nil {
		t.Fatal(err)
	}
	r, err := Begin(f.env, KindApply, "demo", 2, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := plan.Action{Kind: plan.KindConfig, Change: plan.ChangeReplace, Path: "/etc/demo/dir.conf", Content: plan.Content{Kind: plan.ContentBytes, Data: []byte("x")}}
	if err := r.Execute(context.Background(), f.plan, &a); err == nil {
		t.Fatal("Execute wrote over a directory")
	}
	if r.Steps() != 0 {
		t.Errorf("%d steps journaled for a refused write", r.Steps())
	}
	if info, err := os.Stat(filepath.Join(f.dir, "etc/demo/dir.conf")); err != nil || !info.IsDir() {
		t.Errorf("the directory changed: %v", err)
	}
	r.Rollback(context.Background(), errors.New("refused"))
}
