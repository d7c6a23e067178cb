package config

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/pelletier/go-toml/v2"

	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/manifest"
)

func readTestdata(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func mustTOML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := toml.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not TOML: %v\n%s", err, b)
	}
	return m
}

// at walks a decoded document; it fails the test when the path is missing.
func at(t *testing.T, doc map[string]any, path ...string) any {
	t.Helper()
	v, ok := getPath(doc, path...)
	if !ok {
		t.Fatalf("missing %s", dotted(path))
	}
	return v
}

func absent(t *testing.T, doc map[string]any, path ...string) {
	t.Helper()
	if v, ok := getPath(doc, path...); ok {
		t.Errorf("%s = %v, want absent", dotted(path), v)
	}
}

func file(t *testing.T, res Result, path rootfs.Path) []byte {
	t.Helper()
	f, ok := res.File(path)
	if !ok {
		var have []string
		for _, f := range res.Files {
			have = append(have, string(f.Path))
		}
		t.Fatalf("no %s in result; have %v", path, have)
	}
	if f.Mode != 0o644 {
		t.Errorf("%s: mode %o, want 644", path, f.Mode)
	}
	return f.Data
}

func fullOptions(version string) ContainerdOptions {
	return ContainerdOptions{
		Version:        version,
		Runtimes:       []string{Runc, Runsc, Kata},
		DefaultRuntime: Runsc,
		SystemdCgroup:  true,
		SandboxImage:   "registry.k8s.io/pause:3.10",
		RuncBinary:     "/usr/local/bin/runc",
		RegistryMirrors: []RegistryMirror{
			{Registry: "docker.io", Endpoint: "harbor.internal/dockerhub"},
			{Registry: "registry.k8s.io", Endpoint: "http://10.0.0.5:5000"},
		},
	}
}

func TestSchema(t *testing.T) {
	for v, want := range map[string]int{
		"1.3.0": 2, "1.6.20": 2, "v1.7.27": 2, "1.6.20~ds1": 2,
		"2.0.4": 3, "v2.1.0": 3, "2.2.9": 3, "2.3.0": 4, "2.4.2": 4,
	} {
		got, err := Schema(v)
		if err != nil || got != want {
			t.Errorf("Schema(%q) = %d, %v; want %d", v, got, err, want)
		}
	}
	for _, v := range []string{"1.2.13", "3.0.0", "0.2", "latest", ""} {
		if _, err := Schema(v); err == nil {
			t.Errorf("Schema(%q): no error", v)
		}
	}
}

// checkRuntimes asserts satchel's settings in doc laid out for schema.
func checkRuntimes(t *testing.T, doc map[string]any, schema int, o ContainerdOptions) {
	t.Helper()
	l := layoutFor(schema)
	rt := func(name string, p ...string) []string {
		return l.at(l.runtime, append([]string{"containerd", "runtimes", name}, p...)...)
	}
	if got := at(t, doc, rt(Runc, "runtime_type")...); got != RuncRuntimeType {
		t.Errorf("runc runtime_type = %v", got)
	}
	if got := at(t, doc, rt(Runc, "options", "SystemdCgroup")...); got != o.SystemdCgroup {
		t.Errorf("runc SystemdCgroup = %v, want %v", got, o.SystemdCgroup)
	}
	if !RunscShimSupported(o.Version) {
		// containerd 1.6: runsc as a runc-compatible binary under the runc shim.
		if got := at(t, doc, rt(Runsc, "runtime_type")...); got != RuncRuntimeType {
			t.Errorf("runsc runtime_type = %v, want %s for containerd %s", got, RuncRuntimeType, o.Version)
		}
		if got := at(t, doc, rt(Runsc, "options", "BinaryName")...); got != BinDir+"/runsc" {
			t.Errorf("runsc BinaryName = %v", got)
		}
	} else {
		if got := at(t, doc, rt(Runsc, "runtime_type")...); got != RunscRuntimeType {
			t.Errorf("runsc runtime_type = %v", got)
		}
		if got := at(t, doc, rt(Runsc, "options", "TypeUrl")...); got != RunscOptionsType {
			t.Errorf("runsc TypeUrl = %v", got)
		}
		if got := at(t, doc, rt(Runsc, "options", "ConfigPath")...); got != string(RunscConfigPath) {
			t.Errorf("runsc ConfigPath = %v", got)
		}
	}
	if got := at(t, doc, rt(Kata, "runtime_type")...); got != KataRuntimeType {
		t.Errorf("kata runtime_type = %v", got)
	}
	if got := at(t, doc, rt(Kata, "options", "ConfigPath")...); got != string(KataConfigPath) {
		t.Errorf("kata ConfigPath = %v", got)
	}
	if got := at(t, doc, l.at(l.runtime, "containerd", "default_runtime_name")...); got != o.DefaultRuntime {
		t.Errorf("default_runtime_name = %v, want %v", got, o.DefaultRuntime)
	}
	if got := at(t, doc, l.at(l.images, l.sandbox...)...); got != o.SandboxImage {
		t.Errorf("sandbox image = %v, want %v", got, o.SandboxImage)
	}
}

