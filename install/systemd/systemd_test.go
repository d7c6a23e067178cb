package systemd

import (
	"context"
	"errors"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/internal/testenv"
)

func TestInstallLinksParsing(t *testing.T) {
	for _, c := range []struct {
		name, text string
		want       []rootfs.Path
	}{
		{"one target", "[Unit]\nDescription=x\n[Install]\nWantedBy=multi-user.target\n",
			[]rootfs.Path{"/etc/systemd/system/multi-user.target.wants/demo.service"}},
		{"several targets and lines", "[Install]\nWantedBy=multi-user.target  default.target\nRequiredBy=foo.target\nWantedBy=bar.target\n",
			[]rootfs.Path{
				"/etc/systemd/system/multi-user.target.wants/demo.service",
				"/etc/systemd/system/default.target.wants/demo.service",
				"/etc/systemd/system/foo.target.requires/demo.service",
				"/etc/systemd/system/bar.target.wants/demo.service",
			}},
		{"spaces around", "  [Install]  \n  WantedBy = multi-user.target \n",
			[]rootfs.Path{"/etc/systemd/system/multi-user.target.wants/demo.service"}},
		{"other sections do not count", "[Service]\nWantedBy=nope.target\n[Install]\nAlias=other.service\n[X-Extra]\nRequiredBy=nope.target\n", nil},
		{"comments", "[Install]\n#WantedBy=nope.target\n;RequiredBy=nope.target\nWantedBy=yes.target\n",
			[]rootfs.Path{"/etc/systemd/system/yes.target.wants/demo.service"}},
		{"no install section", "[Unit]\nDescription=static\n[Service]\nExecStart=/bin/true\n", nil},
		{"no escape from the unit directory", "[Install]\nWantedBy=../../../etc/cron.d/x .. a/b.target\x00 good.target\n",
			[]rootfs.Path{"/etc/systemd/system/good.target.wants/demo.service"}},
		{"section names are case-sensitive", "[install]\nWantedBy=nope.target\n", nil},
		// systemd.unit(5): an empty assignment resets the list (systemctl
		// enable honours it; checked against systemd 252 below).
		{"empty assignment resets", "[Install]\nWantedBy=a.target\nRequiredBy=r.target\nWantedBy=\nWantedBy=b.target\n",
			[]rootfs.Path{"/etc/systemd/system/r.target.requires/demo.service", "/etc/systemd/system/b.target.wants/demo.service"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := InstallLinks("demo.service", []byte(c.text))
			if !slices.Equal(got, c.want) {
				t.Errorf("InstallLinks =\n %q\nwant\n %q", got, c.want)
			}
			for _, l := range got {
				if !l.Within(UnitDir) {
					t.Errorf("%s is outside %s", l, UnitDir)
				}
			}
		})
	}
}

// recorder answers systemctl with answer (nil: success).
type recorder struct {
	lines  []string
	answer func(c runner.Cmd) ([]byte, error)
}

func (r *recorder) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	r.lines = append(r.lines, c.String())
	if r.answer != nil {
		return r.answer(c)
	}
	return nil, nil
}

func (r *recorder) LookPath(string) (string, error) { return "", exec.ErrNotFound }

func notInstalled(c runner.Cmd) ([]byte, error) {
	return nil, &runner.CommandError{Cmd: c.String(), ExitCode: -1, Err: exec.ErrNotFound}
}

const demoUnit = "[Unit]\nDescription=demo\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target default.target\nRequiredBy=foo.target\n"

func newRoot(t *testing.T) (*rootfs.Root, string) {
	t.Helper()
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, string(UnitDir)), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, string(UnitDir), "demo.service"), []byte(demoUnit), 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

