package install

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
)

// The tests named TestHardening* turn each finding of the hostile review
// (issue 7) into cases that would have caught it. Each logs one line,
// "hardening: CLASS tried=N held=M", which `make hardening` collects.

// tally counts a class's cases and how many held.
type tally struct {
	class       string
	tried, held atomic.Int64
}

func newTally(t *testing.T, class string) *tally {
	ta := &tally{class: class}
	t.Cleanup(func() {
		t.Logf("hardening: %s tried=%d held=%d", class, ta.tried.Load(), ta.held.Load())
	})
	return ta
}

// case_ counts t as a case of the class; it holds if t passes.
func (ta *tally) case_(t *testing.T) {
	ta.tried.Add(1)
	t.Cleanup(func() {
		if !t.Failed() && !t.Skipped() {
			ta.held.Add(1)
		}
	})
}

// bothResolvers runs fn with the root opened through openat2 (where this
// kernel has it) and through the component walk Kylin V10's 4.19 needs.
func bothResolvers(t *testing.T, ta *tally, name string, fn func(t *testing.T, r rootfs.Resolver)) {
	for _, r := range []rootfs.Resolver{rootfs.ResolverOpenat2, rootfs.ResolverWalk} {
		t.Run(name+"/"+string(r), func(t *testing.T) {
			ta.case_(t)
			if r == rootfs.ResolverOpenat2 {
				if probe, err := rootfs.Open(t.TempDir()); err != nil || probe.Resolver() != rootfs.ResolverOpenat2 {
					testenv.Skipf(t, "no openat2 on this kernel")
				}
			}
			fn(t, r)
		})
	}
}

// TestHardeningLanes: a signed bundle cannot write outside /usr/local and
// /opt through symlinks, its own or the host's (issue 7, critical 1).
func TestHardeningLanes(t *testing.T) {
	ta := newTally(t, "symlink-lanes")
	small := func(files ...fixFile) fixture {
		fx := defaultFixture()
		fx.components = []fixComponent{{"runc", "1.2.5", append([]fixFile{bin("runc")}, files...)}}
		fx.images = nil
		return fx
	}
	passwd := "root:x:0:0::/root:/bin/sh\n"
	cases := []struct {
		name string
		fx   fixture
		host func(e *env) // what the host has before
		code int          // exit code: 3 refused before any write
	}{
		{"host link /opt/x -> /etc", small(fixFile{path: "/opt/x/passwd", mode: 0o644, content: "evil"}),
			func(e *env) { os.Symlink("/etc", filepath.Join(e.root, "opt/x")) }, 3},
		{"host link /opt/x -> ../etc", small(fixFile{path: "/opt/x/passwd", mode: 0o644, content: "evil"}),
			func(e *env) { os.Symlink("../etc", filepath.Join(e.root, "opt/x")) }, 3},
		{"host link /usr/local -> /srv/local", small(),
			func(e *env) {
				os.MkdirAll(filepath.Join(e.root, "srv/local"), 0o755)
				os.RemoveAll(filepath.Join(e.root, "usr/local"))
				os.Symlink("/srv/local", filepath.Join(e.root, "usr/local"))
			}, 3},
		{"host link /opt/k -> /etc/systemd, unit planted through it", small(fixFile{path: "/opt/k/system/evil.service", mode: 0o644, content: "[Service]\nExecStart=/bin/sh\n"}),
			func(e *env) { os.Symlink("/etc/systemd", filepath.Join(e.root, "opt/k")) }, 3},
		{"host link into the key directory", small(fixFile{path: "/opt/keys/evil.pub", mode: 0o644, content: "key"}),
			func(e *env) { os.Symlink("/etc/satchel/keys", filepath.Join(e.root, "opt/keys")) }, 3},
		// The bundle ships the link and then a file through it: refused at
		// write time, without following the link, and rolled back.
		{"bundle link /opt/x -> ../etc then /opt/x/passwd", small(
			fixFile{path: "/opt/x", link: "../etc"},
			fixFile{path: "/opt/x/passwd", mode: 0o644, content: "evil"}), nil, -1},
	}
	for _, c := range cases {
		bothResolvers(t, ta, c.name, func(t *testing.T, r rootfs.Resolver) {
			e := newEnv(t, c.fx)
			e.write("/etc/passwd", passwd, 0o644)
			e.write("/etc/satchel/keys/README", "keys\n", 0o644)
			os.MkdirAll(filepath.Join(e.root, "opt"), 0o755)
			os.MkdirAll(filepath.Join(e.root, "usr/local/bin"), 0o755)
			if c.host != nil {
				c.host(e)
			}
			before := snapshot(t, e.root)
			in := e.installer(WithResolver(r))
			if _, err := e.apply(in); err == nil {
				t.Fatal("apply wrote through a symlink")
			} else if c.code > 0 && manifest.ExitCode(err) != c.code {
				t.Errorf("exit code %d, want %d: %v", manifest.ExitCode(err), c.code, err)
			} else if c.code < 0 && !strings.Contains(err.Error(), "symlink") {
				t.Errorf("error does not name the symlink: %v", err)
			}
			requireSameTree(t, before, snapshot(t, e.root))
			if got := e.read("/etc/passwd"); got != passwd {
				t.Errorf("/etc/passwd changed: %q", got)
			}
		})
	}

	// Links that stay inside the lanes are followed, and plan shows where
	// the file really goes.
	bothResolvers(t, ta, "link inside the lanes", func(t *testing.T, r rootfs.Resolver) {
		e := newEnv(t, small(fixFile{path: "/opt/kata/bin/kata-runtime", mode: 0o755, content: "k"}))
		os.MkdirAll(filepath.Join(e.root, "opt/kata-3.1.3"), 0o755)
		os.Symlink("kata-3.1.3", filepath.Join(e.root, "opt/kata"))
		p := e.plan(e.installer(WithResolver(r)))
		i := slices.IndexFunc(p.Actions, func(a plan.Action) bool { return a.Via == "/opt/kata/bin/kata-runtime" })
		if i < 0 || p.Actions[i].Path != "/opt/kata-3.1.3/bin/kata-runtime" {
			t.Fatalf("plan does not show the resolved path: %v", describeChanges(p))
		}
		e.mustApply(WithResolver(r))
		if got := e.read("/opt/kata-3.1.3/bin/kata-runtime"); got != "k" {
			t.Errorf("written to %q", got)
		}
		if _, err := e.installer().Uninstall(context.Background()); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Lstat(filepath.Join(e.root, "opt/kata-3.1.3/bin/kata-runtime")); !os.IsNotExist(err) {
			t.Errorf("uninstall left the file: %v", err)
		}
	})
}

