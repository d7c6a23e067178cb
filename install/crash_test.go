package install

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/install/txn"
	"github.com/satchel-dev/satchel/manifest"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// The test binary doubles as a crashable installer: with SATCHEL_TEST_HELPER
// set it runs one engine command on SATCHEL_TEST_ROOT and exits, so a test
// can kill it (txn.CrashEnv) at any journal step.
func TestMain(m *testing.M) {
	if cmd := os.Getenv("SATCHEL_TEST_HELPER"); cmd != "" {
		os.Exit(helperMain(cmd))
	}
	code := m.Run()
	if keyDir != "" {
		os.RemoveAll(keyDir)
	}
	os.Exit(code)
}

func helperMain(cmd string) int {
	root := os.Getenv("SATCHEL_TEST_ROOT")
	in, err := New(WithRoot(root), WithKeys(os.Getenv("SATCHEL_TEST_KEY")), WithRunner(newFakeRunner(root)), WithSelf(os.Getenv("SATCHEL_TEST_SELF")))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ctx := context.Background()
	switch cmd {
	case "apply":
		src, err := in.Open(ctx, os.Getenv("SATCHEL_TEST_BUNDLE"))
		if err == nil {
			var rep *Report
			rep, err = in.Apply(ctx, src)
			src.Close()
			if err == nil {
				fmt.Printf("steps=%d\n", rep.Steps)
			}
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return manifest.ExitCode(err)
		}
		return 0
	case "recover":
		_, err = in.Recover(ctx)
	case "uninstall":
		var rep *UninstallReport
		rep, err = in.Uninstall(ctx)
		if err == nil {
			fmt.Printf("steps=%d\n", rep.Steps)
		}
	default:
		err = fmt.Errorf("unknown helper command %q", cmd)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return manifest.ExitCode(err)
	}
	return 0
}

// helper runs the test binary as an installer; crashAt 0 means no crash,
// N crashes after step N is carried out, -N after it is recorded in the
// journal but before it runs. It returns the exit code and the number of
// steps reported.
func (e *env) helper(t *testing.T, root, cmd string, crashAt int) (int, int) {
	t.Helper()
	c := exec.Command(os.Args[0], "-test.run=^$")
	c.Env = append(os.Environ(), "SATCHEL_TEST_HELPER="+cmd, "SATCHEL_TEST_ROOT="+root, "SATCHEL_TEST_KEY="+e.key.pub,
		"SATCHEL_TEST_SELF="+e.self, "SATCHEL_TEST_BUNDLE="+e.bundle, txn.CrashEnv+"="+crashSpec(crashAt))
	var stderr strings.Builder
	c.Stderr = &stderr
	out, err := c.Output()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	if code != 0 && code != 137 {
		t.Logf("%s (crash at %d) exited %d: %s", cmd, crashAt, code, stderr.String())
	}
	steps := 0
	fmt.Sscanf(strings.TrimSpace(string(out)), "steps=%d", &steps)
	return code, steps
}

func crashSpec(n int) string {
	if n < 0 {
		return strconv.Itoa(-n) + "-"
	}
	return strconv.Itoa(n)
}

// crashFixture is smaller than the default one, with one of every kind of
// step: new and replaced files, a symlink, merged configs, units, a
// completion, a staged image, enabled units, the state.
func crashFixture() fixture {
	fx := defaultFixture()
	fx.components = []fixComponent{
		{"containerd", "2.0.4", []fixFile{bin("containerd"), bin("ctr")}},
		{"runc", "1.2.5", []fixFile{bin("runc")}},
		{"kata", "3.1.3", []fixFile{
			{path: "/opt/kata/bin/kata-runtime", mode: 0o755, content: script("kata-runtime")},
			{path: "/usr/local/bin/kata-runtime", link: "/opt/kata/bin/kata-runtime"},
		}},
		{"docker", "27.5.1", []fixFile{bin("dockerd")}},
		{"nerdctl", "2.0.4", []fixFile{bin("nerdctl")}},
	}
	fx.images = fx.images[:1]
	return fx
}

// seedUserFiles puts files a real host might have where satchel writes.
func seedUserFiles(e *env, root string) {
	w := func(p, s string, mode os.FileMode) {
		hp := filepath.Join(root, p)
		os.MkdirAll(filepath.Dir(hp), 0o755)
		if err := os.WriteFile(hp, []byte(s), mode); err != nil {
			e.t.Fatal(err)
		}
	}
	w("/etc/docker/daemon.json", "{\"log-level\": \"warn\"}\n", 0o644)
	w("/etc/containerd/config.toml", "version = 3\nroot = \"/data/containerd\"\n", 0o644)
	w("/usr/local/bin/runc", "an older runc", 0o755)
	w("/etc/hostname", "node1\n", 0o644)
}