// TestCommandLines: on the running system systemctl acts on the system;
// on any other root only offline operations run, with --root.
func TestCommandLines(t *testing.T) {
	ctx := context.Background()
	root, dir := newRoot(t)
	online := &recorder{}
	m := &Manager{Root: root, Runner: online, Online: true}
	m.Enable(ctx, "demo.service")
	m.Disable(ctx, "demo.service")
	m.Start(ctx, "demo.service")
	m.Restart(ctx, "demo.service")
	m.Stop(ctx, "demo.service")
	m.Reload(ctx)
	en, _ := m.Enabled(ctx, "demo.service")
	act := m.Active(ctx, "demo.service")
	want := []string{
		"systemctl enable demo.service",
		"systemctl disable --now demo.service",
		"systemctl start demo.service",
		"systemctl restart demo.service",
		"systemctl stop demo.service",
		"systemctl daemon-reload",
		"systemctl is-enabled --quiet demo.service",
		"systemctl is-active --quiet demo.service",
	}
	if !slices.Equal(online.lines, want) {
		t.Errorf("online\n got %q\nwant %q", online.lines, want)
	}
	if !en || !act {
		t.Errorf("Enabled %v Active %v with a systemctl that says yes", en, act)
	}
	online.answer = func(c runner.Cmd) ([]byte, error) {
		return nil, &runner.CommandError{Cmd: c.String(), ExitCode: 1, Err: errors.New("exit status 1")}
	}
	if en, err := m.Enabled(ctx, "demo.service"); en || err != nil {
		t.Errorf("Enabled with systemctl saying no: %v, %v", en, err)
	}
	if m.Active(ctx, "demo.service") {
		t.Error("Active with systemctl saying no")
	}
	if err := m.Start(ctx, "demo.service"); err == nil {
		t.Error("a failing start is not an error")
	}

	offline := &recorder{}
	m = &Manager{Root: root, Runner: offline}
	for _, err := range []error{m.Enable(ctx, "demo.service"), m.Disable(ctx, "demo.service"), m.Start(ctx, "demo.service"),
		m.Restart(ctx, "demo.service"), m.Stop(ctx, "demo.service"), m.Reload(ctx)} {
		if err != nil {
			t.Error(err)
		}
	}
	if m.Active(ctx, "demo.service") {
		t.Error("Active offline")
	}
	want = []string{"systemctl --root=" + dir + " enable demo.service", "systemctl --root=" + dir + " disable demo.service"}
	if !slices.Equal(offline.lines, want) {
		t.Errorf("offline\n got %q\nwant %q", offline.lines, want)
	}
	// A systemctl that runs but fails is reported, not worked around.
	offline.answer = func(c runner.Cmd) ([]byte, error) {
		return nil, &runner.CommandError{Cmd: c.String(), ExitCode: 1, Err: errors.New("exit status 1")}
	}
	if err := m.Enable(ctx, "demo.service"); err == nil {
		t.Error("failing systemctl enable: no error")
	}
	if links := linksUnder(t, dir); len(links) != 0 {
		t.Errorf("links made although systemctl ran: %v", links)
	}
}

// linksUnder lists the symlinks under dir as "path -> target".
func linksUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type()&fs.ModeSymlink != 0 {
			l, _ := os.Readlink(p)
			out = append(out, strings.TrimPrefix(p, dir)+" -> "+l)
		}
		return nil
	})
	sort.Strings(out)
	return out
}

func dirsUnder(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() {
			out = append(out, strings.TrimPrefix(p, dir))
		}
		return nil
	})
	return out
}