// TestHardeningNoBundleCode: plan, apply into a root, a re-plan of the
// installed root and uninstall run no program from the bundle on the
// installing host (issue 7, critical 2).
func TestHardeningNoBundleCode(t *testing.T) {
	ta := newTally(t, "no-bundle-code")
	e := newEnv(t, defaultFixture())
	// Every stand-in tool records that it ran.
	marker := filepath.Join(e.dir, "ran")
	for i, c := range e.fx.components {
		for j, f := range c.files {
			if f.link == "" && f.mode&0o111 != 0 {
				e.fx.components[i].files[j].content = "#!/bin/sh\necho \"$0 $*\" >> " + marker + "\n"
			}
		}
	}
	e.bundle, e.ix = e.fx.build(t, filepath.Join(e.dir, "recording"), e.key)
	steps := []struct {
		name string
		run  func() error
	}{
		{"plan", func() error { e.plan(e.installer()); return nil }},
		{"apply", func() error { _, err := e.apply(e.installer()); return err }},
		{"plan of the installed root", func() error { e.plan(e.installer()); return nil }},
		{"apply again", func() error { _, err := e.apply(e.installer()); return err }},
		{"status", func() error { _, err := e.installer().Status(context.Background()); return err }},
		{"uninstall", func() error { _, err := e.installer().Uninstall(context.Background()); return err }},
	}
	for _, s := range steps {
		t.Run(s.name, func(t *testing.T) {
			ta.case_(t)
			if err := s.run(); err != nil {
				t.Fatal(err)
			}
			if b, err := os.ReadFile(marker); err == nil {
				t.Fatalf("a program from the bundle ran: %s", b)
			}
			if ran := e.runner.called("<root>/"); len(ran) > 0 {
				t.Fatalf("the installer ran programs from the root: %q", ran)
			}
		})
	}
}

