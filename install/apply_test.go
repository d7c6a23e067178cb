package install

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// TestApplyIntoRoot installs every component into an empty directory and
// checks each file, mode, symlink, config key, unit and the state.
func TestApplyIntoRoot(t *testing.T) {
	e := newEnv(t, defaultFixture())
	rep := e.mustApply()
	if !rep.Changed || rep.Steps == 0 {
		t.Fatalf("first apply changed nothing: %+v", rep)
	}
	// Every bundle file, with its mode and content.
	for _, c := range e.fx.components {
		for _, f := range c.files {
			hp := filepath.Join(e.root, f.path)
			fi, err := os.Lstat(hp)
			if err != nil {
				t.Fatalf("%s: %v", f.path, err)
			}
			if f.link != "" {
				if got, _ := os.Readlink(hp); got != f.link {
					t.Errorf("%s -> %q, want %q", f.path, got, f.link)
				}
				continue
			}
			if fi.Mode().Perm() != os.FileMode(f.mode) {
				t.Errorf("%s mode %v, want %#o", f.path, fi.Mode(), f.mode)
			}
			if got := e.read(rootfs.Path(f.path)); got != f.content {
				t.Errorf("%s content differs", f.path)
			}
		}
	}
	// The installer copied itself.
	if got := e.read(state.SelfPath); !strings.Contains(got, "satchel-install stand-in") {
		t.Errorf("installer copy: %q", got)
	}
	// containerd 2.0: config.toml imports the drop-in, which configures the runtimes.
	var root, drop map[string]any
	if err := toml.Unmarshal([]byte(e.read("/etc/containerd/config.toml")), &root); err != nil {
		t.Fatal(err)
	}
	if root["version"] != int64(3) || !slices.Contains(anyStrings(root["imports"]), "/etc/containerd/conf.d/satchel.toml") {
		t.Errorf("config.toml: %v", root)
	}
	if err := toml.Unmarshal([]byte(e.read("/etc/containerd/conf.d/satchel.toml")), &drop); err != nil {
		t.Fatal(err)
	}
	rts := dig(drop, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes").(map[string]any)
	for name, typ := range map[string]string{"runc": "io.containerd.runc.v2", "runsc": "io.containerd.runsc.v1", "kata": "io.containerd.kata.v2"} {
		if got := dig(rts, name, "runtime_type"); got != typ {
			t.Errorf("runtime %s: runtime_type %v, want %s", name, got, typ)
		}
	}
	if got := dig(drop, "plugins", "io.containerd.cri.v1.images", "pinned_images", "sandbox"); got != "registry.k8s.io/pause:3.10" {
		t.Errorf("sandbox image %v", got)
	}
	// daemon.json: runsc by path, kata by runtimeType.
	var dj map[string]any
	if err := json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &dj); err != nil {
		t.Fatal(err)
	}
	if dig(dj, "runtimes", "runsc", "path") != "/usr/local/bin/runsc" || dig(dj, "runtimes", "kata", "runtimeType") != "io.containerd.kata.v2" {
		t.Errorf("daemon.json: %v", dj)
	}
	if got := e.read("/etc/crictl.yaml"); !strings.Contains(got, "runtime-endpoint: unix:///run/containerd/containerd.sock") {
		t.Errorf("crictl.yaml: %s", got)
	}
	if got := e.read("/etc/satchel/kubernetes/runtimeclasses.yaml"); !strings.Contains(got, "handler: runsc") || !strings.Contains(got, "handler: kata") {
		t.Errorf("runtimeclasses: %s", got)
	}
	if got := e.read("/etc/containerd/runsc.toml"); !strings.Contains(got, "runsc_config") {
		t.Errorf("runsc.toml: %s", got)
	}
	if got := e.read("/etc/profile.d/satchel.sh"); !strings.Contains(got, "/usr/local/bin") {
		t.Errorf("profile: %s", got)
	}
	// No code from the bundle ran on this host (issue 7, critical 2):
	// completions come with the bundle, built by satchel-bundle.
	if ran := e.runner.called("<root>/"); len(ran) > 0 {
		t.Errorf("the installer ran programs from the root: %q", ran)
	}
	if _, err := os.Lstat(filepath.Join(e.root, "etc/bash_completion.d")); !os.IsNotExist(err) {
		t.Errorf("/etc/bash_completion.d was written: %v", err)
	}
	// Units, enabled offline (no systemctl: the installer's own links).
	if got := e.read("/etc/systemd/system/docker.service"); !strings.Contains(got, "--containerd=/run/containerd/containerd.sock") {
		t.Errorf("docker.service: %s", got)
	}
	for _, u := range []string{"containerd.service", "docker.service", "satchel-images.service"} {
		l, err := os.Readlink(filepath.Join(e.root, "etc/systemd/system/multi-user.target.wants", u))
		if err != nil || l != "/etc/systemd/system/"+u {
			t.Errorf("%s not enabled: %q %v", u, l, err)
		}
	}
	// Root is not "/": images are staged for satchel-images.service.
	var list images.StagedList
	if err := json.Unmarshal([]byte(e.read(state.StagedList)), &list); err != nil {
		t.Fatal(err)
	}
	if len(list.Images) != 2 || list.Images[0].Ref != "registry.k8s.io/pause:3.10" || !slices.Equal(list.Images[0].Namespaces, []string{"k8s.io", "default"}) || !list.Images[0].Docker {
		t.Errorf("staged list: %+v", list)
	}
	for _, si := range list.Images {
		files := untar(t, []byte(e.read(state.ImageDir.Join(si.File))))
		if _, ok := files["oci-layout"]; !ok || files["index.json"] == nil || files["manifest.json"] == nil {
			t.Errorf("%s: not an OCI layout with manifest.json: %v", si.File, keys(files))
		}
	}
	if got := e.read("/etc/systemd/system/satchel-images.service"); !strings.Contains(got, "ExecStart=/usr/local/bin/satchel-install images import --staged") {
		t.Errorf("satchel-images.service: %s", got)
	}
	// State.
	st, err := e.state()
	if err != nil || st == nil {
		t.Fatalf("state: %v", err)
	}
	if st.Bundle.Name != "test-runtimes" || st.Bundle.Sequence != 7 || st.Bundle.KeyID != e.key.signer.KeyID() || st.Bundle.InsecureSkipSignature {
		t.Errorf("state bundle: %+v", st.Bundle)
	}
	if !slices.Equal(st.Enabled, []string{"containerd.service", "docker.service", "satchel-images.service"}) {
		t.Errorf("state enabled: %v", st.Enabled)
	}
	if _, ok := st.File("/usr/local/bin/runc"); !ok {
		t.Errorf("state lacks runc")
	}
	// Nothing is left over: no journal, no run backups, no temporary files.
	for _, p := range []rootfs.Path{state.JournalPath, state.RunBackupDir} {
		if _, err := os.Stat(filepath.Join(e.root, string(p))); !os.IsNotExist(err) {
			t.Errorf("%s left behind (%v)", p, err)
		}
	}
	for p := range snapshot(t, e.root) {
		if strings.Contains(p, ".satchel-tmp") {
			t.Errorf("temporary file left: %s", p)
		}
	}
}

