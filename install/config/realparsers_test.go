//go:build linux

package config

// Rendered configs checked by the real programs that read them: containerd
// 1.x and 2.x (`config dump`, and a real start of the CRI plugin) and dockerd
// (`--validate`). The binaries come from PATH, $SATCHEL_E2E_BIN,
// /var/cache/satchel-e2e (test/e2e/realbins.sh builds them there) or Debian
// (`apt-get install containerd`). Tests skip, saying what is missing, when a
// binary is not found; CI has them.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/pelletier/go-toml/v2"

	"github.com/satchel-dev/satchel/internal/testenv"
)

const e2eCache = "/var/cache/satchel-e2e"

// candidates lists existing executables named name, first found first.
func candidates(name string) []string {
	var list []string
	if p, err := exec.LookPath(name); err == nil {
		list = append(list, p)
	}
	if d := os.Getenv("SATCHEL_E2E_BIN"); d != "" {
		list = append(list, filepath.Join(d, name))
	}
	list = append(list, filepath.Join(e2eCache, "bin", name))
	builds, _ := filepath.Glob(filepath.Join(e2eCache, "builds", "*", "bin", name))
	list = append(list, builds...)
	var out []string
	seen := map[string]bool{}
	for _, p := range list {
		real, err := filepath.EvalSymlinks(p)
		if err != nil || seen[real] {
			continue
		}
		if fi, err := os.Stat(real); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
			continue
		}
		seen[real] = true
		out = append(out, p)
	}
	return out
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err = cmd.Run()
	return o.Bytes(), e.Bytes(), err
}

type containerdBin struct {
	path, version string
}

// containerdByMajor finds one containerd binary per major version.
func containerdByMajor(t *testing.T) map[int]containerdBin {
	t.Helper()
	found := map[int]containerdBin{}
	for _, p := range candidates("containerd") {
		out, _, err := run(t, 10*time.Second, p, "--version")
		if err != nil {
			continue
		}
		// "containerd github.com/containerd/containerd/v2 v2.4.2 <commit>"
		f := strings.Fields(string(out))
		if len(f) < 3 {
			continue
		}
		v, err := parseVersion(f[2])
		if err != nil {
			continue
		}
		if _, ok := found[v.major]; !ok {
			found[v.major] = containerdBin{path: p, version: f[2]}
		}
	}
	return found
}

func needContainerd(t *testing.T, major int) containerdBin {
	t.Helper()
	bins := containerdByMajor(t)
	b, ok := bins[major]
	if !ok {
		hint := "apt-get install containerd (Debian ships 1.6)"
		if major == 2 {
			hint = "test/e2e/realbins.sh builds containerd v2 into " + e2eCache
		}
		testenv.Skipf(t, "needs a containerd %d.x binary on PATH, in $SATCHEL_E2E_BIN or under %s: %s", major, e2eCache, hint)
	}
	return b
}

