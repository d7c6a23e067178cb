package config

import (
	"bytes"
	"encoding/json"
	"reflect"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/satchel-dev/satchel/manifest"
)

func mustJSON(t *testing.T, b []byte) map[string]any {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	var m map[string]any
	if err := d.Decode(&m); err != nil {
		t.Fatalf("output is not a JSON object: %v\n%s", err, b)
	}
	return m
}

func TestDaemonJSONFresh(t *testing.T) {
	for _, existing := range [][]byte{nil, []byte("  \n")} {
		b, warns, err := DaemonJSON(existing, DockerOptions{Runtimes: []string{Runc, Runsc, Kata}, DefaultRuntime: Runsc})
		if err != nil {
			t.Fatal(err)
		}
		if len(warns) > 0 {
			t.Errorf("warnings: %q", warns)
		}
		want := map[string]any{
			"default-runtime": "runsc",
			"runtimes": map[string]any{
				"runsc": map[string]any{"path": "/usr/local/bin/runsc"},
				"kata":  map[string]any{"runtimeType": "io.containerd.kata.v2"},
			},
		}
		if got := mustJSON(t, b); !reflect.DeepEqual(got, want) {
			t.Errorf("daemon.json = %v, want %v", got, want)
		}
		if !bytes.Contains(b, []byte("\n    \"runtimes\": {\n        \"kata\"")) {
			t.Errorf("not indented with 4 spaces:\n%s", b)
		}
		if bytes.Contains(b, []byte(`"containerd"`)) {
			t.Error(`daemon.json names "containerd"; docker.service passes --containerd`)
		}
	}
}

func TestDaemonJSONMergeKeepsUserKeys(t *testing.T) {
	existing := readTestdata(t, "daemon-user.json")
	b, warns, err := DaemonJSON(existing, DockerOptions{Runtimes: []string{Runsc, Kata}})
	if err != nil {
		t.Fatal(err)
	}
	got, user := mustJSON(t, b), mustJSON(t, existing)
	for k, v := range user {
		if k == "runtimes" {
			continue
		}
		if !reflect.DeepEqual(got[k], v) {
			t.Errorf("%s = %v, want %v kept", k, got[k], v)
		}
	}
	// Numbers keep their exact text (a float64 round trip would not).
	for _, s := range []string{"10000000000000000001", "1.50"} {
		if !bytes.Contains(b, []byte(s)) {
			t.Errorf("number %s not kept exactly:\n%s", s, b)
		}
	}
	rts := got["runtimes"].(map[string]any)
	if !reflect.DeepEqual(rts["crun"], map[string]any{"path": "/usr/bin/crun"}) {
		t.Errorf("user runtime crun = %v", rts["crun"])
	}
	// runsc: path set, the user's runtimeArgs kept.
	if want := map[string]any{"path": "/usr/local/bin/runsc", "runtimeArgs": []any{"--platform=ptrace"}}; !reflect.DeepEqual(rts["runsc"], want) {
		t.Errorf("runsc = %v, want %v", rts["runsc"], want)
	}
	// kata: the path form fails with `Invalid command "create"`; it is replaced, and said so.
	if want := map[string]any{"runtimeType": KataRuntimeType}; !reflect.DeepEqual(rts["kata"], want) {
		t.Errorf("kata = %v, want %v", rts["kata"], want)
	}
	if !slices.ContainsFunc(warns, func(w string) bool { return strings.Contains(w, "runtimes.kata.path") }) {
		t.Errorf("no warning about the removed kata path: %q", warns)
	}
	if _, ok := got["default-runtime"]; ok {
		t.Error("default-runtime set without being asked")
	}

	again, _, err := DaemonJSON(b, DockerOptions{Runtimes: []string{Runsc, Kata}})
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("not idempotent (%v):\n%s", err, Diff("daemon.json", b, again))
	}
}

func TestDaemonJSONUnchanged(t *testing.T) {
	// A file that already says everything is returned byte for byte, with
	// its own formatting.
	existing := []byte(`{"runtimes":{"runsc":{"path":"/usr/local/bin/runsc"}},"debug":true}`)
	b, _, err := DaemonJSON(existing, DockerOptions{Runtimes: []string{Runsc}})
	if err != nil || !bytes.Equal(b, existing) {
		t.Errorf("got %s (%v), want the file unchanged", b, err)
	}
	// Nothing asked: nothing changes.
	b, _, err = DaemonJSON(existing, DockerOptions{})
	if err != nil || !bytes.Equal(b, existing) {
		t.Errorf("got %s (%v), want the file unchanged", b, err)
	}
}