// TestHardeningSeries: anti-downgrade holds across series (issue 7, #3).
func TestHardeningSeries(t *testing.T) {
	ta := newTally(t, "series")
	e := newEnv(t, defaultFixture())
	build := func(name string, seq uint64) string {
		fx := e.fx
		fx.name, fx.seq = name, seq
		p, _ := fx.build(t, filepath.Join(e.dir, fmt.Sprintf("%s-%d", name, seq)), e.key)
		return p
	}
	a5, b1, a3, a6 := build("series-a", 5), build("series-b", 1), build("series-a", 3), build("series-a", 6)
	try := func(name, bundle string, wantCode int, opts ...Option) {
		t.Run(name, func(t *testing.T) {
			ta.case_(t)
			before := snapshot(t, e.root)
			in := e.installer(opts...)
			src, err := in.Open(context.Background(), bundle)
			if err == nil {
				_, err = in.Apply(context.Background(), src)
				src.Close()
			}
			if got := manifest.ExitCode(err); got != wantCode {
				t.Fatalf("exit code %d (%v), want %d", got, err, wantCode)
			}
			if wantCode != 0 {
				requireSameTree(t, before, snapshot(t, e.root))
			}
		})
	}
	try("install a, sequence 5", a5, 0)
	try("another series is refused", b1, 3)
	try("another series with --allow-series-change", b1, 0, WithAllowSeriesChange(true))
	try("a's sequence 3 after a:5 and b:1 is a downgrade", a3, 3)
	try("even with a series change allowed", a3, 3, WithAllowSeriesChange(true))
	try("back to a at sequence 6", a6, 0, WithAllowSeriesChange(true))
	try("a's sequence 5 again is a downgrade", a5, 3)
}

// TestHardeningConcurrentApply: two applies started close together do not
// both plan against the same tree (issue 7, #5): one waits for the lock
// and finds nothing to do, or is refused; uninstall then restores the tree.
func TestHardeningConcurrentApply(t *testing.T) {
	testenv.SkipShort(t, "runs installers as subprocesses")
	ta := newTally(t, "concurrent-apply")
	e := newEnv(t, crashFixture())
	for _, delay := range []time.Duration{0, 100 * time.Millisecond, 300 * time.Millisecond, 700 * time.Millisecond} {
		t.Run(delay.String(), func(t *testing.T) {
			ta.case_(t)
			root := t.TempDir()
			seedUserFiles(e, root)
			want := snapshot(t, root)
			var wg sync.WaitGroup
			codes := make([]int, 2)
			for i := range 2 {
				wg.Add(1)
				go func() {
					defer wg.Done()
					time.Sleep(time.Duration(i) * delay)
					codes[i], _ = e.helper(t, root, "apply", 0)
				}()
			}
			wg.Wait()
			if codes[0] != 0 && codes[1] != 0 {
				t.Fatalf("both applies failed: %v", codes)
			}
			st, err := readStateAt(root)
			if err != nil || st == nil {
				t.Fatalf("state: %v", err)
			}
			for _, f := range st.Files {
				if f.Preexisting && f.Path == "/usr/local/bin/containerd" {
					t.Fatalf("%s recorded as pre-existing: a stale plan ran", f.Path)
				}
			}
			if code, _ := e.helper(t, root, "uninstall", 0); code != 0 {
				t.Fatalf("uninstall exited %d", code)
			}
			requireSameTree(t, want, snapshot(t, root))
		})
	}
}

// TestHardeningModes: a config holding secrets keeps its mode and owner
// when satchel merges into it (issue 7, #6).
func TestHardeningModes(t *testing.T) {
	ta := newTally(t, "config-modes")
	fx := defaultFixture()
	fx.components[0].version = "1.7.27" // containerd 1.x: merged into config.toml itself
	for _, c := range []struct {
		path    rootfs.Path
		content string
		mode    os.FileMode
	}{
		{"/etc/containerd/config.toml", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"harbor.internal\".auth]\n  password = \"s3cret\"\n", 0o600},
		{"/etc/docker/daemon.json", "{\"registry-mirrors\": [\"https://user:s3cret@mirror.internal\"]}\n", 0o600},
		{"/etc/crictl.yaml", "timeout: 5\n", 0o640},
	} {
		t.Run(string(c.path), func(t *testing.T) {
			ta.case_(t)
			e := newEnv(t, fx)
			e.write(c.path, c.content, c.mode)
			uid, gid := -1, -1
			if os.Getuid() == 0 {
				uid, gid = 1234, 4321
				os.Chown(filepath.Join(e.root, string(c.path)), uid, gid)
			}
			old := syscall.Umask(0)
			e.mustApply()
			syscall.Umask(old)
			fi, err := os.Stat(filepath.Join(e.root, string(c.path)))
			if err != nil {
				t.Fatal(err)
			}
			if fi.Mode().Perm() != c.mode {
				t.Errorf("mode %v, want %v", fi.Mode().Perm(), c.mode)
			}
			if e.read(c.path) == c.content {
				t.Fatal("satchel did not merge into it")
			}
			if st := fi.Sys().(*syscall.Stat_t); uid >= 0 && (int(st.Uid) != uid || int(st.Gid) != gid) {
				t.Errorf("owner %d:%d, want %d:%d", st.Uid, st.Gid, uid, gid)
			}
		})
	}
}

