package verify

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCleanPath(t *testing.T) {
	cases := []struct {
		in, want string // want "" = refused
	}{
		{"bin/containerd", "bin/containerd"},
		{"./bin/ctr", "bin/ctr"},
		{"docker/", "docker"},
		{"a//b/./c", "a/b/c"},
		{"opt/kata/share/defaults/kata-containers/configuration.toml", "opt/kata/share/defaults/kata-containers/configuration.toml"},
		{"runc.amd64", "runc.amd64"},
		{"..foo/bar..", "..foo/bar.."}, // dots inside a name are fine
		{".", "."},
		{"./", "."},
		{"", ""},
		{"/etc/passwd", ""},
		{"//etc/passwd", ""},
		{"..", ""},
		{"../x", ""},
		{"a/../../x", ""},
		{"a/../b", ""}, // cancels out, still refused
		{"a/..", ""},
		{"./..", ""},
		{"a\x00b", ""},
	}
	for _, c := range cases {
		got, err := CleanPath(c.in)
		if c.want == "" {
			if err == nil {
				t.Errorf("CleanPath(%q) = %q, want refusal", c.in, got)
				continue
			}
			requireVerificationError(t, err)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("CleanPath(%q) = %q, %v; want %q", c.in, got, err, c.want)
		}
	}
}

func TestSafeJoinLexical(t *testing.T) {
	root := t.TempDir()
	cases := []struct {
		target, want string // want "" = refused
	}{
		{"/usr/local/bin/runc", filepath.Join(root, "usr/local/bin/runc")},
		{"usr/local/bin/runc", filepath.Join(root, "usr/local/bin/runc")},
		{"/etc//containerd/./config.toml", filepath.Join(root, "etc/containerd/config.toml")},
		{"/", root},
		{"/../etc/shadow", ""},
		{"/usr/../../etc/shadow", ""},
		{"/usr/local/bin/../x", ""},
		{"", ""},
		{"/bin/a\x00", ""},
	}
	for _, c := range cases {
		got, err := SafeJoin(root, c.target)
		if c.want == "" {
			if err == nil {
				t.Errorf("SafeJoin(%q) = %q, want refusal", c.target, got)
				continue
			}
			requireVerificationError(t, err)
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("SafeJoin(%q) = %q, %v; want %q", c.target, got, err, c.want)
		}
	}
	// Root "/" maps paths as they are.
	if got, err := SafeJoin("/", "/usr/local/bin/runc"); err != nil || got != "/usr/local/bin/runc" {
		t.Errorf("root /: %q %v", got, err)
	}
	// A root that does not exist yet (apply creates it) is fine.
	if got, err := SafeJoin(filepath.Join(root, "new"), "/etc/x"); err != nil || got != filepath.Join(root, "new/etc/x") {
		t.Errorf("missing root: %q %v", got, err)
	}
	if _, err := SafeJoin("", "/etc/x"); err == nil {
		t.Error("empty root accepted")
	}
}

func mkdirs(t *testing.T, paths ...string) {
	t.Helper()
	for _, p := range paths {
		if err := os.MkdirAll(p, 0o755); err != nil {
			t.Fatal(err)
		}
	}
}