func TestContainerdFresh(t *testing.T) {
	for _, tc := range []struct {
		version string
		schema  int
	}{{"1.6.20", 2}, {"1.7.27", 2}, {"2.0.4", 3}, {"2.2.0", 3}, {"2.3.0", 4}, {"v2.4.2", 4}} {
		t.Run(tc.version, func(t *testing.T) {
			o := fullOptions(tc.version)
			res, err := Containerd(o, nil)
			if err != nil {
				t.Fatal(err)
			}
			if len(res.Warnings) > 0 && RunscShimSupported(tc.version) {
				t.Errorf("warnings for a fresh install: %q", res.Warnings)
			}
			main := mustTOML(t, file(t, res, ContainerdConfigPath))
			settings := main
			if tc.schema == 2 {
				if _, ok := res.File(ContainerdDropInPath); ok {
					t.Error("containerd 1.x got a drop-in: its imports replace whole plugin sections")
				}
				if got := at(t, main, "version"); got != int64(2) {
					t.Errorf("version = %v, want 2", got)
				}
				absent(t, main, "imports")
				absent(t, main, "plugins", "io.containerd.cri.v1.runtime")
			} else {
				if got := at(t, main, "version"); got != int64(tc.schema) {
					t.Errorf("config.toml version = %v, want %d", got, tc.schema)
				}
				if got := at(t, main, "imports"); !reflect.DeepEqual(got, []any{string(ContainerdDropInPath)}) {
					t.Errorf("imports = %v", got)
				}
				absent(t, main, "plugins") // everything of ours is in the drop-in
				settings = mustTOML(t, file(t, res, ContainerdDropInPath))
				if got := at(t, settings, "version"); got != int64(tc.schema) {
					t.Errorf("drop-in version = %v, want %d", got, tc.schema)
				}
				absent(t, settings, "plugins", "io.containerd.grpc.v1.cri")
			}
			checkRuntimes(t, settings, tc.schema, o)
			l := layoutFor(tc.schema)
			if got := at(t, settings, l.at(l.images, "registry", "config_path")...); got != string(RegistryConfigPath) {
				t.Errorf("config_path = %v", got)
			}
			if got := at(t, settings, l.at(l.runtime, "containerd", "runtimes", Runc, "options", "BinaryName")...); got != "/usr/local/bin/runc" {
				t.Errorf("runc BinaryName = %v", got)
			}
			if got := at(t, settings, l.at(l.runtime, "containerd", "runtimes", Kata, "privileged_without_host_devices")...); got != true {
				t.Errorf("kata privileged_without_host_devices = %v", got)
			}
			absent(t, settings, l.at(l.runtime, "restrict_oom_score_adj")...)

			if RunscShimSupported(tc.version) { // else no gVisor shim, no runsc.toml (TestRunscShimSupported)
				runsc := mustTOML(t, file(t, res, RunscConfigPath))
				if got := at(t, runsc, "runsc_config", "platform"); got != "systrap" {
					t.Errorf("runsc platform = %v", got)
				}
			}
			hub := mustTOML(t, file(t, res, "/etc/containerd/certs.d/docker.io/hosts.toml"))
			if got := at(t, hub, "server"); got != "https://registry-1.docker.io" {
				t.Errorf("docker.io server = %v", got)
			}
			at(t, hub, "host", "https://harbor.internal/v2/dockerhub", "override_path")
			k8s := mustTOML(t, file(t, res, "/etc/containerd/certs.d/registry.k8s.io/hosts.toml"))
			if got := at(t, k8s, "host", "http://10.0.0.5:5000", "capabilities"); !reflect.DeepEqual(got, []any{"pull", "resolve"}) {
				t.Errorf("capabilities = %v", got)
			}
		})
	}
}