// TestHardeningCrashApply kills apply right after each journal step, and
// between recording each step and carrying it out (issue 7, #4: a root
// must never get stuck), then checks that recovery restores the tree byte
// for byte (or, after the commit, completes the run) and that the next
// apply converges to the tree and state of an uninterrupted run.
func TestHardeningCrashApply(t *testing.T) {
	testenv.SkipShort(t, "runs the installer as a subprocess many times")
	e := newEnv(t, crashFixture())
	base := t.TempDir()
	pristine := filepath.Join(base, "pristine")
	seedUserFiles(e, pristine)
	want := snapshot(t, pristine)

	ref := filepath.Join(base, "reference")
	copyTree(t, pristine, ref)
	code, steps := e.helper(t, ref, "apply", 0)
	if code != 0 || steps < 10 {
		t.Fatalf("uninterrupted apply: exit %d after %d steps", code, steps)
	}
	refTree := snapshot(t, ref, state.Path)
	refState, err := readStateAt(ref)
	if err != nil {
		t.Fatal(err)
	}
	ta := newTally(t, "crash-apply")
	for _, n := range crashPoints(steps) {
		t.Run(crashName(n), func(t *testing.T) {
			t.Parallel()
			ta.case_(t)
			root := filepath.Join(base, "run"+crashSpec(n))
			copyTree(t, pristine, root)
			if code, _ := e.helper(t, root, "apply", n); code != 137 {
				t.Fatalf("exit %d, want 137 from the crash hook", code)
			}
			if _, err := os.Stat(filepath.Join(root, string(state.JournalPath))); err != nil {
				t.Fatalf("no journal after the crash: %v", err)
			}
			if n%2 != 0 {
				// Recover on its own: the tree is the one before the install,
				// or, after a crash past the commit, the completed install.
				if code, _ := e.helper(t, root, "recover", 0); code != 0 {
					t.Fatalf("recover exited %d", code)
				}
				if n == steps {
					// Crashed after the commit: the run completes.
					requireSameTree(t, refTree, snapshot(t, root, state.Path))
				} else {
					requireSameTree(t, want, snapshot(t, root))
				}
			}
			// The next apply (which recovers first, for even n) converges.
			if code, _ := e.helper(t, root, "apply", 0); code != 0 {
				t.Fatalf("re-run exited %d", code)
			}
			if d := diffSnapshots(refTree, snapshot(t, root, state.Path)); len(d) > 0 {
				t.Fatalf("re-run did not converge:\n%s", strings.Join(d, "\n"))
			}
			st, err := readStateAt(root)
			if err != nil || !state.Same(st, refState) {
				a, _ := st.Encode()
				b, _ := refState.Encode()
				t.Fatalf("state differs from the uninterrupted run's (%v):\n%s", err, strings.Join(diffLines(string(b), string(a)), "\n"))
			}
			os.RemoveAll(root)
		})
	}
}

// TestHardeningCrashUninstall kills uninstall after each step, and
// between recording and carrying out each; the next uninstall still
// restores the tree from before the install.
func TestHardeningCrashUninstall(t *testing.T) {
	testenv.SkipShort(t, "runs the installer as a subprocess many times")
	e := newEnv(t, crashFixture())
	base := t.TempDir()
	pristine := filepath.Join(base, "pristine")
	seedUserFiles(e, pristine)
	want := snapshot(t, pristine)
	installed := filepath.Join(base, "installed")
	copyTree(t, pristine, installed)
	if code, _ := e.helper(t, installed, "apply", 0); code != 0 {
		t.Fatalf("apply exited %d", code)
	}
	probe := filepath.Join(base, "probe")
	copyTree(t, installed, probe)
	code, steps := e.helper(t, probe, "uninstall", 0)
	if code != 0 || steps < 10 {
		t.Fatalf("uninstall: exit %d after %d steps", code, steps)
	}
	requireSameTree(t, want, snapshot(t, probe))
	ta := newTally(t, "crash-uninstall")
	for _, n := range crashPoints(steps) {
		t.Run(crashName(n), func(t *testing.T) {
			t.Parallel()
			ta.case_(t)
			root := filepath.Join(base, "u"+crashSpec(n))
			copyTree(t, installed, root)
			if code, _ := e.helper(t, root, "uninstall", n); code != 137 {
				t.Fatalf("exit %d, want 137 from the crash hook", code)
			}
			if code, _ := e.helper(t, root, "uninstall", 0); code != 0 {
				t.Fatalf("re-run exited %d", code)
			}
			if d := diffSnapshots(want, snapshot(t, root)); len(d) > 0 {
				t.Fatalf("uninstall after a crash did not restore the tree:\n%s", strings.Join(d, "\n"))
			}
			os.RemoveAll(root)
		})
	}
}

