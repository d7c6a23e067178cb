package install

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/importer"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// liveSystem fakes a running system with systemd as init: systemctl,
// containerd (ctr) and dockerd answer from in-memory state.
type liveSystem struct {
	mu       sync.Mutex
	t        *testing.T
	enabled  map[string]bool
	active   map[string]bool
	images   map[string]map[string]manifest.Digest // namespace -> ref -> digest
	pinned   map[string]bool                       // ns/ref
	docker   map[string]string                     // tag -> image ID
	archives map[string][]byte                     // "ns ref" or "docker" -> last archive received
	failOn   string                                // a command line substring that fails
}

func newLiveSystem(t *testing.T, r *fakeRunner) *liveSystem {
	ls := &liveSystem{t: t, enabled: map[string]bool{}, active: map[string]bool{}, images: map[string]map[string]manifest.Digest{},
		pinned: map[string]bool{}, docker: map[string]string{}, archives: map[string][]byte{}}
	r.handlers["systemctl"] = ls.systemctl
	r.handlers["ctr"] = ls.ctr
	r.handlers["docker"] = ls.dockerCLI
	return ls
}

func (ls *liveSystem) systemctl(c runner.Cmd, _ []byte) ([]byte, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.failOn != "" && strings.Contains(c.String(), ls.failOn) {
		return nil, failed(c, "Job failed")
	}
	a := c.Args
	unit := a[len(a)-1]
	switch a[0] {
	case "is-enabled":
		if !ls.enabled[unit] {
			return nil, failed(c, "")
		}
	case "is-active":
		if !ls.active[unit] {
			return nil, failed(c, "")
		}
	case "enable":
		ls.enabled[unit] = true
		if slices.Contains(a, "--now") {
			ls.active[unit] = true
		}
	case "disable":
		ls.enabled[unit] = false
		if slices.Contains(a, "--now") {
			ls.active[unit] = false
		}
	case "start", "restart":
		ls.active[unit] = true
	case "stop":
		ls.active[unit] = false
	case "daemon-reload":
	default:
		return nil, failed(c, "unknown systemctl command")
	}
	return nil, nil
}

// ctr -a SOCK -n NS images import -|ls|label ...
func (ls *liveSystem) ctr(c runner.Cmd, stdin []byte) ([]byte, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	a := c.Args
	if len(a) < 5 || a[0] != "-a" || a[2] != "-n" || a[4] != "images" {
		return nil, failed(c, "unexpected ctr command line")
	}
	ns := a[3]
	if ls.images[ns] == nil {
		ls.images[ns] = map[string]manifest.Digest{}
	}
	switch a[5] {
	case "import":
		files := untar(ls.t, stdin)
		var idx ocispec.Index
		if err := json.Unmarshal(files["index.json"], &idx); err != nil || len(idx.Manifests) != 1 {
			return nil, failed(c, "bad index.json")
		}
		ref := idx.Manifests[0].Annotations["io.containerd.image.name"]
		ls.images[ns][ref] = manifest.Digest(idx.Manifests[0].Digest)
		ls.archives[ns+" "+ref] = stdin
	case "label":
		ref := a[6]
		if _, ok := ls.images[ns][ref]; !ok {
			return nil, failed(c, "image not found")
		}
		ls.pinned[ns+"/"+ref] = a[7] == importer.PinnedLabel
	case "ls":
		out := "REF TYPE DIGEST SIZE PLATFORMS LABELS\n"
		for ref, d := range ls.images[ns] {
			labels := "-"
			if ls.pinned[ns+"/"+ref] {
				labels = importer.PinnedLabel
			}
			out += fmt.Sprintf("%s application/vnd.oci.image.index.v1+json %s 2.0 KiB linux/amd64 %s\n", ref, d, labels)
		}
		return []byte(out), nil
	default:
		return nil, failed(c, "unexpected ctr images command")
	}
	return nil, nil
}

// docker -H unix://SOCK version|load|image inspect
func (ls *liveSystem) dockerCLI(c runner.Cmd, stdin []byte) ([]byte, error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	a := c.Args[2:]
	switch {
	case a[0] == "version":
		if !ls.active["docker.service"] {
			return nil, failed(c, "Cannot connect to the Docker daemon")
		}
		return []byte("27.5.1\n"), nil
	case a[0] == "load":
		files := untar(ls.t, stdin)
		var mf []struct {
			Config   string
			RepoTags []string
			Layers   []string
		}
		if err := json.Unmarshal(files["manifest.json"], &mf); err != nil || len(mf) != 1 {
			return nil, failed(c, "open manifest.json: no such file")
		}
		for _, p := range append([]string{mf[0].Config}, mf[0].Layers...) {
			if files[p] == nil {
				return nil, failed(c, "missing "+p)
			}
		}
		for _, tag := range mf[0].RepoTags {
			ls.docker[tag] = "sha256:" + strings.TrimPrefix(mf[0].Config, "blobs/sha256/")
			ls.archives["docker "+tag] = stdin
		}
		return []byte("Loaded image\n"), nil
	case a[0] == "image" && a[1] == "inspect":
		id, ok := ls.docker[a[len(a)-1]]
		if !ok {
			return nil, failed(c, "No such image")
		}
		return []byte(id + "\n"), nil
	}
	return nil, failed(c, "unexpected docker command")
}