func TestDaemonJSONContainerdKey(t *testing.T) {
	b, warns, err := DaemonJSON([]byte(`{"containerd": "/run/containerd/containerd.sock", "debug": true}`), DockerOptions{Runtimes: []string{Runsc}})
	if err != nil {
		t.Fatal(err)
	}
	got := mustJSON(t, b)
	if _, ok := got["containerd"]; ok {
		t.Error(`"containerd" kept: dockerd refuses it next to --containerd`)
	}
	if got["debug"] != true || len(warns) != 1 {
		t.Errorf("got %v, warnings %q", got, warns)
	}
	_, _, err = DaemonJSON([]byte(`{"containerd": "/run/other.sock"}`), DockerOptions{Runtimes: []string{Runsc}})
	if err == nil || manifest.Hint(err) == "" {
		t.Errorf("a different containerd socket: err = %v, want an error with a hint", err)
	}
}

func TestDaemonJSONErrors(t *testing.T) {
	for name, tc := range map[string]struct {
		existing string
		opts     DockerOptions
	}{
		"invalid JSON":        {`{"debug": true,}`, DockerOptions{Runtimes: []string{Runsc}}},
		"trailing data":       {`{} {}`, DockerOptions{Runtimes: []string{Runsc}}},
		"not an object":       {`["a"]`, DockerOptions{Runtimes: []string{Runsc}}},
		"runtimes not object": {`{"runtimes": []}`, DockerOptions{Runtimes: []string{Runsc}}},
		"runsc not object":    {`{"runtimes": {"runsc": "x"}}`, DockerOptions{Runtimes: []string{Runsc}}},
		"unknown runtime":     {``, DockerOptions{Runtimes: []string{"crun"}}},
		"default not there":   {``, DockerOptions{Runtimes: []string{Runsc}, DefaultRuntime: Kata}},
	} {
		b, _, err := DaemonJSON([]byte(tc.existing), tc.opts)
		if err == nil {
			t.Errorf("%s: no error; got %s", name, b)
		}
		if b != nil {
			t.Errorf("%s: bytes returned with an error", name)
		}
	}
	_, _, err := DaemonJSON([]byte(`{"debug": true,}`), DockerOptions{Runtimes: []string{Runsc}})
	if !strings.Contains(manifest.Hint(err), "json.tool") {
		t.Errorf("invalid JSON: hint %q", manifest.Hint(err))
	}
}

func TestCrictl(t *testing.T) {
	b, _, err := Crictl(nil, CrictlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"runtime-endpoint": "unix:///run/containerd/containerd.sock",
		"image-endpoint":   "unix:///run/containerd/containerd.sock",
		"timeout":          float64(10),
		"debug":            false,
	}
	if got := mustYAML(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("crictl.yaml = %v, want %v", got, want)
	}

	existing := readTestdata(t, "crictl-user.yaml")
	b, warns, err := Crictl(existing, CrictlOptions{})
	if err != nil {
		t.Fatal(err)
	}
	want = map[string]any{
		"runtime-endpoint":     "unix:///run/containerd/containerd.sock",
		"image-endpoint":       "unix:///run/containerd/containerd.sock",
		"timeout":              float64(30), // the user's
		"debug":                true,        // the user's
		"pull-image-on-create": true,
	}
	if got := mustYAML(t, b); !reflect.DeepEqual(got, want) {
		t.Errorf("merged crictl.yaml = %v, want %v", got, want)
	}
	// The user's endpoint was replaced: said in a warning (issue 7, #15).
	if len(warns) != 1 || !strings.Contains(warns[0], "runtime-endpoint was unix:///var/run/old.sock") {
		t.Errorf("warnings: %q", warns)
	}
	again, _, err := Crictl(b, CrictlOptions{})
	if err != nil || !bytes.Equal(again, b) {
		t.Errorf("not idempotent (%v):\n%s", err, Diff("crictl.yaml", b, again))
	}
	for _, bad := range []string{"a: [", "- a\n- b\n"} {
		if _, _, err := Crictl([]byte(bad), CrictlOptions{}); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if b, _, err := Crictl([]byte("# only a comment\n"), CrictlOptions{}); err != nil || mustYAML(t, b)["timeout"] != float64(10) {
		t.Errorf("comment-only file: %s, %v", b, err)
	}
}

func mustYAML(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := yaml.Unmarshal(b, &m); err != nil {
		t.Fatalf("output is not YAML: %v\n%s", err, b)
	}
	return m
}
