package rootfs

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// resolvers runs a test with both ways of opening directories: openat2
// where this kernel has it, and the component walk Kylin V10's 4.19 needs.
func resolvers(t *testing.T, fn func(t *testing.T, open func(dir string) *Root)) {
	for _, rs := range []Resolver{ResolverOpenat2, ResolverWalk} {
		t.Run(string(rs), func(t *testing.T) {
			if rs == ResolverOpenat2 && !openat2Available() {
				testenv.Skipf(t, "this kernel has no openat2 (Linux < 5.6): only the walk applies")
			}
			fn(t, func(dir string) *Root {
				r, err := Open(dir, WithResolver(rs))
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { r.Close() })
				return r
			})
		})
	}
}

// tree makes a root and an "outside" directory beside it, with
// outside/passwd standing for a file no bundle may touch.
func tree(t *testing.T) (root, outside string) {
	base := t.TempDir()
	root, outside = filepath.Join(base, "root"), filepath.Join(base, "outside")
	for _, d := range []string{root + "/etc", root + "/opt", root + "/usr/local/bin", outside} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, f := range []string{root + "/etc/passwd", outside + "/passwd"} {
		if err := os.WriteFile(f, []byte("root:x:0:0\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root, outside
}

func mustRead(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestWritesNeverFollowSymlinks(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, outside := tree(t)
		// The attack: the bundle ships /opt/x -> ../etc, then /opt/x/passwd.
		os.Symlink("../etc", root+"/opt/x")
		// The host (or an earlier bundle) has links out of the root.
		os.Symlink(outside, root+"/opt/abs")
		os.Symlink("../../../outside", root+"/opt/rel")
		r := open(root)
		for _, p := range []Path{"/opt/x/passwd", "/opt/abs/passwd", "/opt/rel/passwd", "/opt/x/sub/file"} {
			err := r.WriteFile(p, ".tmp", strings.NewReader("evil\n"), 0o644, NoOwner)
			var se *SymlinkError
			if !errors.As(err, &se) {
				t.Errorf("WriteFile(%s) = %v, want a SymlinkError", p, err)
			} else if !strings.HasPrefix(se.Link, "/opt/") {
				t.Errorf("WriteFile(%s): link named %q", p, se.Link)
			}
			if err := r.Symlink("/etc/shadow", p, ".tmp"); err == nil {
				t.Errorf("Symlink at %s went through a link", p)
			}
			if _, err := r.MkdirAll(p); err == nil {
				t.Errorf("MkdirAll(%s) went through a link", p)
			}
			if err := r.Remove(p); err == nil {
				t.Errorf("Remove(%s) went through a link", p)
			}
		}
		if got := mustRead(t, root+"/etc/passwd"); got != "root:x:0:0\n" {
			t.Errorf("/etc/passwd in the root changed: %q", got)
		}
		if got := mustRead(t, outside+"/passwd"); got != "root:x:0:0\n" {
			t.Errorf("a file outside the root changed: %q", got)
		}
		if _, err := os.Lstat(outside + "/sub"); err == nil {
			t.Error("a directory was created outside the root")
		}
	})
}

func TestFinalSymlinkIsReplacedNotFollowed(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, outside := tree(t)
		os.Symlink(outside+"/passwd", root+"/usr/local/bin/runc")
		r := open(root)
		if err := r.WriteFile("/usr/local/bin/runc", ".runc.tmp", strings.NewReader("binary"), 0o755, NoOwner); err != nil {
			t.Fatal(err)
		}
		fi, err := os.Lstat(root + "/usr/local/bin/runc")
		if err != nil || !fi.Mode().IsRegular() || fi.Mode().Perm() != 0o755 {
			t.Fatalf("runc: %v %v", fi, err)
		}
		if got := mustRead(t, outside+"/passwd"); got != "root:x:0:0\n" {
			t.Errorf("the link's target changed: %q", got)
		}
	})
}