// crashPoints are every step, crashed after it ran and before it ran.
func crashPoints(steps int) []int {
	var out []int
	for n := 1; n <= steps; n++ {
		out = append(out, n, -n)
	}
	return out
}

func crashName(n int) string {
	if n < 0 {
		return fmt.Sprintf("recorded%02d", -n)
	}
	return fmt.Sprintf("done%02d", n)
}

// copyTree copies files, symlinks and directories with their modes.
func copyTree(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	err := filepath.WalkDir(from, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(from, p)
		dst := filepath.Join(to, rel)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			l, _ := os.Readlink(p)
			return os.Symlink(l, dst)
		case fi.IsDir():
			if err := os.MkdirAll(dst, 0o755); err != nil {
				return err
			}
			return os.Chmod(dst, fi.Mode().Perm())
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			return os.WriteFile(dst, b, fi.Mode().Perm())
		}
	})
	if err != nil {
		t.Fatal(err)
	}
}

// diffLines lists lines of b not in a and of a not in b (for messages).
func diffLines(a, b string) []string {
	var out []string
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(l []string, s string) bool {
		for _, x := range l {
			if x == s {
				return true
			}
		}
		return false
	}
	for _, l := range al {
		if !in(bl, l) {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if !in(al, l) {
			out = append(out, "+ "+l)
		}
	}
	return out
}

// TestCrashDuringUpgrade kills an upgrade (sequence 7 to 8: a changed
// binary, a removed component whose config put a user file back) after
// each step: recovery restores the sequence-7 tree exactly, and the next
// apply converges to the uninterrupted upgrade.
func TestCrashDuringUpgrade(t *testing.T) {
	testenv.SkipShort(t, "runs the installer as a subprocess many times")
	e := newEnv(t, crashFixture())
	base := t.TempDir()
	installed := filepath.Join(base, "installed")
	seedUserFiles(e, installed)
	if code, _ := e.helper(t, installed, "apply", 0); code != 0 {
		t.Fatalf("installing sequence 7 exited %d", code)
	}
	v7 := snapshot(t, installed)

	fx := crashFixture()
	fx.seq = 8
	fx.components[1].files[0].content = script("runc") + "# 1.2.6\n"
	fx.components = slices.DeleteFunc(fx.components, func(c fixComponent) bool { return c.name == "docker" })
	e.bundle, _ = fx.build(t, filepath.Join(e.dir, "v8"), e.key)

	ref := filepath.Join(base, "reference")
	copyTree(t, installed, ref)
	code, steps := e.helper(t, ref, "apply", 0)
	if code != 0 || steps < 5 {
		t.Fatalf("uninterrupted upgrade: exit %d after %d steps", code, steps)
	}
	refTree := snapshot(t, ref, state.Path)
	// Dropping docker put the user's daemon.json back.
	if b, _ := os.ReadFile(filepath.Join(ref, "etc/docker/daemon.json")); string(b) != "{\"log-level\": \"warn\"}\n" {
		t.Fatalf("daemon.json after dropping docker: %q", b)
	}
	for n := 1; n <= steps; n++ {
		t.Run(fmt.Sprintf("step%02d", n), func(t *testing.T) {
			t.Parallel()
			root := filepath.Join(base, fmt.Sprintf("up%d", n))
			copyTree(t, installed, root)
			if code, _ := e.helper(t, root, "apply", n); code != 137 {
				t.Fatalf("exit %d, want 137 from the crash hook", code)
			}
			if n%2 == 1 && n < steps {
				if code, _ := e.helper(t, root, "recover", 0); code != 0 {
					t.Fatalf("recover exited %d", code)
				}
				requireSameTree(t, v7, snapshot(t, root))
			}
			if code, _ := e.helper(t, root, "apply", 0); code != 0 {
				t.Fatalf("re-run exited %d", code)
			}
			if d := diffSnapshots(refTree, snapshot(t, root, state.Path)); len(d) > 0 {
				t.Fatalf("re-run did not converge:\n%s", strings.Join(d, "\n"))
			}
			os.RemoveAll(root)
		})
	}
}