// TestOfflineLinksWithoutSystemctl: without systemctl the manager makes
// the [Install] links itself, Enabled sees them, Disable removes them and
// the .wants directories it emptied.
func TestOfflineLinksWithoutSystemctl(t *testing.T) {
	ctx := context.Background()
	root, dir := newRoot(t)
	m := &Manager{Root: root, Runner: &recorder{answer: notInstalled}}
	if en, err := m.Enabled(ctx, "demo.service"); en || err != nil {
		t.Fatalf("Enabled before enabling: %v, %v", en, err)
	}
	if err := m.Enable(ctx, "demo.service"); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"/etc/systemd/system/default.target.wants/demo.service -> /etc/systemd/system/demo.service",
		"/etc/systemd/system/foo.target.requires/demo.service -> /etc/systemd/system/demo.service",
		"/etc/systemd/system/multi-user.target.wants/demo.service -> /etc/systemd/system/demo.service",
	}
	if got := linksUnder(t, dir); !slices.Equal(got, want) {
		t.Errorf("links\n got %q\nwant %q", got, want)
	}
	if en, err := m.Enabled(ctx, "demo.service"); !en || err != nil {
		t.Errorf("Enabled after enabling: %v, %v", en, err)
	}
	// Enabling twice is fine.
	if err := m.Enable(ctx, "demo.service"); err != nil {
		t.Errorf("second Enable: %v", err)
	}
	// One link missing: not enabled.
	os.Remove(filepath.Join(dir, "/etc/systemd/system/foo.target.requires/demo.service"))
	if en, _ := m.Enabled(ctx, "demo.service"); en {
		t.Error("Enabled with a link missing")
	}
	m.Enable(ctx, "demo.service")
	if err := m.Disable(ctx, "demo.service"); err != nil {
		t.Fatal(err)
	}
	if got := linksUnder(t, dir); len(got) != 0 {
		t.Errorf("links left after Disable: %q", got)
	}
	if got := dirsUnder(t, dir); !slices.Equal(got, []string{"", "/etc", "/etc/systemd", "/etc/systemd/system"}) {
		t.Errorf("directories after Disable: %q", got)
	}
	// A unit that is not in the unit directory has no links: not enabled, nothing to do.
	if en, err := m.Enabled(ctx, "absent.service"); en || err != nil {
		t.Errorf("absent unit: %v, %v", en, err)
	}
	if err := m.Enable(ctx, "absent.service"); err != nil {
		t.Errorf("enabling an absent unit offline: %v", err)
	}
}

// TestOfflineLinksMatchSystemctl: the links the manager makes without
// systemctl are the ones `systemctl --root=R enable` makes, and both
// disables leave the same tree.
func TestOfflineLinksMatchSystemctl(t *testing.T) {
	systemctl := testenv.RequireBinary(t, "systemctl")
	ctx := context.Background()
	for _, unit := range []string{
		demoUnit,
		"[Unit]\nDescription=plain\n[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=multi-user.target\n",
		"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=a.target\nWantedBy=b.target c.target\n\n[X-Other]\nWantedBy=d.target\n",
		"[Service]\nExecStart=/bin/true\n[Install]\nWantedBy=a.target\nRequiredBy=r.target\nWantedBy=\nWantedBy=b.target\n",
	} {
		real, realDir := newRoot(t)
		os.WriteFile(filepath.Join(realDir, string(UnitDir), "demo.service"), []byte(unit), 0o644)
		own, ownDir := newRoot(t)
		os.WriteFile(filepath.Join(ownDir, string(UnitDir), "demo.service"), []byte(unit), 0o644)

		withSystemctl := &Manager{Root: real, Runner: runner.ExecRunner{}}
		if out, err := exec.Command(systemctl, "--root="+realDir, "enable", "demo.service").CombinedOutput(); err != nil {
			t.Fatalf("systemctl enable: %v\n%s", err, out)
		}
		without := &Manager{Root: own, Runner: &recorder{answer: notInstalled}}
		if err := without.Enable(ctx, "demo.service"); err != nil {
			t.Fatal(err)
		}
		r, o := linksUnder(t, realDir), linksUnder(t, ownDir)
		if !slices.Equal(r, o) || len(r) == 0 {
			t.Errorf("unit %q:\nsystemctl made %q\nsatchel made   %q", unit, r, o)
		}
		links, err := withSystemctl.InstallLinks("demo.service")
		if err != nil || len(links) != len(r) {
			t.Errorf("InstallLinks = %q, %v; systemctl made %d links", links, err, len(r))
		}
		if en, err := withSystemctl.Enabled(ctx, "demo.service"); !en || err != nil {
			t.Errorf("Enabled after systemctl enable: %v, %v", en, err)
		}
		if out, err := exec.Command(systemctl, "--root="+realDir, "disable", "demo.service").CombinedOutput(); err != nil {
			t.Fatalf("systemctl disable: %v\n%s", err, out)
		}
		if err := without.Disable(ctx, "demo.service"); err != nil {
			t.Fatal(err)
		}
		if r, o := dirsUnder(t, realDir), dirsUnder(t, ownDir); !slices.Equal(r, o) {
			t.Errorf("after disable: systemctl left %q, satchel %q", r, o)
		}
	}
}