func TestResolveLikeTheInstalledSystem(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, _ := tree(t)
		os.Symlink("../etc", root+"/opt/x")
		os.Symlink("/etc", root+"/opt/abs")
		os.Symlink("../../../../../..", root+"/opt/up") // climbs past the root: stays at /
		os.Symlink("lib", root+"/usr/local/lib64")
		os.Symlink("loop2", root+"/opt/loop1")
		os.Symlink("loop1", root+"/opt/loop2")
		os.Symlink("passwd", root+"/etc/pw")
		r := open(root)
		for _, c := range []struct {
			in    Path
			final bool
			want  Path
		}{
			{"/opt/x/passwd", false, "/etc/passwd"},
			{"/opt/abs/passwd", false, "/etc/passwd"},
			{"/opt/up/etc/passwd", false, "/etc/passwd"},
			{"/usr/local/lib64/x.so", false, "/usr/local/lib/x.so"},
			{"/opt/kata/bin/kata-runtime", false, "/opt/kata/bin/kata-runtime"},
			{"/etc/pw", false, "/etc/pw"},
			{"/etc/pw", true, "/etc/passwd"},
			{"/opt/x", false, "/opt/x"},
			{"/opt/x", true, "/etc"},
		} {
			got, err := r.Resolve(c.in, c.final)
			if err != nil || got != c.want {
				t.Errorf("Resolve(%s, %v) = %q, %v; want %q", c.in, c.final, got, err, c.want)
			}
		}
		if _, err := r.Resolve("/opt/loop1/x", false); !errors.Is(err, ErrLoop) {
			t.Errorf("a link loop: %v", err)
		}
		if _, err := r.Resolve("/etc/passwd/x", false); err == nil {
			t.Error("a file used as a directory resolved")
		}
	})
}

func TestReadFileRefusesWhatCouldHang(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, outside := tree(t)
		if err := syscall.Mkfifo(root+"/etc/fifo.toml", 0o644); err != nil {
			t.Fatal(err)
		}
		os.Symlink("/dev/zero", root+"/etc/daemon.json")
		os.Symlink(outside+"/passwd", root+"/etc/keylink.pub")
		os.WriteFile(root+"/etc/big", bytes.Repeat([]byte("x"), 4097), 0o644)
		r := open(root)
		done := make(chan struct{})
		go func() {
			defer close(done)
			for _, p := range []Path{"/etc/fifo.toml", "/etc/daemon.json", "/etc/keylink.pub", "/etc"} {
				if _, err := r.ReadFile(p, 1<<20); !errors.Is(err, ErrNotRegular) {
					t.Errorf("ReadFile(%s) = %v, want ErrNotRegular", p, err)
				}
			}
			if _, err := r.ReadFile("/etc/big", 4096); !errors.Is(err, ErrTooLarge) {
				t.Errorf("ReadFile over the limit: %v", err)
			}
			if b, err := r.ReadFile("/etc/passwd", 4096); err != nil || string(b) != "root:x:0:0\n" {
				t.Errorf("ReadFile(/etc/passwd) = %q, %v", b, err)
			}
			if _, err := r.ReadFile("/etc/none", 10); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing file: %v", err)
			}
			if _, err := r.ReadFile("/nodir/none", 10); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("missing parent: %v", err)
			}
		}()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("ReadFile blocked (on the FIFO?)")
		}
	})
}