// liveFacts are facts of a healthy live host with systemd as init.
func liveFacts(t *testing.T, root string) *host.Facts {
	f, err := host.Gather(root)
	if err != nil {
		t.Fatal(err)
	}
	f.Live, f.SystemdInit, f.SystemdInstalled = true, true, true
	f.KVM = host.KVM{Present: true, Usable: true}
	f.CPUVirt, f.Overlay, f.Cgroup = "vmx", true, host.CgroupV1
	f.OS = host.OSInfo{ID: "kylin", VersionID: "V10", Known: true}
	f.Net.IPTables = host.Tool{Path: "/usr/sbin/iptables", Target: "/usr/sbin/xtables-nft-multi", Backend: host.BackendNFTables}
	f.Conflicts = nil
	return f
}

func listen(t *testing.T, p string) {
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
}

func (e *env) liveInstaller(opts ...Option) *Installer {
	e.t.Helper()
	base := []Option{WithFacts(liveFacts(e.t, e.root)), WithContainerdSocket(filepath.Join(e.dir, "containerd.sock")),
		WithDockerSocket(filepath.Join(e.dir, "docker.sock"))}
	in := e.installer(append(base, opts...)...)
	in.o.live = true
	return in
}

// TestApplyLive: on a running system with systemd, units are enabled and
// started, images are streamed into containerd (two namespaces) and
// pinned, then loaded into Docker; a second run changes nothing.
func TestApplyLive(t *testing.T) {
	e := newEnv(t, defaultFixture())
	ls := newLiveSystem(t, e.runner)
	listen(t, filepath.Join(e.dir, "docker.sock"))
	rep, err := e.apply(e.liveInstaller(WithNamespaces("default")))
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, a := range rep.Plan.Changes() {
		if a.Kind == plan.KindService || a.Kind == plan.KindImage {
			order = append(order, a.Describe())
		}
	}
	want := []string{
		"systemctl daemon-reload",
		"enable containerd.service", "start containerd.service",
		"import registry.k8s.io/pause:3.10 into containerd (k8s.io, default)",
		"import docker.io/library/nginx:1.27.4 into containerd (k8s.io, default)",
		"enable docker.service", "start docker.service",
		"docker load registry.k8s.io/pause:3.10", "docker load docker.io/library/nginx:1.27.4",
		// IPv4 forwarding is off on this fake host: written to sysctl.d and applied.
		"restart systemd-sysctl.service",
	}
	if !slices.Equal(order, want) {
		t.Errorf("order:\n%s\nwant:\n%s", strings.Join(order, "\n"), strings.Join(want, "\n"))
	}
	if rep.Plan.ImageMode != plan.ImageImport {
		t.Errorf("image mode %q", rep.Plan.ImageMode)
	}
	for _, ns := range []string{"k8s.io", "default"} {
		for _, im := range e.ix.Images {
			if ls.images[ns][im.Ref] != im.Digest || !ls.pinned[ns+"/"+im.Ref] {
				t.Errorf("%s in %s: %s pinned=%v", im.Ref, ns, ls.images[ns][im.Ref], ls.pinned[ns+"/"+im.Ref])
			}
			// The stream carries every blob of the image, byte for byte.
			files := untar(t, ls.archives[ns+" "+im.Ref])
			for _, d := range im.Blobs {
				if got := manifest.DigestOf("sha256", files["blobs/sha256/"+d.Hex()]); got != d {
					t.Errorf("%s: blob %s arrived as %s", im.Ref, d, got)
				}
			}
		}
	}
	if len(ls.docker) != 2 {
		t.Errorf("docker images: %v", ls.docker)
	}
	// No staging on a live system, and no second copy of an image anywhere.
	if _, err := os.Stat(filepath.Join(e.root, string(state.ImageDir))); !os.IsNotExist(err) {
		t.Errorf("images staged on a live system")
	}
	if got := e.read("/etc/systemd/system/containerd.service"); !strings.Contains(got, "ExecStart=/usr/local/bin/containerd") {
		t.Errorf("containerd.service: %s", got)
	}
	var drop map[string]any
	tomlUnmarshal(t, e.read("/etc/containerd/conf.d/satchel.toml"), &drop)
	if dig(drop, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runc", "options", "SystemdCgroup") != true {
		t.Errorf("runc does not use the systemd cgroup driver with systemd as init")
	}

	// Second run: nothing to do. The socket exists now, so the plan asks ctr.
	listen(t, filepath.Join(e.dir, "containerd.sock"))
	p := e.plan(e.liveInstaller(WithNamespaces("default")))
	if p.Changed {
		t.Fatalf("second plan: %v", describeChanges(p))
	}
	// A changed daemon.json restarts docker, nothing else.
	e.write("/etc/docker/daemon.json", "{\"debug\": true}\n", 0o644)
	p = e.plan(e.liveInstaller(WithNamespaces("default")))
	if got := describeChanges(p); !slices.Equal(got, []string{"replace config /etc/docker/daemon.json", "restart docker.service", "replace state /var/lib/satchel/state.json"}) {
		t.Errorf("after editing daemon.json: %v", got)
	}
}

