package plan

import (
	"errors"
	"io"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/install/host"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
)

// TestPlanIsPure: the plan package imports nothing that writes, runs
// commands or probes the host: its dependencies stop at data types.
func TestPlanIsPure(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{join .Imports "\n"}}`, ".").Output()
	if err != nil {
		testenv.Skipf(t, "go list: %v", err)
	}
	for _, imp := range strings.Fields(string(out)) {
		switch imp {
		case "os", "os/exec", "syscall", "net", "io/ioutil", "path/filepath":
			t.Errorf("plan imports %s", imp)
		}
	}
	deps, err := exec.Command("go", "list", "-deps", ".").Output()
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range strings.Fields(string(deps)) {
		for _, bad := range []string{"/install/runner", "/install/probe", "/install/txn", "/install/systemd", "/install/importer"} {
			if strings.HasSuffix(d, bad) {
				t.Errorf("plan depends on %s", d)
			}
		}
	}
}

// noBlobs is a bundle with no image blobs.
type noBlobs struct{}

func (noBlobs) OpenBlob(d manifest.Digest) (io.Reader, error) { return nil, errors.New("no blobs") }

// disk is an in-memory root the test "probes": what plan.Make asks for
// is answered from it, so the plan is made from data alone.
type disk map[rootfs.Path]string

func (d disk) fill(t *MapTree, need *NeedError) {
	for _, p := range need.Entries {
		e := Entry{Path: p, Resolved: p}
		if c, ok := d[p]; ok {
			e.Kind, e.Mode, e.Size, e.Digest = EntryFile, 0o644, int64(len(c)), digestOf([]byte(c))
		}
		t.Entries[p] = e
	}
	for _, p := range need.Contents {
		if c, ok := d[p]; ok {
			t.Contents[p] = []byte(c)
		} else {
			t.Contents[p] = nil
		}
	}
	for _, dir := range need.Lists {
		var names []string
		for p := range d {
			if p.Dir() == dir {
				names = append(names, p.Base())
			}
		}
		t.Lists[dir] = names
	}
}

func make_(t *testing.T, in Input, d disk) *Plan {
	t.Helper()
	tree := NewMapTree()
	in.Tree = tree
	for range 8 {
		p, err := Make(in)
		var need *NeedError
		if errors.As(err, &need) {
			d.fill(tree, need)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	t.Fatal("the plan kept asking")
	return nil
}

func testIndex() *manifest.Index {
	file := func(p string) manifest.File {
		return manifest.File{Path: p, Mode: 0o755, Digest: digestOf([]byte(p)), Size: int64(len(p)), Blob: digestOf([]byte("blob " + p))}
	}
	return &manifest.Index{
		FormatVersion: manifest.FormatVersion, Name: "pure", Version: "1", Sequence: 1, Platforms: []string{"linux/amd64"},
		Components: []manifest.Component{
			{Name: "containerd", Version: "2.3.4", Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{file("/usr/local/bin/containerd"), file("/usr/local/bin/ctr")}}}},
			{Name: "runc", Version: "1.4.3", Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{file("/usr/local/bin/runc")}}}},
			{Name: "gvisor", Version: "20260817.0", Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{file("/usr/local/bin/runsc")}}}},
			{Name: "docker", Version: "29.7.2", Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{file("/usr/local/bin/dockerd")}}}},
		},
	}
}

func testInput() Input {
	return Input{
		Index: testIndex(), Blobs: noBlobs{},
		Facts:     &host.Facts{Arch: "amd64"},
		Preflight: &Preflight{},
		Target:    Target{Root: "/srv/golden", Platform: "linux/amd64", Systemd: true},
		Observed:  Observed{BinDir: "/srv/golden/usr/local/bin"},
	}
}

// TestMakeFromData makes plans from in-memory data only: a fresh root,
// one with a user's daemon.json, and the state a first install leaves.
func TestMakeFromData(t *testing.T) {
	in := testInput()
	p := make_(t, in, disk{})
	var got []string
	for _, a := range p.Changes() {
		got = append(got, a.Describe())
	}
	for _, want := range []string{
		"new file /usr/local/bin/containerd", "new file /usr/local/bin/runc", "new config /etc/containerd/config.toml",
		"new config /etc/docker/daemon.json", "new unit /etc/systemd/system/containerd.service", "enable containerd.service",
		"enable docker.service", "new state /var/lib/satchel/state.json",
	} {
		if !slices.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	// Offline: nothing is started.
	for _, a := range p.Actions {
		if a.Change == ChangeStart || a.Change == ChangeRestart {
			t.Errorf("offline plan starts %s", a.Unit)
		}
	}

	// A user's daemon.json is merged, not replaced, and the plan records
	// which settings are satchel's.
	user := "{\n    \"log-level\": \"warn\"\n}\n"
	p = make_(t, in, disk{"/etc/docker/daemon.json": user})
	i := slices.IndexFunc(p.Actions, func(a Action) bool { return a.Path == "/etc/docker/daemon.json" })
	a := p.Actions[i]
	if a.Change != ChangeReplace || !strings.Contains(string(a.Content.Data), `"log-level": "warn"`) || len(a.Edits) == 0 {
		t.Errorf("daemon.json: %s %s edits %v", a.Change, a.Content.Data, a.Edits)
	}
	for _, e := range a.Edits {
		if e.Key[0] == "log-level" {
			t.Errorf("the user's setting is recorded as satchel's: %v", e)
		}
	}

	// Same input, same plan: nothing in it depends on when or where it ran.
	q := make_(t, in, disk{"/etc/docker/daemon.json": user})
	if len(q.Actions) != len(p.Actions) {
		t.Fatalf("two plans from the same data differ: %d and %d actions", len(p.Actions), len(q.Actions))
	}
	for i := range p.Actions {
		if p.Actions[i].Describe() != q.Actions[i].Describe() || p.Actions[i].Digest != q.Actions[i].Digest {
			t.Errorf("action %d differs: %s / %s", i, p.Actions[i].Describe(), q.Actions[i].Describe())
		}
	}
}

// TestSelectionClosure: each component alone selects what it needs, and
// the plan says what it added and why; a need the bundle cannot meet is a
// usage error (issue 10, #5).
func TestSelectionClosure(t *testing.T) {
	in := testInput()
	in.Options.Components = []string{"docker"}
	p := make_(t, in, disk{})
	if !slices.Equal(p.Bundle.Components, []string{"containerd", "runc", "docker"}) {
		t.Errorf("--components docker installs %v", p.Bundle.Components)
	}
	if len(p.Added) != 2 {
		t.Errorf("added: %+v", p.Added)
	}
	in.Index.Components = in.Index.Components[3:] // docker alone in the bundle
	_, err := Make(in)
	var se *SelectionError
	if !errors.As(err, &se) || manifest.ExitCode(err) != manifest.ExitUsage || !strings.Contains(se.Msg, "docker needs containerd") {
		t.Errorf("docker without containerd: %v (exit %d)", err, manifest.ExitCode(err))
	}
}

// TestUninstallFromData plans an uninstall from a recorded state and an
// in-memory tree.
func TestUninstallFromData(t *testing.T) {
	st := &state.State{Version: state.Version, Bundle: state.BundleInfo{Name: "pure"}, Enabled: []string{"containerd.service"},
		Files: []state.File{
			{Path: "/usr/local/bin/runc", Kind: state.KindFile, Digest: digestOf([]byte("runc"))},
			{Path: "/etc/docker/daemon.json", Kind: state.KindConfig, Digest: digestOf([]byte("ours")), Original: "/var/lib/satchel/backups/original/etc/docker/daemon.json"},
			{Path: "/usr/local/bin/gone", Kind: state.KindFile, Digest: digestOf([]byte("gone"))},
		}}
	d := disk{
		"/usr/local/bin/runc":     "runc",
		"/etc/docker/daemon.json": "ours",
		"/var/lib/satchel/backups/original/etc/docker/daemon.json": "theirs",
	}
	tree := NewMapTree()
	var p *Plan
	for range 4 {
		var err error
		p, _, err = Uninstall(UninstallInput{Previous: st, Tree: tree})
		var need *NeedError
		if errors.As(err, &need) {
			d.fill(tree, need)
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		break
	}
	var got []string
	for _, a := range p.Changes() {
		got = append(got, a.Describe())
	}
	want := []string{"disable containerd.service", "restore config /etc/docker/daemon.json", "remove file /usr/local/bin/runc"}
	if !slices.Equal(got, want) {
		t.Errorf("uninstall plan:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestBuildKit: the optional BuildKit component brings its unit (bound to
// containerd) and buildkitd.toml with the containerd worker; a user's
// buildkitd.toml is left alone.
func TestBuildKit(t *testing.T) {
	in := testInput()
	in.Index.Components = append(in.Index.Components, manifest.Component{Name: "buildkit", Version: "0.31.2",
		Artifacts: []manifest.Artifact{{Platform: "linux/amd64", Files: []manifest.File{{Path: "/usr/local/bin/buildkitd", Mode: 0o755,
			Digest: digestOf([]byte("bk")), Size: 2, Blob: digestOf([]byte("blob bk"))}}}}})
	p := make_(t, in, disk{})
	var got []string
	for _, a := range p.Changes() {
		got = append(got, a.Describe())
	}
	for _, want := range []string{"new unit /etc/systemd/system/buildkit.service", "new config /etc/buildkit/buildkitd.toml", "enable buildkit.service"} {
		if !slices.Contains(got, want) {
			t.Errorf("plan lacks %q:\n%s", want, strings.Join(got, "\n"))
		}
	}
	i := slices.IndexFunc(p.Actions, func(a Action) bool { return a.Path == "/etc/buildkit/buildkitd.toml" })
	if !strings.Contains(string(p.Actions[i].Content.Data), "[worker.containerd]\n  enabled = true") {
		t.Errorf("buildkitd.toml:\n%s", p.Actions[i].Content.Data)
	}
	// Only BuildKit selected: containerd and runc come with it.
	in.Options.Components = []string{"buildkit"}
	if p = make_(t, in, disk{}); !slices.Contains(p.Bundle.Components, "containerd") {
		t.Errorf("--components buildkit installs %v", p.Bundle.Components)
	}
	in.Options.Components = nil
	user := "[worker.oci]\n  enabled = true\n"
	p = make_(t, in, disk{"/etc/buildkit/buildkitd.toml": user})
	if i := slices.IndexFunc(p.Actions, func(a Action) bool { return a.Path == "/etc/buildkit/buildkitd.toml" }); i >= 0 {
		t.Errorf("a user's buildkitd.toml is planned: %s", p.Actions[i].Describe())
	}
	if !slices.ContainsFunc(p.Warnings, func(w string) bool { return strings.Contains(w, "buildkitd.toml exists") }) {
		t.Errorf("no warning about the user's buildkitd.toml: %v", p.Warnings)
	}
}

// TestPerPlatformReleases: a component the bundle carries for another
// platform only is named in the plan's warnings and refused by
// --components; the release recorded for the target's artifact (not the
// component's) is the one the plan configures and records (issue 10).
func TestPerPlatformReleases(t *testing.T) {
	in := testInput()
	in.Index.Platforms = []string{"linux/amd64", "linux/arm64"}
	file := func(p string) manifest.File {
		return manifest.File{Path: p, Mode: 0o755, Digest: digestOf([]byte(p)), Size: int64(len(p)), Blob: digestOf([]byte("blob " + p))}
	}
	for i := range in.Index.Components {
		c := &in.Index.Components[i]
		switch c.Name {
		case "gvisor": // amd64 only
		case "containerd":
			c.Version = "2.2.0"
			c.Artifacts = append(c.Artifacts, manifest.Artifact{Platform: "linux/arm64", Version: "2.3.4",
				Files: []manifest.File{file("/usr/local/bin/containerd"), file("/usr/local/bin/ctr")}})
		default:
			c.Artifacts = append(c.Artifacts, manifest.Artifact{Platform: "linux/arm64", Files: c.Artifacts[0].Files})
		}
	}
	in.Facts = &host.Facts{Arch: "arm64"}
	in.Target.Platform = "linux/arm64"
	p := make_(t, in, disk{})
	if !slices.Contains(p.Warnings, "component gvisor has no files for linux/arm64 in this bundle; it is not installed") {
		t.Errorf("warnings %q", p.Warnings)
	}
	if slices.Contains(p.Bundle.Components, "gvisor") {
		t.Errorf("gvisor planned on arm64: %v", p.Bundle.Components)
	}
	if p.ContainerdVersion != "2.3.4" || p.Bundle.ComponentVersions["containerd"] != "2.3.4" || p.Bundle.ComponentVersions["runc"] != "1.4.3" {
		t.Errorf("containerd %s, recorded %v", p.ContainerdVersion, p.Bundle.ComponentVersions)
	}
	in.Options.Components = []string{"gvisor"}
	_, err := Make(in)
	var se *SelectionError
	if !errors.As(err, &se) || manifest.ExitCode(err) != manifest.ExitPreflight || !strings.Contains(se.Msg, "gvisor has no files for linux/arm64") {
		t.Errorf("--components gvisor on arm64: %v (exit %d)", err, manifest.ExitCode(err))
	}
}