// TestApplyTwiceChangesNothing: the second apply writes nothing; --check
// (a plan) reports a change only when one is needed.
func TestApplyTwiceChangesNothing(t *testing.T) {
	e := newEnv(t, defaultFixture())
	e.mustApply()
	before := snapshot(t, e.root)
	beforeNoState := snapshot(t, e.root, state.Path)
	p := e.plan(e.installer())
	if p.Changed {
		t.Fatalf("plan after apply wants changes: %v", describeChanges(p))
	}
	rep := e.mustApply()
	if rep.Changed || rep.Steps != 0 {
		t.Fatalf("second apply changed something: %v", describeChanges(rep.Plan))
	}
	requireSameTree(t, before, snapshot(t, e.root))

	// One changed file is one change, and apply repairs it.
	e.write("/usr/local/bin/runc", "tampered", 0o755)
	p = e.plan(e.installer())
	ch := p.Changes()
	if len(ch) != 1 || ch[0].Path != "/usr/local/bin/runc" || ch[0].Change != plan.ChangeReplace {
		t.Fatalf("want only runc replaced, got %v", describeChanges(p))
	}
	e.mustApply()
	requireSameTree(t, beforeNoState, snapshot(t, e.root, state.Path))
}

// TestKeptUserSettings installs over a daemon.json and a containerd 1.x
// config.toml with user settings, checks they are kept, and that
// uninstall puts every file back byte for byte.
func TestKeptUserSettings(t *testing.T) {
	fx := defaultFixture()
	fx.components[0].version = "1.7.27" // structured merge into config.toml
	e := newEnv(t, fx)
	userDaemon := "{\n  \"log-level\": \"warn\",\n  \"registry-mirrors\": [\"https://mirror.example\"],\n  \"runtimes\": {\"custom\": {\"path\": \"/opt/custom\"}}\n}\n"
	userConfig := "version = 2\nroot = \"/data/containerd\"\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  max_container_log_line_size = 32768\n"
	e.write("/etc/docker/daemon.json", userDaemon, 0o600)
	e.write("/etc/containerd/config.toml", userConfig, 0o644)
	e.write("/usr/local/bin/runc", "the user's own runc", 0o700)
	e.write("/home/user/notes.txt", "unrelated", 0o644)
	before := snapshot(t, e.root)

	e.mustApply()
	var dj map[string]any
	if err := json.Unmarshal([]byte(e.read("/etc/docker/daemon.json")), &dj); err != nil {
		t.Fatal(err)
	}
	if dj["log-level"] != "warn" || dig(dj, "runtimes", "custom", "path") != "/opt/custom" || dig(dj, "runtimes", "runsc", "path") != "/usr/local/bin/runsc" {
		t.Errorf("daemon.json lost settings: %v", dj)
	}
	var cfg map[string]any
	if err := toml.Unmarshal([]byte(e.read("/etc/containerd/config.toml")), &cfg); err != nil {
		t.Fatal(err)
	}
	cri := dig(cfg, "plugins", "io.containerd.grpc.v1.cri").(map[string]any)
	if cfg["root"] != "/data/containerd" || cri["max_container_log_line_size"] != int64(32768) ||
		dig(cri, "containerd", "runtimes", "runsc", "runtime_type") != "io.containerd.runsc.v1" || cri["sandbox_image"] != "registry.k8s.io/pause:3.10" {
		t.Errorf("config.toml merge: %v", cfg)
	}
	if _, err := os.Stat(filepath.Join(e.root, "etc/containerd/conf.d")); !os.IsNotExist(err) {
		t.Errorf("containerd 1.x got a drop-in")
	}
	// The replaced files were kept as originals.
	st, _ := e.state()
	for _, p := range []rootfs.Path{"/etc/docker/daemon.json", "/etc/containerd/config.toml", "/usr/local/bin/runc"} {
		f, ok := st.File(p)
		if !ok || f.Original == "" {
			t.Errorf("%s: no original recorded (%+v)", p, f)
		}
	}

	rep, err := e.installer().Uninstall(context.Background())
	if err != nil {
		t.Fatalf("uninstall: %v", err)
	}
	if len(rep.Left) != 0 {
		t.Errorf("uninstall left %v", rep.Left)
	}
	requireSameTree(t, before, snapshot(t, e.root))
}