// TestFailedStepRollsBack: when a step fails, every change of the run is
// undone: files restored, units disabled and stopped again.
func TestFailedStepRollsBack(t *testing.T) {
	e := newEnv(t, defaultFixture())
	ls := newLiveSystem(t, e.runner)
	e.write("/etc/docker/daemon.json", "{\"log-level\": \"warn\"}\n", 0o644)
	e.write("/usr/local/bin/runc", "older runc", 0o755)
	before := snapshot(t, e.root)
	ls.failOn = "start docker.service"
	_, err := e.apply(e.liveInstaller())
	if err == nil || !strings.Contains(err.Error(), "rolled back") {
		t.Fatalf("want a rolled-back failure, got %v", err)
	}
	// Nothing is left, not even the lock or satchel's directories (issue 7, #15).
	requireSameTree(t, before, snapshot(t, e.root))
	if ls.enabled["containerd.service"] || ls.active["containerd.service"] {
		t.Errorf("containerd left enabled=%v active=%v", ls.enabled["containerd.service"], ls.active["containerd.service"])
	}
}

// TestImportStaged: an install into a directory stages archives; at first
// start `images import --staged` imports and pins each with the installed
// ctr, then removes the staging directory.
func TestImportStaged(t *testing.T) {
	e := newEnv(t, defaultFixture())
	e.mustApply(WithNamespaces("extra"))
	ls := newLiveSystem(t, e.runner)
	// The staged import reads archives from disk: the fake ctr gets the path.
	e.runner.handlers["ctr"] = func(c runner.Cmd, stdin []byte) ([]byte, error) {
		if len(c.Args) > 6 && c.Args[5] == "import" {
			b, err := os.ReadFile(c.Args[6])
			if err != nil {
				return nil, failed(c, err.Error())
			}
			stdin = b
			c.Args = append(c.Args[:6], "-")
		}
		if len(c.Args) > 2 && c.Args[2] == "version" {
			return []byte("Server: 2.0.4\n"), nil
		}
		return ls.ctr(c, stdin)
	}
	sock := filepath.Join(e.dir, "containerd.sock")
	listen(t, sock)
	in := e.installer(WithContainerdSocket(sock))
	rep, err := in.ImportStaged(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !rep.Done || len(rep.Images) != 2 {
		t.Fatalf("report: %+v", rep)
	}
	for _, ns := range []string{"k8s.io", "extra"} {
		for _, im := range e.ix.Images {
			if ls.images[ns][im.Ref] != im.Digest || !ls.pinned[ns+"/"+im.Ref] {
				t.Errorf("%s not imported and pinned in %s", im.Ref, ns)
			}
		}
	}
	if len(e.runner.called("ctr")) == 0 || !strings.Contains(e.runner.called("images import")[0], "<root>/usr/local/bin/ctr") {
		t.Errorf("not imported with the installed ctr: %v", e.runner.called("images import"))
	}
	if _, err := os.Stat(filepath.Join(e.root, string(state.ImageDir))); !os.IsNotExist(err) {
		t.Errorf("staging directory left: %v", err)
	}
	// Nothing left to do; satchel-images.service's condition is now false.
	rep, err = in.ImportStaged(context.Background())
	if err != nil || !rep.Done || len(rep.Images) != 0 {
		t.Errorf("second import: %+v %v", rep, err)
	}
}

func tomlUnmarshal(t *testing.T, s string, v any) {
	t.Helper()
	if err := tomlDecode([]byte(s), v); err != nil {
		t.Fatal(err)
	}
}