func TestContainerdOnlyInstalledRuntimes(t *testing.T) {
	for _, v := range []string{"1.6.20", "2.0.4"} {
		res, err := Containerd(ContainerdOptions{Version: v, Runtimes: []string{Runc}}, nil)
		if err != nil {
			t.Fatal(err)
		}
		if _, ok := res.File(RunscConfigPath); ok {
			t.Errorf("%s: runsc.toml written without runsc", v)
		}
		settings := mustTOML(t, res.Files[len(res.Files)-1].Data)
		l := layoutFor(2)
		if v != "1.6.20" {
			l = layoutFor(3)
		}
		runtimes := at(t, settings, l.at(l.runtime, "containerd", "runtimes")...).(map[string]any)
		if len(runtimes) != 1 || runtimes[Runc] == nil {
			t.Errorf("%s: runtimes = %v, want only runc", v, runtimes)
		}
		absent(t, settings, l.at(l.runtime, "containerd", "default_runtime_name")...)
		absent(t, settings, l.at(l.images, l.sandbox...)...)
		if got := at(t, settings, l.at(l.runtime, "containerd", "runtimes", Runc, "options", "SystemdCgroup")...); got != false {
			t.Errorf("SystemdCgroup = %v, want false", got)
		}
	}
}

func TestContainerd1xMergeKeepsUserKeys(t *testing.T) {
	existing := readTestdata(t, "containerd-user-v2.toml")
	o := fullOptions("1.6.20")
	res, err := Containerd(o, existing)
	if err != nil {
		t.Fatal(err)
	}
	got := mustTOML(t, file(t, res, ContainerdConfigPath))
	checkRuntimes(t, got, 2, o)

	// Every user key is still there with its value, except the ones satchel owns.
	user := mustTOML(t, existing)
	cri := []string{"plugins", "io.containerd.grpc.v1.cri"}
	owned := [][]string{
		append(slices.Clone(cri), "containerd", "default_runtime_name"),
		append(slices.Clone(cri), "registry", "config_path"),
		append(slices.Clone(cri), "containerd", "runtimes", "runc", "options", "BinaryName"),
	}
	var walk func(prefix []string, m map[string]any)
	walk = func(prefix []string, m map[string]any) {
		for k, v := range m {
			p := append(slices.Clone(prefix), k)
			if sub, ok := v.(map[string]any); ok {
				walk(p, sub)
				continue
			}
			if slices.ContainsFunc(owned, func(o []string) bool { return slices.Equal(o, p) }) {
				continue
			}
			if g, ok := getPath(got, p...); !ok || !reflect.DeepEqual(g, v) {
				t.Errorf("user key %s = %v, want %v kept", dotted(p), g, v)
			}
		}
	}
	walk(nil, user)
	// The CRI section is merged key by key, not replaced.
	if v := at(t, got, append(slices.Clone(cri), "containerd", "runtimes", "crun", "options", "BinaryName")...); v != "/usr/bin/crun" {
		t.Errorf("user runtime crun lost: %v", v)
	}
	if v := at(t, got, append(slices.Clone(cri), "containerd", "runtimes", "runc", "options", "NoNewKeyring")...); v != true {
		t.Errorf("runc option NoNewKeyring lost: %v", v)
	}
	// The user's registry directory is kept, after ours.
	if v := at(t, got, append(slices.Clone(cri), "registry", "config_path")...); v != string(RegistryConfigPath)+":/etc/docker/certs.d" {
		t.Errorf("config_path = %v", v)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "comments") }) {
		t.Errorf("no warning about dropped comments: %q", res.Warnings)
	}
}