// TestUninstallLeavesChangedFiles: a file the user changed after the
// install stays, and is reported.
func TestUninstallLeavesChangedFiles(t *testing.T) {
	e := newEnv(t, defaultFixture())
	before := snapshot(t, e.root)
	e.mustApply()
	e.write("/etc/crictl.yaml", "runtime-endpoint: unix:///custom.sock\n", 0o644)
	rep, err := e.installer().Uninstall(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Left, []string{"/etc/crictl.yaml"}) {
		t.Errorf("left: %v", rep.Left)
	}
	after := snapshot(t, e.root)
	if d := diffSnapshots(before, after); len(d) != 2 || !strings.HasPrefix(d[0], "+ /etc (") || !strings.HasPrefix(d[1], "+ /etc/crictl.yaml (") {
		t.Errorf("want only crictl.yaml left, got:\n%s", strings.Join(d, "\n"))
	}
}

// TestVerificationFailuresWriteNothing: tampered, wrongly signed,
// unsigned, downgraded bundles and a missing key all exit 3, and the
// root stays byte-identical.
func TestVerificationFailuresWriteNothing(t *testing.T) {
	e := newEnv(t, defaultFixture())
	e.write("/etc/docker/daemon.json", "{}\n", 0o644)
	before := snapshot(t, e.root)
	ctx := context.Background()

	run := func(name string, bundle string, opts ...Option) {
		t.Helper()
		in := e.installer(opts...)
		src, err := in.Open(ctx, bundle)
		if err == nil {
			_, err = in.Apply(ctx, src)
			src.Close()
		}
		if manifest.ExitCode(err) != manifest.ExitVerification {
			t.Errorf("%s: exit code %d (%v), want 3", name, manifest.ExitCode(err), err)
		} else if manifest.Hint(err) == "" {
			t.Errorf("%s: no hint in %v", name, err)
		}
		requireSameTree(t, before, snapshot(t, e.root))
	}

	// A flipped bit in the last blob (an image layer): found before any write.
	b, _ := os.ReadFile(e.bundle)
	last := e.ix.Blobs[len(e.ix.Blobs)-1]
	tampered := filepath.Join(e.dir, "tampered.satchel")
	idx := bytesIndex(t, e.bundle, last)
	b2 := slices.Clone(b)
	b2[idx+int64(last.Size)/2] ^= 1
	os.WriteFile(tampered, b2, 0o644)
	run("tampered blob", tampered)

	// A changed index: the signature no longer matches.
	b3 := slices.Clone(b)
	i := strings.Index(string(b3), `"version": "2025.04.0"`)
	copy(b3[i:], `"version": "2025.04.1"`)
	tamperedIx := filepath.Join(e.dir, "tampered-index.satchel")
	os.WriteFile(tamperedIx, b3, 0o644)
	run("tampered index", tamperedIx)

	// Signed by another key.
	other := newKey(t, e.dir, "other")
	fx := e.fx
	wrong, _ := fx.build(t, filepath.Join(e.dir, "wrong"), other)
	run("wrong key", wrong)

	// Unsigned.
	unsigned, _ := fx.build(t, filepath.Join(e.dir, "unsigned"), nil)
	run("unsigned", unsigned)

	// No trusted key at all.
	in, _ := New(WithRoot(e.root), WithRunner(e.runner))
	if _, err := in.Open(ctx, e.bundle); manifest.ExitCode(err) != manifest.ExitVerification || !strings.Contains(manifest.Hint(err), "--key") {
		t.Errorf("no key: %v", err)
	}
	requireSameTree(t, before, snapshot(t, e.root))

	// Downgrade: install sequence 7, then offer sequence 6.
	e.mustApply()
	installed := snapshot(t, e.root)
	fx.seq = 6
	older, _ := fx.build(t, filepath.Join(e.dir, "older"), e.key)
	in = e.installer()
	_, err := in.Open(ctx, older)
	if manifest.ExitCode(err) != manifest.ExitVerification || !strings.Contains(err.Error(), "downgrade") {
		t.Errorf("downgrade: %v", err)
	}
	requireSameTree(t, installed, snapshot(t, e.root))
	in = e.installer(WithAllowDowngrade(true))
	if src, err := in.Open(ctx, older); err != nil {
		t.Errorf("--allow-downgrade refused: %v", err)
	} else {
		src.Close()
	}
}