func TestWriteKeepsModeAndOwnerGiven(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, _ := tree(t)
		r := open(root)
		old := syscall.Umask(0o077)
		defer syscall.Umask(old)
		owner := NoOwner
		if os.Getuid() == 0 {
			owner = Owner{UID: 1234, GID: 5678}
		}
		if err := r.WriteFile("/etc/config.toml", ".c.tmp", strings.NewReader("x=1\n"), 0o640, owner); err != nil {
			t.Fatal(err)
		}
		info, err := r.Lstat("/etc/config.toml")
		if err != nil {
			t.Fatal(err)
		}
		if info.Mode.Perm() != 0o640 {
			t.Errorf("mode %v, want 0640 whatever the umask", info.Mode)
		}
		if owner != NoOwner && (info.UID != 1234 || info.GID != 5678) {
			t.Errorf("owner %d:%d, want 1234:5678", info.UID, info.GID)
		}
		if _, err := os.Lstat(root + "/etc/.c.tmp"); err == nil {
			t.Error("temporary file left")
		}
	})
}

func TestDirectories(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, outside := tree(t)
		os.Symlink(outside, root+"/opt/out")
		os.MkdirAll(outside+"/keep", 0o755)
		r := open(root)
		old := syscall.Umask(0o077)
		made, err := r.MkdirAll("/opt/kata/share/defaults")
		syscall.Umask(old)
		if err != nil || len(made) != 3 || made[0] != "/opt/kata" {
			t.Fatalf("MkdirAll = %v, %v", made, err)
		}
		if fi, _ := os.Stat(root + "/opt/kata/share"); fi.Mode().Perm() != 0o755 {
			t.Errorf("mode %v, want 0755 whatever the umask", fi.Mode())
		}
		if m, err := r.MissingDirs("/opt/kata/share/defaults/x"); err != nil || len(m) != 1 {
			t.Errorf("MissingDirs = %v, %v", m, err)
		}
		if _, err := r.MissingDirs("/etc/passwd/x"); err == nil {
			t.Error("a file counted as a directory")
		}
		names, err := r.ReadDir("/opt")
		if err != nil || strings.Join(names, ",") != "kata,out" {
			t.Errorf("ReadDir = %v, %v", names, err)
		}
		// RemoveAll removes the link, not what it points to.
		if err := r.RemoveAll("/opt"); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(outside + "/keep"); err != nil {
			t.Errorf("RemoveAll followed a link out of the root: %v", err)
		}
		if _, err := os.Lstat(root + "/opt"); err == nil {
			t.Error("/opt still there")
		}
		if _, err := r.ReadDir("/opt"); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("ReadDir of a missing dir: %v", err)
		}
	})
}

func TestRenameLinkRemove(t *testing.T) {
	resolvers(t, func(t *testing.T, open func(string) *Root) {
		root, _ := tree(t)
		r := open(root)
		if err := r.Link("/etc/passwd", "/etc/passwd.bak"); err != nil {
			t.Fatal(err)
		}
		if err := r.Rename("/etc/passwd.bak", "/opt/passwd"); err != nil {
			t.Fatal(err)
		}
		if got := mustRead(t, root+"/opt/passwd"); got != "root:x:0:0\n" {
			t.Errorf("renamed content %q", got)
		}
		if err := r.Remove("/opt/passwd"); err != nil {
			t.Fatal(err)
		}
		if err := r.Remove("/opt/passwd"); err != nil {
			t.Errorf("removing what is gone: %v", err)
		}
		if err := r.Remove("/nodir/x"); err != nil {
			t.Errorf("removing below a missing directory: %v", err)
		}
		os.Symlink("/etc/passwd", root+"/opt/l")
		if err := r.Chmod("/opt/l", 0o600); err == nil {
			t.Error("Chmod changed a symlink's target")
		}
	})
}

func TestParsePath(t *testing.T) {
	for _, bad := range []string{"", "etc", "/etc/", "/etc/../x", "/etc//x", "/etc/a\nb", "/etc/\x1b[31m"} {
		if _, err := ParsePath(bad); err == nil {
			t.Errorf("ParsePath(%q) accepted", bad)
		}
	}
	p := MustPath("/usr/local/bin/runc")
	if p.Dir() != "/usr/local/bin" || p.Base() != "runc" || !p.Within("/usr/local") || p.Within("/usr/loc") {
		t.Error("Path helpers")
	}
}