// TestHardeningUserEdits: an edit made after satchel wrote a config, and
// picked up by a later apply, survives uninstall (issue 7, #7).
func TestHardeningUserEdits(t *testing.T) {
	ta := newTally(t, "user-edits")
	t.Run("daemon.json edited between two applies", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		e.write("/etc/docker/daemon.json", "{\n    \"log-level\": \"warn\"\n}\n", 0o644)
		e.mustApply()
		// The user adds a setting and changes one of satchel's.
		var dj map[string]any
		json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &dj)
		dj["insecure-registries"] = []any{"harbor.internal"}
		dj["default-runtime"] = "runc-user"
		b, _ := json.MarshalIndent(dj, "", "    ")
		e.write("/etc/docker/daemon.json", string(b)+"\n", 0o644)
		// A newer bundle is applied: the edit is merged in.
		fx := e.fx
		fx.seq = 8
		e.bundle, e.ix = fx.build(t, filepath.Join(e.dir, "v8"), e.key)
		e.mustApply()
		if got := e.read("/etc/docker/daemon.json"); !strings.Contains(got, "harbor.internal") {
			t.Fatalf("the edit was lost at upgrade:\n%s", got)
		}
		rep, err := e.installer().Uninstall(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		var after map[string]any
		if err := json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &after); err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(after["insecure-registries"]) != "[harbor.internal]" || after["log-level"] != "warn" || after["default-runtime"] != "runc-user" {
			t.Errorf("the user's settings did not survive uninstall: %v", after)
		}
		if _, ok := after["runtimes"]; ok {
			t.Errorf("satchel's runtimes were left: %v", after)
		}
		i := slices.IndexFunc(rep.Actions, func(a plan.Action) bool { return a.Path == "/etc/docker/daemon.json" })
		if i < 0 || rep.Actions[i].Change != plan.ChangeRevert || rep.Actions[i].Note == "" {
			t.Errorf("uninstall did not say what it did with daemon.json: %+v", rep.Actions)
		}
	})
	t.Run("unedited files come back byte for byte", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		user := "{\"log-level\": \"warn\", \"runtimes\": {\"x\": {\"path\": \"/opt/x\"}}}\n"
		e.write("/etc/docker/daemon.json", user, 0o644)
		before := snapshot(t, e.root)
		e.mustApply()
		fx := e.fx
		fx.seq = 8
		e.bundle, e.ix = fx.build(t, filepath.Join(e.dir, "v8"), e.key)
		e.mustApply()
		if _, err := e.installer().Uninstall(context.Background()); err != nil {
			t.Fatal(err)
		}
		requireSameTree(t, before, snapshot(t, e.root))
	})
}