// TestInsecureSkipSignature installs an unsigned bundle only on request,
// loudly, and records it.
func TestInsecureSkipSignature(t *testing.T) {
	e := newEnv(t, defaultFixture())
	unsigned, _ := e.fx.build(t, filepath.Join(e.dir, "unsigned"), nil)
	e.bundle = unsigned
	var warnings []string
	e.mustApply(WithInsecureSkipSignature(true), WithWarnings(func(s string) { warnings = append(warnings, s) }))
	if len(warnings) == 0 || !strings.Contains(warnings[0], "INSECURE") {
		t.Errorf("no loud warning: %v", warnings)
	}
	st, _ := e.state()
	if !st.Bundle.InsecureSkipSignature || st.Bundle.KeyID != "" {
		t.Errorf("state does not record the skipped signature: %+v", st.Bundle)
	}
}

func bytesIndex(t *testing.T, bundle string, b manifest.Blob) int64 {
	t.Helper()
	data, _ := os.ReadFile(bundle)
	name := "blobs/sha256/" + b.Digest.Hex()
	i := strings.Index(string(data), name)
	if i < 0 {
		t.Fatalf("blob %s not found", b.Digest)
	}
	return int64(i) + 512 // the content follows its 512-byte header
}

func describeChanges(p *plan.Plan) []string {
	var out []string
	for _, a := range p.Changes() {
		out = append(out, a.Describe())
	}
	return out
}

func dig(m any, path ...string) any {
	for _, k := range path {
		mm, ok := m.(map[string]any)
		if !ok {
			return nil
		}
		m = mm[k]
	}
	return m
}

func anyStrings(v any) []string {
	var out []string
	if l, ok := v.([]any); ok {
		for _, x := range l {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
	}
	return out
}

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

func tomlDecode(b []byte, v any) error { return toml.Unmarshal(b, v) }
