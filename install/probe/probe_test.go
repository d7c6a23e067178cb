package probe

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/systemd"
	"github.com/satchel-dev/satchel/manifest"
)

// fixtureRoot is a small installed system: a file, a symlink, a directory,
// a FIFO, /usr/local a symlink to /opt/local (as some hosts have it), a
// file used as a directory, a symlink loop, and an installed ctr.
func fixtureRoot(t *testing.T) (*rootfs.Root, string) {
	t.Helper()
	dir := t.TempDir()
	w := func(p, content string, mode os.FileMode) {
		hp := filepath.Join(dir, p)
		if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(hp, []byte(content), mode); err != nil {
			t.Fatal(err)
		}
		os.Chmod(hp, mode)
	}
	w("etc/os-release", "NAME=\"Kylin Linux Advanced Server\"\nVERSION_ID=\"V10\"\n", 0o644)
	w("etc/containerd/config.toml", "version = 2\n", 0o600)
	w("etc/empty.conf", "", 0o644)
	w("opt/local/bin/ctr", "#!/bin/sh\n", 0o755)
	w("opt/local/bin/kubectl-1.31", "#!/bin/sh\n", 0o755)
	os.MkdirAll(filepath.Join(dir, "etc/cni/net.d"), 0o755)
	os.MkdirAll(filepath.Join(dir, "etc/empty.d"), 0o755)
	w("etc/cni/net.d/10-bridge.conflist", "{}", 0o644)
	w("etc/cni/net.d/99-loopback.conf", "{}", 0o644)
	links := map[string]string{
		"usr/local":             "/opt/local",
		"etc/link.conf":         "containerd/config.toml",
		"etc/loop/a":            "/etc/loop/b",
		"etc/loop/b":            "/etc/loop/a",
		"etc/escape":            "../../../../etc",
		"usr/local-relative":    "../opt/local",
		"opt/local/bin/kubectl": "/opt/local/bin/kubectl-1.31", // absolute: inside the root, not the host's
	}
	for l, target := range links {
		hp := filepath.Join(dir, l)
		os.MkdirAll(filepath.Dir(hp), 0o755)
		if err := os.Symlink(target, hp); err != nil {
			t.Fatal(err)
		}
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "etc/fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

func TestEntry(t *testing.T) {
	root, dir := fixtureRoot(t)
	conf := "version = 2\n"
	uid := os.Getuid()
	for _, c := range []struct {
		path rootfs.Path
		want plan.Entry
	}{
		{"/etc/containerd/config.toml", plan.Entry{Resolved: "/etc/containerd/config.toml", Kind: plan.EntryFile, Mode: 0o600, UID: uid, GID: os.Getgid(), Size: int64(len(conf)),
			Digest: manifest.DigestOf(manifest.SHA256, []byte(conf))}},
		// The final symlink is described, not followed.
		{"/etc/link.conf", plan.Entry{Resolved: "/etc/link.conf", Kind: plan.EntrySymlink, Target: "containerd/config.toml"}},
		{"/etc/cni/net.d", plan.Entry{Resolved: "/etc/cni/net.d", Kind: plan.EntryDir}},
		{"/etc/fifo", plan.Entry{Resolved: "/etc/fifo", Kind: plan.EntryOther}},
		{"/etc/absent.conf", plan.Entry{Resolved: "/etc/absent.conf"}},
		// Parents that are symlinks are followed, inside the root.
		{"/usr/local/bin/ctr", plan.Entry{Resolved: "/opt/local/bin/ctr", Kind: plan.EntryFile}},
		{"/usr/local-relative/bin/ctr", plan.Entry{Resolved: "/opt/local/bin/ctr", Kind: plan.EntryFile}},
		{"/usr/local/bin/runc", plan.Entry{Resolved: "/opt/local/bin/runc"}},
		{"/etc/escape/os-release", plan.Entry{Resolved: "/etc/os-release", Kind: plan.EntryFile}},
	} {
		got, err := Entry(root, c.path)
		if err != nil {
			t.Errorf("Entry(%s): %v", c.path, err)
			continue
		}
		w := c.want
		w.Path = c.path
		if w.Kind == plan.EntryFile && w.Size == 0 {
			// Only the fields that matter here: where it led and what it is.
			if got.Resolved != w.Resolved || got.Kind != w.Kind || got.Digest == "" {
				t.Errorf("Entry(%s) = %+v, want it to lead to file %s", c.path, got, w.Resolved)
			}
			continue
		}
		if w.Kind != plan.EntryFile && w.Kind != plan.EntryNone {
			got.Mode, got.UID, got.GID, got.Size = 0, 0, 0, 0
		}
		if got != w {
			t.Errorf("Entry(%s) =\n %+v\nwant\n %+v", c.path, got, w)
		}
		if got.Exists() != (w.Kind != plan.EntryNone) {
			t.Errorf("Entry(%s).Exists() = %v", c.path, got.Exists())
		}
	}
	// A loop and a file used as a directory do not resolve: said, not failed.
	for _, p := range []rootfs.Path{"/etc/loop/a/x", "/etc/os-release/x"} {
		e, err := Entry(root, p)
		if err != nil || e.ResolveErr == "" || e.Exists() {
			t.Errorf("Entry(%s) = %+v, %v; want a ResolveErr", p, e, err)
		}
	}
	// Digest is the file's sha256.
	b, _ := os.ReadFile(filepath.Join(dir, "etc/os-release"))
	if d, err := Digest(root, "/etc/os-release"); err != nil || d != manifest.DigestOf(manifest.SHA256, b) {
		t.Errorf("Digest = %s, %v", d, err)
	}
	if _, err := Digest(root, "/etc/absent"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Digest of a missing file: %v", err)
	}
}

func TestFill(t *testing.T) {
	root, _ := fixtureRoot(t)
	tree := plan.NewMapTree()
	// What the tree already has is not probed again.
	kept := plan.Entry{Path: "/etc/os-release", Resolved: "/etc/os-release", Kind: plan.EntryDir}
	tree.Entries["/etc/os-release"] = kept
	tree.Contents["/etc/containerd/config.toml"] = []byte("kept")
	need := &plan.NeedError{
		Entries:  []rootfs.Path{"/etc/os-release", "/usr/local/bin/ctr", "/etc/absent"},
		Contents: []rootfs.Path{"/etc/containerd/config.toml", "/etc/empty.conf", "/etc/absent.conf", "/opt/local/bin/ctr"},
		Lists:    []rootfs.Path{"/etc/cni/net.d", "/etc/empty.d", "/etc/absent.d"},
	}
	if err := Fill(root, tree, need); err != nil {
		t.Fatal(err)
	}
	if tree.Entries["/etc/os-release"] != kept {
		t.Error("an entry the tree had was probed again")
	}
	if e := tree.Entries["/usr/local/bin/ctr"]; e.Resolved != "/opt/local/bin/ctr" || e.Kind != plan.EntryFile {
		t.Errorf("entry through a symlinked parent: %+v", e)
	}
	if e, ok := tree.Entries["/etc/absent"]; !ok || e.Exists() {
		t.Errorf("absent entry: %+v, %v", e, ok)
	}
	for p, want := range map[rootfs.Path][]byte{
		"/etc/containerd/config.toml": []byte("kept"),
		"/etc/empty.conf":             {},
		"/etc/absent.conf":            nil,
		"/opt/local/bin/ctr":          []byte("#!/bin/sh\n"),
	} {
		got, ok := tree.Content(p)
		if !ok || string(got) != string(want) || (got == nil) != (want == nil) {
			t.Errorf("Content(%s) = %q (nil %v), %v; want %q (nil %v)", p, got, got == nil, ok, want, want == nil)
		}
	}
	for p, want := range map[rootfs.Path][]string{
		"/etc/cni/net.d": {"10-bridge.conflist", "99-loopback.conf"},
		"/etc/empty.d":   {},
		"/etc/absent.d":  nil,
	} {
		got, ok := tree.List(p)
		slices.Sort(got)
		if !ok || !slices.Equal(got, want) || (got == nil) != (want == nil) {
			t.Errorf("List(%s) = %q (nil %v), %v; want %q", p, got, got == nil, ok, want)
		}
	}
	// A file too large to be a configuration is an error, not a silent cut.
	big := strings.Repeat("x", MaxContent+1)
	os.WriteFile(root.HostPath("/etc/big.conf"), []byte(big), 0o644)
	if err := Fill(root, tree, &plan.NeedError{Contents: []rootfs.Path{"/etc/big.conf"}}); err == nil {
		t.Errorf("Fill read a %d-byte file as a configuration", len(big))
	}
}

// fakeRunner answers the probe's commands the way the tools do.
type fakeRunner struct {
	calls []string
	paths map[string]string
	run   func(c runner.Cmd) ([]byte, error)
}

func (f *fakeRunner) Run(_ context.Context, c runner.Cmd) ([]byte, error) {
	f.calls = append(f.calls, c.String())
	if f.run != nil {
		return f.run(c)
	}
	return nil, nil
}

func (f *fakeRunner) LookPath(name string) (string, error) {
	if p, ok := f.paths[name]; ok {
		return p, nil
	}
	return "", exec.ErrNotFound
}

func TestTool(t *testing.T) {
	root, dir := fixtureRoot(t)
	fr := &fakeRunner{paths: map[string]string{"docker": "/usr/bin/docker", "ctr": "/usr/bin/ctr"}}
	s := &Services{Root: root, Runner: fr}
	// ctr is installed in the root (through the /usr/local symlink): its host path.
	if got := s.Tool("ctr"); got != filepath.Join(dir, "opt/local/bin/ctr") {
		t.Errorf("Tool(ctr) = %q", got)
	}
	// docker is not in the root: PATH's.
	if got := s.Tool("docker"); got != "/usr/bin/docker" {
		t.Errorf("Tool(docker) = %q", got)
	}
	// A tool that is an absolute symlink is followed inside the root.
	if got := s.Tool("kubectl"); got != filepath.Join(dir, "opt/local/bin/kubectl-1.31") {
		t.Errorf("Tool(kubectl) = %q", got)
	}
	if got := s.Tool("nerdctl"); got != "" {
		t.Errorf("Tool(nerdctl) = %q, want none", got)
	}
	// A directory where the tool would be is not the tool.
	os.MkdirAll(filepath.Join(dir, "opt/local/bin/docker"), 0o755)
	if got := s.Tool("docker"); got != "/usr/bin/docker" {
		t.Errorf("Tool(docker) with a directory in the way = %q", got)
	}
	// With a real /usr/local/bin, a tool that is an absolute symlink still
	// leads to the root's file: its host path is not the link, which the
	// host would follow to its own /opt.
	d2 := t.TempDir()
	os.MkdirAll(filepath.Join(d2, "usr/local/bin"), 0o755)
	os.MkdirAll(filepath.Join(d2, "opt"), 0o755)
	os.WriteFile(filepath.Join(d2, "opt/kubectl-1.31"), []byte("#!/bin/sh\n"), 0o755)
	os.Symlink("/opt/kubectl-1.31", filepath.Join(d2, "usr/local/bin/kubectl"))
	r2, err := rootfs.Open(d2)
	if err != nil {
		t.Fatal(err)
	}
	defer r2.Close()
	if got := (&Services{Root: r2, Runner: fr}).Tool("kubectl"); got != filepath.Join(d2, "opt/kubectl-1.31") {
		t.Errorf("Tool(kubectl) through an absolute link = %q", got)
	}
	// Inside the root's namespace tools are named by their in-root paths.
	s.InNamespace = true
	for _, name := range []string{"ctr", "kubectl"} {
		if got := s.Tool(name); got != "/usr/local/bin/"+name {
			t.Errorf("in namespace: Tool(%s) = %q", name, got)
		}
	}
}

func TestObserve(t *testing.T) {
	root, dir := fixtureRoot(t)
	ctx := context.Background()
	pause := manifest.DigestOf(manifest.SHA256, []byte("pause"))
	fr := &fakeRunner{paths: map[string]string{"docker": "/usr/bin/docker", "kubectl": "/usr/bin/kubectl"}}
	fr.run = func(c runner.Cmd) ([]byte, error) {
		line := c.String()
		fail := &runner.CommandError{Cmd: line, ExitCode: 1, Err: errors.New("exit status 1")}
		switch {
		case strings.Contains(line, "is-enabled --quiet containerd.service"), strings.Contains(line, "is-active --quiet containerd.service"):
			return nil, nil
		case strings.Contains(line, "is-"):
			return nil, fail
		case strings.Contains(line, "-n k8s.io images ls"):
			return []byte("REF                        TYPE                                    DIGEST  SIZE      PLATFORMS   LABELS\n" +
				"registry.k8s.io/pause:3.10 application/vnd.oci.image.index.v1+json " + string(pause) + " 319.4 KiB linux/amd64 io.cri-containerd.pinned=pinned\n"), nil
		case strings.Contains(line, "-n broken images ls"):
			return nil, fail
		case strings.Contains(line, "version --format"):
			return []byte("28.0.1\n"), nil
		case strings.Contains(line, "image inspect"):
			if strings.HasSuffix(line, "registry.k8s.io/pause:3.10") {
				return []byte("sha256:cafe\n"), nil
			}
			return nil, fail
		case strings.Contains(line, "get runtimeclass"):
			return []byte("runtimeclass.node.k8s.io/gvisor\nruntimeclass.node.k8s.io/kata\n"), nil
		}
		t.Errorf("unexpected command %s", line)
		return nil, fail
	}
	s := &Services{
		Root: root, Runner: fr, Live: true, InNamespace: true,
		Systemd:    &systemd.Manager{Root: root, Runner: fr, Online: true},
		Images:     &importer.Client{Runner: fr, ContainerdSocket: "/run/containerd/containerd.sock", DockerSocket: "/run/docker.sock", InNamespace: true},
		Units:      []string{"containerd.service", "docker.service"},
		Namespaces: []string{"k8s.io", "broken"},
		Refs:       []string{"registry.k8s.io/pause:3.10", "registry.example/absent:1"},
		Kubeconfig: "/etc/kubernetes/admin.conf",
	}
	o := Observe(ctx, s)
	if o.Units["containerd.service"] != (plan.UnitState{Enabled: true, Active: true}) || o.Units["docker.service"] != (plan.UnitState{}) {
		t.Errorf("units %+v", o.Units)
	}
	if !o.ContainerdUp || o.BinDir != "/usr/local/bin" || o.HostTools != nil {
		t.Errorf("ContainerdUp %v BinDir %q HostTools %v", o.ContainerdUp, o.BinDir, o.HostTools)
	}
	if p := o.Images["k8s.io"]["registry.k8s.io/pause:3.10"]; p.Digest != pause || !p.Pinned {
		t.Errorf("images %+v", o.Images)
	}
	if _, ok := o.Images["broken"]; ok || o.ImageErrors["broken"] == "" {
		t.Errorf("a namespace that could not be listed: images %v, errors %v", o.Images, o.ImageErrors)
	}
	if o.Docker != "/usr/local/bin/docker" || !o.DockerUp || len(o.DockerImages) != 1 || o.DockerImages["registry.k8s.io/pause:3.10"] != "sha256:cafe" {
		t.Errorf("docker %q up %v images %v", o.Docker, o.DockerUp, o.DockerImages)
	}
	if o.Kubectl != "/usr/local/bin/kubectl" || !slices.Equal(o.RuntimeClasses, []string{"gvisor", "kata"}) {
		t.Errorf("kubectl %q runtime classes %v", o.Kubectl, o.RuntimeClasses)
	}

	// An offline root: no service is asked; tools PATH has are noted.
	fr.calls = nil
	s = &Services{Root: root, Runner: fr, Systemd: &systemd.Manager{Root: root, Runner: fr},
		Images: &importer.Client{Runner: fr, ContainerdSocket: filepath.Join(dir, "none.sock")},
		Units:  []string{"containerd.service"}, Namespaces: []string{"k8s.io"}, Refs: []string{"a:1"}}
	o = Observe(ctx, s)
	if len(fr.calls) != 0 {
		t.Errorf("offline root: ran %q", fr.calls)
	}
	if o.ContainerdUp || o.DockerUp || o.Docker != "" || len(o.Images) != 0 || o.Kubectl != "" {
		t.Errorf("offline root observed %+v", o)
	}
	if o.BinDir != root.HostPath("/usr/local/bin") || o.HostTools["docker"] != "/usr/bin/docker" || o.HostTools["kubectl"] != "/usr/bin/kubectl" {
		t.Errorf("BinDir %q HostTools %v", o.BinDir, o.HostTools)
	}
}