func symlink(t *testing.T, target, link string) {
	t.Helper()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// TestSafeJoinSymlinks builds a root with symlinked parents, some of which
// lead out of it.
func TestSafeJoinSymlinks(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	outside := filepath.Join(base, "outside")
	mkdirs(t, filepath.Join(root, "usr/lib"), filepath.Join(root, "data/opt"), filepath.Join(outside, "bin"))

	symlink(t, "usr/lib", filepath.Join(root, "lib"))                       // relative, inside
	symlink(t, "/data/opt", filepath.Join(root, "opt-chroot"))              // absolute: the host's /data/opt, outside
	symlink(t, filepath.Join(root, "data/opt"), filepath.Join(root, "opt")) // absolute, inside
	symlink(t, outside, filepath.Join(root, "evil-abs"))                    // absolute, outside
	symlink(t, "../outside", filepath.Join(root, "evil-rel"))               // relative, outside
	symlink(t, "lib", filepath.Join(root, "chain"))                         // chain: chain -> lib -> usr/lib
	symlink(t, "evil-rel", filepath.Join(root, "chain-evil"))               // chain ending outside
	symlink(t, "nowhere", filepath.Join(root, "dangling"))                  // dangling
	mkdirs(t, filepath.Join(root, "usr/lib/deep"))
	symlink(t, "../../../outside", filepath.Join(root, "usr/lib/deep/up")) // nested, outside
	symlink(t, outside+"/bin/sh", filepath.Join(root, "usr/lib/last"))     // final element: not followed

	ok := []string{
		"/lib/libfoo.so",
		"/opt/kata/bin/kata-runtime",
		"/chain/x/y",
		"/usr/lib/deep/file",
		"/usr/lib/last", // the last element may be a link; callers replace it
		"/evil-abs",     // same: the link itself, not what it points to
		"/new/dir/not/yet/made",
	}
	for _, p := range ok {
		got, err := SafeJoin(root, p)
		if err != nil {
			t.Errorf("SafeJoin(%q): %v", p, err)
			continue
		}
		if got != filepath.Join(root, p) {
			t.Errorf("SafeJoin(%q) = %q", p, got)
		}
	}
	refused := []string{
		"/evil-abs/bin/sh",
		"/evil-rel/bin/sh",
		"/chain-evil/x",
		"/usr/lib/deep/up/bin/sh",
		"/lib/deep/up/x", // through an inside link, then out
		"/opt-chroot/kata",
		"/dangling/x",
	}
	for _, p := range refused {
		got, err := SafeJoin(root, p)
		if err == nil {
			t.Errorf("SafeJoin(%q) = %q, want refusal", p, got)
			continue
		}
		requireVerificationError(t, err)
	}

	// A root that is itself reached through a symlink works the same way.
	rootLink := filepath.Join(base, "rootlink")
	symlink(t, root, rootLink)
	if _, err := SafeJoin(rootLink, "/lib/x"); err != nil {
		t.Errorf("root via symlink, inside: %v", err)
	}
	if _, err := SafeJoin(rootLink, "/evil-rel/x"); err == nil {
		t.Error("root via symlink: escape accepted")
	}
	// A relative root works too.
	t.Chdir(base)
	if _, err := SafeJoin("root", "/chain/x"); err != nil {
		t.Errorf("relative root, inside: %v", err)
	}
	if _, err := SafeJoin("root", "/evil-abs/x"); err == nil {
		t.Error("relative root: escape accepted")
	}
}

func TestCheckLinkTarget(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "root")
	mkdirs(t, filepath.Join(root, "opt/kata/bin"), filepath.Join(base, "outside"))
	symlink(t, filepath.Join(base, "outside"), filepath.Join(root, "opt/escape"))

	cases := []struct {
		link, target string
		ok           bool
	}{
		{"/usr/local/bin/kata-runtime", "/opt/kata/bin/kata-runtime", true}, // absolute: read from root
		{"/usr/local/bin/kata-runtime", "../../../opt/kata/bin/kata-runtime", true},
		{"/usr/local/bin/ctr", "containerd", true},
		{"/usr/local/bin/x", "./y/../z", true},         // lexically inside
		{"opt/kata/bin/qemu", "../libexec/qemu", true}, // archive name
		{"/usr/local/bin/x", "../../../../etc/shadow", false},
		{"/x", "..", false},
		{"/usr/local/bin/x", "/../../etc/shadow", false},
		{"/usr/local/bin/x", "/opt/escape/bin/sh", false}, // through a symlinked parent out of root
		{"/usr/local/bin/x", "", false},
		{"/usr/local/bin/x", "a\x00b", false},
		{"/usr/../../x", "y", false}, // the link's own path
		{"/", "/opt", false},
	}
	for _, c := range cases {
		err := CheckLinkTarget(root, c.link, c.target)
		if c.ok && err != nil {
			t.Errorf("CheckLinkTarget(%q -> %q): %v", c.link, c.target, err)
		}
		if !c.ok {
			if err == nil {
				t.Errorf("CheckLinkTarget(%q -> %q) accepted", c.link, c.target)
				continue
			}
			requireVerificationError(t, err)
			if !strings.Contains(err.Error(), "symlink") && !strings.Contains(err.Error(), "path") {
				t.Errorf("error does not say what was refused: %v", err)
			}
		}
	}
}