// TestHardeningUntrustedReads: what the installer reads from the host or
// the root cannot hang it or make it read what it should not (issue 7, #11).
func TestHardeningUntrustedReads(t *testing.T) {
	ta := newTally(t, "untrusted-reads")
	within := func(t *testing.T, d time.Duration, fn func()) {
		t.Helper()
		done := make(chan struct{})
		go func() { defer close(done); fn() }()
		select {
		case <-done:
		case <-time.After(d):
			t.Fatalf("still running after %v", d)
		}
	}
	configCases := []struct {
		name  string
		setup func(e *env)
		want  string
	}{
		{"config.toml is a FIFO", func(e *env) {
			os.MkdirAll(filepath.Join(e.root, "etc/containerd"), 0o755)
			syscall.Mkfifo(filepath.Join(e.root, "etc/containerd/config.toml"), 0o644)
		}, "named pipe"},
		{"daemon.json -> /dev/zero", func(e *env) {
			os.MkdirAll(filepath.Join(e.root, "etc/docker"), 0o755)
			os.Symlink("/dev/zero", filepath.Join(e.root, "etc/docker/daemon.json"))
		}, "symlink"},
		{"crictl.yaml -> a file outside the root", func(e *env) {
			os.WriteFile(filepath.Join(e.dir, "outside.yaml"), []byte("timeout: 1\n"), 0o644)
			os.MkdirAll(filepath.Join(e.root, "etc"), 0o755)
			os.Symlink(filepath.Join(e.dir, "outside.yaml"), filepath.Join(e.root, "etc/crictl.yaml"))
		}, "symlink"},
		{"daemon.json of 300 MB", func(e *env) {
			os.MkdirAll(filepath.Join(e.root, "etc/docker"), 0o755)
			f, _ := os.Create(filepath.Join(e.root, "etc/docker/daemon.json"))
			f.Truncate(300 << 20)
			f.Close()
		}, "more than satchel reads"},
	}
	for _, c := range configCases {
		t.Run(c.name, func(t *testing.T) {
			ta.case_(t)
			e := newEnv(t, defaultFixture())
			c.setup(e)
			before := snapshot(t, e.root)
			within(t, 20*time.Second, func() {
				_, err := e.apply(e.installer())
				if err == nil || !strings.Contains(err.Error(), c.want) {
					t.Errorf("apply: %v, want an error about %q", err, c.want)
				}
			})
			requireSameTree(t, before, snapshot(t, e.root))
		})
	}
	keyCases := []struct {
		name string
		key  func(e *env) string
	}{
		{"--key is a FIFO", func(e *env) string {
			p := filepath.Join(e.dir, "fifo.pub")
			syscall.Mkfifo(p, 0o644)
			return p
		}},
		{"--key is /dev/zero", func(e *env) string { return "/dev/zero" }},
		{"--key is 300 MB", func(e *env) string {
			p := filepath.Join(e.dir, "big.pub")
			f, _ := os.Create(p)
			f.Truncate(300 << 20)
			f.Close()
			return p
		}},
		{"--key holds a second key", func(e *env) string {
			other := newKey(t, e.dir, "other")
			a, _ := os.ReadFile(e.key.pub)
			b, _ := os.ReadFile(other.pub)
			p := filepath.Join(e.dir, "two.pub")
			os.WriteFile(p, append(b, a...), 0o644)
			return p
		}},
	}
	for _, c := range keyCases {
		t.Run(c.name, func(t *testing.T) {
			ta.case_(t)
			e := newEnv(t, defaultFixture())
			key := c.key(e)
			in, err := New(WithRoot(e.root), WithKeys(key), WithRunner(e.runner), WithSelf(e.self))
			if err != nil {
				t.Fatal(err)
			}
			within(t, 20*time.Second, func() {
				_, err = in.Open(context.Background(), e.bundle)
			})
			if manifest.ExitCode(err) != manifest.ExitVerification {
				t.Errorf("Open: exit %d (%v), want 3", manifest.ExitCode(err), err)
			}
		})
	}
	t.Run("key directory entry -> /etc/shadow", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		secret := filepath.Join(e.dir, "shadow")
		os.WriteFile(secret, []byte("root:$6$secret:19000:0:99999:7:::\n"), 0o600)
		os.MkdirAll(filepath.Join(e.root, "etc/satchel/keys"), 0o755)
		os.Symlink(secret, filepath.Join(e.root, "etc/satchel/keys/evil.pub"))
		in, err := New(WithRoot(e.root), WithRunner(e.runner), WithSelf(e.self))
		if err != nil {
			t.Fatal(err)
		}
		_, err = in.Open(context.Background(), e.bundle)
		if manifest.ExitCode(err) != manifest.ExitVerification || strings.Contains(err.Error(), "$6$") {
			t.Errorf("Open: %v", err)
		}
		if err == nil || !strings.Contains(err.Error(), "not a regular file") && !strings.Contains(err.Error(), "symlink") {
			t.Errorf("the error does not say the key is a link: %v", err)
		}
	})
	t.Run("bundle is a FIFO", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		p := filepath.Join(e.dir, "fifo.satchel")
		syscall.Mkfifo(p, 0o644)
		var err error
		within(t, 20*time.Second, func() { _, err = e.installer().Open(context.Background(), p) })
		if err == nil {
			t.Error("a FIFO opened as a bundle")
		}
	})
}