func TestContainerd2xKeepsUserFile(t *testing.T) {
	existing := readTestdata(t, "containerd-user-v3.toml")
	o := fullOptions("2.0.4")
	res, err := Containerd(o, existing)
	if err != nil {
		t.Fatal(err)
	}
	got := mustTOML(t, file(t, res, ContainerdConfigPath))
	user := mustTOML(t, existing)
	if imports := got["imports"]; !reflect.DeepEqual(imports, []any{string(ContainerdDropInPath)}) {
		t.Errorf("imports = %v", imports)
	}
	delete(got, "imports")
	if !reflect.DeepEqual(got, user) {
		t.Errorf("config.toml changed beyond imports:\n%s", file(t, res, ContainerdConfigPath))
	}
	drop := mustTOML(t, file(t, res, ContainerdDropInPath))
	checkRuntimes(t, drop, 3, o)
	// The drop-in's config_path replaces the root's in containerd's merge, so
	// it must carry the user's directory too.
	if v := at(t, drop, "plugins", "io.containerd.cri.v1.images", "registry", "config_path"); v != string(RegistryConfigPath)+":/etc/docker/certs.d" {
		t.Errorf("config_path = %v", v)
	}
}

func TestContainerdVersionMismatch(t *testing.T) {
	for _, tc := range []struct {
		name, version, existing string
		wantErr                 string // "" = success
		dropVersion             int64
		warn                    string
	}{
		{name: "v3 file, containerd 2.3", version: "2.3.0", existing: "version = 3\n", dropVersion: 3, warn: "uses config version 3"},
		{name: "v2 file, containerd 2.0", version: "2.0.4", existing: "version = 2\nroot = \"/data\"\n", dropVersion: 2, warn: "uses config version 2"},
		{name: "v4 file, containerd 2.4", version: "2.4.2", existing: "version = 4\n", dropVersion: 4},
		{name: "v4 file, containerd 2.0", version: "2.0.4", existing: "version = 4\n", wantErr: "reads at most version 3"},
		{name: "v3 file, containerd 1.7", version: "1.7.27", existing: "version = 3\n", wantErr: "reads at most version 2"},
		{name: "v1 file with plugins", version: "2.0.4", existing: "[plugins.cri]\nsandbox_image = \"x\"\n", wantErr: "config version 1"},
		{name: "version = 1", version: "1.6.20", existing: "version = 1\n", wantErr: "config version 1"},
		{name: "no version, no plugins", version: "2.4.2", existing: "root = \"/data\"\n", dropVersion: 2, warn: "no version key"},
		{name: "version not a number", version: "1.6.20", existing: "version = \"2\"\n", wantErr: "not an integer"},
		{name: "invalid TOML", version: "2.0.4", existing: "[plugins\n", wantErr: "parsing /etc/containerd/config.toml"},
		{name: "plugins not a table", version: "1.6.20", existing: "version = 2\nplugins = \"x\"\n", wantErr: "not a table"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := Containerd(fullOptions(tc.version), []byte(tc.existing))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				if manifest.Hint(err) == "" {
					t.Errorf("error has no hint: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tc.warn != "" && !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, tc.warn) }) {
				t.Errorf("warnings %q, want one containing %q", res.Warnings, tc.warn)
			}
			if tc.warn == "" && len(res.Warnings) > 0 {
				t.Errorf("unexpected warnings %q", res.Warnings)
			}
			if _, ok := res.File(ContainerdDropInPath); !ok && tc.dropVersion > 0 {
				if tc.version[0] == '1' {
					return
				}
				t.Fatal("no drop-in")
			}
			drop := mustTOML(t, file(t, res, ContainerdDropInPath))
			if got := drop["version"]; got != tc.dropVersion {
				t.Errorf("drop-in version = %v, want %d (containerd refuses a drop-in newer than config.toml)", got, tc.dropVersion)
			}
			main := mustTOML(t, file(t, res, ContainerdConfigPath))
			if got := main["version"]; got.(int64) < tc.dropVersion {
				t.Errorf("config.toml version %v below the drop-in's %d", got, tc.dropVersion)
			}
			checkRuntimes(t, drop, int(tc.dropVersion), fullOptions(tc.version))
		})
	}
}