// writeContainerd lays out a rendered containerd config under dir/etc and
// returns the path of config.toml. containerd resolves the absolute import
// /etc/containerd/conf.d/satchel.toml on the real /etc, so the entry is
// rewritten to the equivalent relative path (relative imports are resolved
// against config.toml's directory).
func writeContainerd(t *testing.T, dir string, res Result) string {
	t.Helper()
	for _, f := range res.Files {
		data := f.Data
		if f.Path == ContainerdConfigPath {
			doc := mustTOML(t, data)
			if imps, ok := doc["imports"].([]any); ok {
				for i, imp := range imps {
					if imp == string(ContainerdDropInPath) {
						imps[i] = "conf.d/satchel.toml"
					}
				}
			}
			var err error
			if data, err = toml.Marshal(doc); err != nil {
				t.Fatal(err)
			}
		}
		p := filepath.Join(dir, string(f.Path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, string(ContainerdConfigPath))
}

func TestRealContainerdConfigDump(t *testing.T) {
	for _, tc := range []struct {
		major    int
		existing string // testdata file with user settings, "" = fresh
	}{{1, ""}, {1, "containerd-user-v2.toml"}, {2, ""}, {2, "containerd-user-v2.toml"}, {2, "containerd-user-v3.toml"}} {
		t.Run(fmt.Sprintf("%d.x/%s", tc.major, cmp(tc.existing, "fresh")), func(t *testing.T) {
			bin := needContainerd(t, tc.major)
			var existing []byte
			if tc.existing != "" {
				existing = readTestdata(t, tc.existing)
			}
			o := fullOptions(bin.version)
			res, err := Containerd(o, existing)
			if err != nil {
				t.Fatal(err)
			}
			cfg := writeContainerd(t, t.TempDir(), res)
			out, stderr, err := run(t, 30*time.Second, bin.path, "--config", cfg, "config", "dump")
			if err != nil {
				t.Fatalf("%s config dump: %v\n%s", bin.path, err, stderr)
			}
			// Keys containerd does not know would be logged and ignored.
			if bytes.Contains(bytes.ToLower(stderr), []byte("unknown key")) || bytes.Contains(stderr, []byte("level=error")) {
				t.Errorf("containerd %s complains:\n%s", bin.version, stderr)
			}
			dump := mustTOML(t, out)
			schema, _ := Schema(bin.version)
			checkRuntimes(t, dump, schema, o)
			l := layoutFor(schema)
			paths := strings.Split(at(t, dump, l.at(l.images, "registry", "config_path")...).(string), ":")
			if paths[0] != string(RegistryConfigPath) {
				t.Errorf("config_path = %v", paths)
			}
			if got := at(t, dump, l.at(l.runtime, "containerd", "runtimes", Kata, "privileged_without_host_devices")...); got != true {
				t.Errorf("kata privileged_without_host_devices = %v", got)
			}
			// The user's settings survive containerd's own merge (1.x: one
			// file; 2.x: config.toml plus the drop-in).
			if tc.existing != "" {
				if got := at(t, dump, "root"); got != "/data/containerd" {
					t.Errorf("root = %v, want the user's", got)
				}
				if got := at(t, dump, l.at(l.runtime, "containerd", "runtimes", Runc, "options", "BinaryName")...); got != "/usr/local/bin/runc" {
					t.Errorf("runc BinaryName = %v, want satchel's", got)
				}
				if !slices.Contains(paths, "/etc/docker/certs.d") {
					t.Errorf("config_path %v lost the user's /etc/docker/certs.d", paths)
				}
			}
			if tc.existing == "containerd-user-v2.toml" {
				if got := at(t, dump, l.at(l.runtime, "containerd", "runtimes", "crun", "options", "BinaryName")...); got != "/usr/bin/crun" {
					t.Errorf("user runtime crun = %v", got)
				}
				if got := at(t, dump, l.at(l.runtime, "containerd", "runtimes", Runc, "options", "NoNewKeyring")...); got != true {
					t.Errorf("user runc option NoNewKeyring = %v", got)
				}
				if got := at(t, dump, l.at(l.runtime, "enable_unprivileged_ports")...); got != true {
					t.Errorf("user enable_unprivileged_ports = %v", got)
				}
			}
			if tc.existing == "containerd-user-v3.toml" {
				if got := at(t, dump, l.at(l.runtime, "enable_unprivileged_icmp")...); got != true {
					t.Errorf("user enable_unprivileged_icmp = %v", got)
				}
			}
			t.Logf("containerd %s (%s) loaded the rendered config", bin.version, bin.path)
		})
	}
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// TestRealContainerdStartsCRI starts containerd on the rendered config (own
// root, state and socket under a temp dir) and asks it, with its own ctr,
// whether the CRI plugins loaded: CRI validates its config only then (e.g.
// it refuses registry.mirrors next to config_path).
func TestRealContainerdStartsCRI(t *testing.T) {
	testenv.SkipShort(t, "starts containerd")
	testenv.RequireRoot(t)
	for _, major := range []int{1, 2} {
		t.Run(fmt.Sprintf("%d.x", major), func(t *testing.T) {
			bin := needContainerd(t, major)
			ctr := filepath.Join(filepath.Dir(bin.path), "ctr")
			if _, err := os.Stat(ctr); err != nil {
				testenv.Skipf(t, "needs ctr next to %s", bin.path)
			}
			schema, _ := Schema(bin.version)
			l := layoutFor(schema)
			want := []string{"io.containerd.grpc.v1/cri"}
			if major == 2 {
				want = []string{"io.containerd.cri.v1/runtime", "io.containerd.cri.v1/images", "io.containerd.grpc.v1/cri"}
			}
			// Plugins that would touch the host outside the temp dir are off.
			base := fmt.Sprintf("version = %d\ndisabled_plugins = [\"io.containerd.nri.v1.nri\", \"io.containerd.internal.v1.opt\"]\n", schema)

			o := fullOptions(bin.version)
			o.RestrictOOMScoreAdj = true
			res, err := Containerd(o, []byte(base))
			if err != nil {
				t.Fatal(err)
			}
			status := startCRI(t, bin.path, ctr, res)
			for _, w := range want {
				if status[w] != "ok" {
					t.Errorf("plugin %s: status %q, want ok (all: %v)", w, status[w], status)
				}
			}

			// Control: containerd refuses what Containerd avoids (inline
			// mirrors next to config_path), so "ok" above means something.
			bad := base + fmt.Sprintf("[plugins.%q.registry]\nconfig_path = \"/etc/containerd/certs.d\"\n[plugins.%q.registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m.example\"]\n",
				l.images[1], l.images[1])
			status = startCRI(t, bin.path, ctr, Result{Files: []File{{Path: ContainerdConfigPath, Data: []byte(bad)}}})
			if !slices.ContainsFunc(want, func(w string) bool { return status[w] != "ok" }) {
				t.Errorf("containerd loaded CRI with mirrors next to config_path: %v", status)
			}
			t.Logf("containerd %s started the CRI plugin on the rendered config, and refused the control", bin.version)
		})
	}
}

// startCRI starts containerd on res and returns each plugin's status
// ("type/id" -> "ok", "error", "skip") from ctr plugins ls.
func startCRI(t *testing.T, containerd, ctr string, res Result) map[string]string {
	t.Helper()
	dir, err := os.MkdirTemp("", "satchel-containerd-") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(dir)
	cfg := writeContainerd(t, dir, res)
	sock := filepath.Join(dir, "c.sock")
	var logbuf bytes.Buffer
	cmd := exec.Command(containerd, "--config", cfg, "--address", sock,
		"--root", filepath.Join(dir, "root"), "--state", filepath.Join(dir, "state"))
	cmd.Stdout, cmd.Stderr = &logbuf, &logbuf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()

	var out []byte
	deadline := time.Now().Add(20 * time.Second)
	for {
		out, _, err = run(t, 10*time.Second, ctr, "--address", sock, "plugins", "ls")
		if err == nil || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("ctr plugins ls: %v\ncontainerd log:\n%s", err, logbuf.Bytes())
	}
	status := map[string]string{}
	for line := range strings.Lines(string(out)) {
		if f := strings.Fields(line); len(f) >= 4 {
			status[f[0]+"/"+f[1]] = f[len(f)-1]
		}
	}
	return status
}

// needDockerd finds a dockerd that knows --validate and daemon.json's
// runtimeType (both since Docker 23).
func needDockerd(t *testing.T) string {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "empty.json")
	if err := os.WriteFile(empty, []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	var tried []string
	for _, p := range candidates("dockerd") {
		// Older dockerd says "unknown flag: --validate".
		if _, _, err := run(t, 30*time.Second, p, "--validate", "--config-file", empty); err == nil {
			return p
		}
		tried = append(tried, p)
	}
	testenv.Skipf(t, "needs dockerd ≥ 23 (for --validate and runtimeType) on PATH, in $SATCHEL_E2E_BIN or under %s; tried %v (Debian's docker.io 20.10 is too old; test/e2e/realbins.sh builds moby)", e2eCache, tried)
	return ""
}

// TestRealDockerdValidate has dockerd check the merged daemon.json.
func TestRealDockerdValidate(t *testing.T) {
	dir := t.TempDir()
	dockerd := needDockerd(t)
	validate := func(daemonJSON []byte) ([]byte, error) {
		p := filepath.Join(dir, "daemon.json")
		if err := os.WriteFile(p, daemonJSON, 0o644); err != nil {
			t.Fatal(err)
		}
		// The flag docker.service passes, so flag/file conflicts show.
		stdout, stderr, err := run(t, 30*time.Second, dockerd, "--validate", "--config-file", p, "--containerd="+ContainerdSocket)
		return append(stdout, stderr...), err
	}
	// dockerd refuses keys it does not know, so the user file here holds
	// only real settings (plus the path forms and "containerd" key that
	// DaemonJSON must rewrite); daemon-user.json covers unknown keys.
	for _, existing := range []string{"", "daemon-user-valid.json"} {
		var in []byte
		if existing != "" {
			in = readTestdata(t, existing)
			// Control: as the user has it, dockerd refuses the file next to
			// docker.service's --containerd flag.
			if out, err := validate(in); err == nil || !bytes.Contains(out, []byte("containerd")) {
				t.Errorf("dockerd --validate accepted \"containerd\" next to --containerd (%v):\n%s", err, out)
			}
		}
		b, _, err := DaemonJSON(in, DockerOptions{Runtimes: []string{Runsc, Kata}, DefaultRuntime: Runsc})
		if err != nil {
			t.Fatal(err)
		}
		if out, err := validate(b); err != nil {
			t.Errorf("%s: dockerd --validate: %v\n%s\n%s", cmp(existing, "fresh"), err, out, b)
		} else {
			t.Logf("%s: %s", dockerd, bytes.TrimSpace(out))
		}
	}
	// Registry mirrors as DaemonJSON writes them: a Docker Hub mirror and a
	// plain-HTTP mirror's host among insecure-registries.
	var mirrors []RegistryMirror
	for _, s := range []string{"docker.io=harbor.internal", "quay.io=http://10.0.0.5:5000"} {
		m, err := ParseRegistryMirror(s)
		if err != nil {
			t.Fatal(err)
		}
		mirrors = append(mirrors, m)
	}
	b, _, err := DaemonJSON(readTestdata(t, "daemon-user-valid.json"), DockerOptions{Runtimes: []string{Runsc}, RegistryMirrors: mirrors})
	if err != nil {
		t.Fatal(err)
	}
	if out, err := validate(b); err != nil {
		t.Errorf("registry mirrors: dockerd --validate: %v\n%s\n%s", err, out, b)
	}
}

// TestRealDockerdRuntimes starts dockerd on the merged daemon.json (with a
// containerd of its own, everything under a temp dir, no networking) and
// reads the runtimes back with `docker info`: --validate does not check
// runtimes, dockerd only does when it starts. The control shows dockerd
// refusing kata's old path form next to runtimeType, which DaemonJSON removes.
func TestRealDockerdRuntimes(t *testing.T) {
	testenv.SkipShort(t, "starts containerd and dockerd")
	testenv.RequireRoot(t)
	dockerd := needDockerd(t)
	docker := testenv.RequireBinary(t, "docker") // the client, to read `docker info`
	bins := containerdByMajor(t)
	bin, ok := bins[2]
	if !ok {
		bin, ok = bins[1]
	}
	if !ok {
		testenv.Skipf(t, "needs a containerd binary for dockerd to run on")
	}
	dir, err := os.MkdirTemp("", "satchel-docker-") // short: socket paths are limited to 108 bytes
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })

	// A bare containerd: no CRI, nothing outside dir.
	schema, _ := Schema(bin.version)
	ccfg := filepath.Join(dir, "containerd.toml")
	os.WriteFile(ccfg, fmt.Appendf(nil, "version = %d\ndisabled_plugins = [\"io.containerd.grpc.v1.cri\", \"io.containerd.nri.v1.nri\", \"io.containerd.internal.v1.opt\"]\n", schema), 0o644)
	csock := filepath.Join(dir, "c.sock")
	var clog bytes.Buffer
	c := exec.Command(bin.path, "--config", ccfg, "--address", csock, "--root", filepath.Join(dir, "croot"), "--state", filepath.Join(dir, "cstate"))
	c.Stdout, c.Stderr = &clog, &clog
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Process.Kill(); c.Wait() })

	// start runs dockerd on daemonJSON until `docker info` answers, and
	// returns "<runtimes> <default>" or dockerd's log when it exits.
	start := func(daemonJSON []byte) (string, error) {
		cfg := filepath.Join(dir, "daemon.json")
		os.WriteFile(cfg, daemonJSON, 0o644)
		dsock := filepath.Join(dir, "d.sock")
		var dlog bytes.Buffer
		d := exec.Command(dockerd, "--config-file", cfg, "--containerd="+csock,
			"--data-root", filepath.Join(dir, "droot"), "--exec-root", filepath.Join(dir, "dexec"),
			"--pidfile", filepath.Join(dir, "d.pid"), "-H", "unix://"+dsock,
			"--iptables=false", "--ip6tables=false", "--bridge=none")
		d.Stdout, d.Stderr = &dlog, &dlog
		if err := d.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- d.Wait() }()
		defer func() {
			// SIGTERM: dockerd bind-mounts its data root onto itself and
			// undoes that only when it shuts down cleanly.
			d.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(15 * time.Second):
				d.Process.Kill()
				<-exited
			}
			syscall.Unmount(filepath.Join(dir, "droot"), syscall.MNT_DETACH) // in case it did not
		}()
		deadline := time.Now().Add(30 * time.Second)
		for time.Now().Before(deadline) {
			select {
			case err := <-exited:
				exited <- err
				return "", fmt.Errorf("dockerd exited: %v\n%s", err, dlog.Bytes())
			default:
			}
			out, _, err := run(t, 10*time.Second, docker, "-H", "unix://"+dsock, "info", "--format", "{{range $k, $v := .Runtimes}}{{$k}},{{end}} {{.DefaultRuntime}}")
			if err == nil {
				return strings.TrimSpace(string(out)), nil
			}
			time.Sleep(300 * time.Millisecond)
		}
		return "", fmt.Errorf("dockerd did not answer in 30s\n%s\ncontainerd:\n%s", dlog.Bytes(), clog.Bytes())
	}

	user := readTestdata(t, "daemon-user-valid.json")
	b, _, err := DaemonJSON(user, DockerOptions{Runtimes: []string{Runsc, Kata}, DefaultRuntime: Kata})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	delete(m, "data-root") // given as a flag here, to stay in the temp dir
	b, _ = json.Marshal(m)
	got, err := start(b)
	if err != nil {
		t.Fatalf("dockerd on the merged daemon.json: %v\n%s", err, b)
	}
	rts, def, _ := strings.Cut(got, " ")
	for _, r := range []string{"crun", "kata", "runsc", "runc"} {
		if !slices.Contains(strings.Split(rts, ","), r) {
			t.Errorf("docker info runtimes %q lack %s", rts, r)
		}
	}
	if def != Kata {
		t.Errorf("default runtime %q, want kata", def)
	}
	t.Logf("%s: runtimes %s default %s", dockerd, rts, def)

	// Control: kata with both path and runtimeType stops dockerd.
	m["runtimes"].(map[string]any)["kata"] = map[string]any{"path": "/usr/bin/kata-runtime", "runtimeType": KataRuntimeType}
	b, _ = json.Marshal(m)
	if _, err := start(b); err == nil || !strings.Contains(err.Error(), "path and runtimeType") {
		t.Errorf("dockerd started with kata's path and runtimeType both set (%v)", err)
	}
}