// TestHardeningJournalIsLinear: each step appends one line to the journal
// (issue 7, #10: rewriting it whole made 10,000 files take 357 s).
func TestHardeningJournalIsLinear(t *testing.T) {
	testenv.SkipShort(t, "runs the installer as a subprocess")
	ta := newTally(t, "journal-linear")
	t.Run("2000 files", func(t *testing.T) {
		ta.case_(t)
		fx := defaultFixture()
		var files []fixFile
		for i := range 2000 {
			files = append(files, fixFile{path: fmt.Sprintf("/opt/many/f%04d", i), mode: 0o644, content: fmt.Sprint(i)})
		}
		fx.components = []fixComponent{{"kata", "3.1.3", files}}
		fx.images = nil
		e := newEnv(t, fx)
		root := t.TempDir()
		if code, _ := e.helper(t, root, "apply", 1500); code != 137 {
			t.Fatalf("exit %d, want 137", code)
		}
		b, err := os.ReadFile(filepath.Join(root, string(state.JournalPath)))
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Count(string(b), "\n")
		if lines != 1501 {
			t.Errorf("journal has %d lines after 1500 steps, want 1501 (a header and one per step)", lines)
		}
		if len(b) > 1501*400 {
			t.Errorf("journal is %d bytes for 1500 steps", len(b))
		}
		if code, _ := e.helper(t, root, "apply", 0); code != 0 {
			t.Fatalf("re-run exited %d", code)
		}
	})
}

// TestHardeningReadOnlyAndFull: a write that fails on a read-only or full
// file system rolls back, and the next run converges once the cause is
// fixed (issue 7, #4). Needs root for the mounts.
func TestHardeningReadOnlyAndFull(t *testing.T) {
	if os.Getuid() != 0 {
		testenv.Skipf(t, "needs root to mount a read-only and a tiny file system")
	}
	ta := newTally(t, "readonly-diskfull")
	mount := func(t *testing.T, args ...string) {
		t.Helper()
		if out, err := exec.Command("mount", args...).CombinedOutput(); err != nil {
			t.Fatalf("mount %v: %v\n%s", args, err, out)
		}
	}
	umount := func(p string) { exec.Command("umount", "-l", p).Run() }
	t.Run("read-only /etc", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		e.write("/etc/docker/daemon.json", "{}\n", 0o644)
		etc := filepath.Join(e.root, "etc")
		mount(t, "--bind", etc, etc)
		t.Cleanup(func() { umount(etc) })
		mount(t, "-o", "remount,bind,ro", etc)
		before := snapshot(t, e.root)
		if _, err := e.apply(e.installer()); err == nil || !strings.Contains(err.Error(), "rolled back") {
			t.Fatalf("apply on a read-only /etc: %v", err)
		}
		requireSameTree(t, before, snapshot(t, e.root))
		umount(etc)
		e.mustApply()
		if p := e.plan(e.installer()); p.Changed {
			t.Errorf("did not converge: %v", describeChanges(p))
		}
	})
	t.Run("full /usr/local", func(t *testing.T) {
		ta.case_(t)
		e := newEnv(t, defaultFixture())
		ul := filepath.Join(e.root, "usr/local")
		os.MkdirAll(ul, 0o755)
		// Room for the bytes (preflight checks those), not for the files:
		// the disk fills up half-way through the install.
		mount(t, "-t", "tmpfs", "-o", "size=64m,nr_inodes=6", "tmpfs", ul)
		t.Cleanup(func() { umount(ul) })
		before := snapshot(t, e.root)
		_, err := e.apply(e.installer())
		if err == nil || !errors.Is(err, syscall.ENOSPC) && !strings.Contains(err.Error(), "no space") {
			t.Fatalf("apply on a full file system: %v", err)
		}
		requireSameTree(t, before, snapshot(t, e.root))
		mount(t, "-o", "remount,size=64m,nr_inodes=4096", ul)
		e.mustApply()
		if p := e.plan(e.installer()); p.Changed {
			t.Errorf("did not converge: %v", describeChanges(p))
		}
	})
}