func TestContainerd1xImportsWarning(t *testing.T) {
	res, err := Containerd(fullOptions("1.7.27"), []byte("version = 2\nimports = [\"/etc/containerd/site.toml\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "replaces config.toml's whole section") }) {
		t.Errorf("no warning about 1.x imports replacing sections: %q", res.Warnings)
	}
	if got := mustTOML(t, file(t, res, ContainerdConfigPath))["imports"]; !reflect.DeepEqual(got, []any{"/etc/containerd/site.toml"}) {
		t.Errorf("imports = %v, want the user's kept and nothing added", got)
	}
}

func TestContainerdImportsGlob(t *testing.T) {
	for _, imp := range []string{`"/etc/containerd/conf.d/*.toml"`, `"conf.d/*.toml"`, `"/etc/containerd/conf.d/satchel.toml"`} {
		existing := []byte("version = 3\nimports = [" + imp + "]\n")
		res, err := Containerd(fullOptions("2.0.4"), existing)
		if err != nil {
			t.Fatal(err)
		}
		if got := file(t, res, ContainerdConfigPath); !bytes.Equal(got, existing) {
			t.Errorf("imports %s already covers the drop-in, but config.toml changed to\n%s", imp, got)
		}
	}
	res, err := Containerd(fullOptions("2.0.4"), []byte("version = 3\nimports = [\"/etc/site/*.toml\"]\n"))
	if err != nil {
		t.Fatal(err)
	}
	if got := mustTOML(t, file(t, res, ContainerdConfigPath))["imports"]; !reflect.DeepEqual(got, []any{"/etc/site/*.toml", string(ContainerdDropInPath)}) {
		t.Errorf("imports = %v, want the user's entry kept and ours appended", got)
	}
}

func TestContainerdLegacyRegistry(t *testing.T) {
	for _, tc := range []struct{ version, existing string }{
		{"1.6.20", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m\"]\n"},
		{"1.6.20", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.configs.\"r.example\".tls]\ninsecure_skip_verify = true\n"},
		{"2.0.4", "version = 3\n[plugins.'io.containerd.cri.v1.images'.registry.mirrors.'docker.io']\nendpoint = [\"https://m\"]\n"},
		{"2.4.2", "version = 2\n[plugins.\"io.containerd.grpc.v1.cri\".registry.mirrors.\"docker.io\"]\nendpoint = [\"https://m\"]\n"},
	} {
		res, err := Containerd(fullOptions(tc.version), []byte(tc.existing))
		if err != nil {
			t.Fatal(err)
		}
		settings := mustTOML(t, res.Files[0].Data)
		if f, ok := res.File(ContainerdDropInPath); ok {
			settings = mustTOML(t, f.Data)
		}
		for _, l := range []layout{layoutFor(2), layoutFor(3)} {
			absent(t, settings, l.at(l.images, "registry", "config_path")...)
		}
		if !slices.ContainsFunc(res.Warnings, func(w string) bool { return strings.Contains(w, "config_path") }) {
			t.Errorf("%s: no warning about the legacy registry settings: %q", tc.version, res.Warnings)
		}
		checkRuntimes(t, settings, int(settings["version"].(int64)), fullOptions(tc.version))
	}
}

func TestContainerdOptionsErrors(t *testing.T) {
	for _, o := range []ContainerdOptions{
		{Version: "2.0.4", Runtimes: []string{"crun"}},
		{Version: "2.0.4", Runtimes: []string{Runc}, DefaultRuntime: Kata},
		{Version: "x"},
		{Version: "2.0.4", RegistryMirrors: []RegistryMirror{{Registry: "docker.io", Endpoint: "ftp://m"}}},
	} {
		if _, err := Containerd(o, nil); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestContainerdIdempotent(t *testing.T) {
	for _, v := range []string{"1.6.20", "2.0.4", "2.4.2"} {
		for _, start := range []string{"", "containerd-user-v2.toml", "containerd-user-v3.toml"} {
			if start == "containerd-user-v3.toml" && v == "1.6.20" {
				continue
			}
			var existing []byte
			if start != "" {
				existing = readTestdata(t, start)
			}
			o := fullOptions(v)
			o.RestrictOOMScoreAdj = true
			first, err := Containerd(o, existing)
			if err != nil {
				t.Fatal(err)
			}
			written := map[rootfs.Path][]byte{}
			for _, f := range first.Files {
				written[f.Path] = f.Data
			}
			o.ReadFile = func(p string) ([]byte, error) {
				if b, ok := written[rootfs.Path(p)]; ok {
					return b, nil
				}
				return nil, os.ErrNotExist
			}
			second, err := Containerd(o, written[ContainerdConfigPath])
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range second.Files {
				if !bytes.Equal(f.Data, written[f.Path]) {
					t.Errorf("%s from %q: second render of %s differs:\n%s", v, start, f.Path, Diff(string(f.Path), written[f.Path], f.Data))
				}
			}
			if len(second.Files) != len(first.Files) {
				t.Errorf("%s: %d files, then %d", v, len(first.Files), len(second.Files))
			}
			for _, w := range second.Warnings {
				if strings.Contains(w, "comments") {
					t.Errorf("%s from %q: second render re-encoded config.toml: %s", v, start, w)
				}
			}
		}
	}
}

func TestRunscTOML(t *testing.T) {
	o := fullOptions("2.0.4")
	o.RunscBinary = "/usr/local/bin/runsc"
	o.RunscFlags = map[string]string{"network": "host", "platform": "ptrace"}
	o.RunscConfigPath = "/etc/gvisor/runsc.toml"
	res, err := Containerd(o, nil)
	if err != nil {
		t.Fatal(err)
	}
	doc := mustTOML(t, file(t, res, "/etc/gvisor/runsc.toml"))
	want := map[string]any{
		"binary_name":  "/usr/local/bin/runsc",
		"runsc_config": map[string]any{"network": "host", "platform": "ptrace"},
	}
	if !reflect.DeepEqual(doc, want) {
		t.Errorf("runsc.toml = %v, want %v", doc, want)
	}
	drop := mustTOML(t, file(t, res, ContainerdDropInPath))
	if got := at(t, drop, "plugins", "io.containerd.cri.v1.runtime", "containerd", "runtimes", "runsc", "options", "ConfigPath"); got != "/etc/gvisor/runsc.toml" {
		t.Errorf("ConfigPath = %v", got)
	}
}

func TestRunscShimSupported(t *testing.T) {
	for v, want := range map[string]bool{"1.6.20": false, "1.6.20~ds1": false, "v1.6.36": false, "1.7.0": true, "1.7.27": true, "2.0.4": true, "2.4.2": true} {
		if got := RunscShimSupported(v); got != want {
			t.Errorf("RunscShimSupported(%q) = %v, want %v", v, got, want)
		}
	}
	res, err := Containerd(ContainerdOptions{Version: "1.6.20", Runtimes: []string{Runc, Runsc}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := res.File(RunscConfigPath); ok {
		t.Error("runsc.toml written for containerd 1.6, which does not use the gVisor shim")
	}
	if len(res.Warnings) == 0 || !strings.Contains(strings.Join(res.Warnings, "\n"), "runc-compatible") {
		t.Errorf("no warning about runsc under the runc shim: %v", res.Warnings)
	}
}
