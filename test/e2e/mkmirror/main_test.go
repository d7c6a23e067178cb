package main

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// capture runs fn with stdout redirected and returns what it printed.
func capture(t *testing.T, fn func() error) string {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	old := os.Stdout
	os.Stdout = w
	ferr := fn()
	os.Stdout = old
	w.Close()
	b, _ := io.ReadAll(r)
	if ferr != nil {
		t.Fatal(ferr)
	}
	return string(b)
}

func TestTOMLSetKeepsTheRest(t *testing.T) {
	dir := t.TempDir()
	in, out := filepath.Join(dir, "in.toml"), filepath.Join(dir, "out.toml")
	os.WriteFile(in, []byte(`version = 2
[plugins."io.containerd.grpc.v1.cri"]
  max_container_log_line_size = 8192
  [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runsc]
    runtime_type = "io.containerd.runsc.v1"
`), 0o644)
	if err := tomlSet([]string{in, out, "true", "plugins", "io.containerd.grpc.v1.cri", "restrict_oom_score_adj"}); err != nil {
		t.Fatal(err)
	}
	for keys, want := range map[string]string{
		"plugins io.containerd.grpc.v1.cri restrict_oom_score_adj":                 "true",
		"plugins io.containerd.grpc.v1.cri max_container_log_line_size":            "8192",
		"plugins io.containerd.grpc.v1.cri containerd runtimes runsc runtime_type": `"io.containerd.runsc.v1"`,
		"version": "2",
	} {
		got := capture(t, func() error { return tomlGet(append([]string{out}, strings.Fields(keys)...)) })
		if strings.TrimSpace(got) != want {
			t.Errorf("%s = %q, want %s", keys, got, want)
		}
	}
	if err := tomlSet([]string{in, out, "1", "version", "x"}); err == nil {
		t.Error("setting a key under a non-table succeeded")
	}
}

func TestChecksFlattensDoctorAndPreflight(t *testing.T) {
	f := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(f, []byte(`{"checks":[{"name":"run kata: uname -r","result":"fail","detail":"no\tKVM","remedy":"enable it"}],
"findings":[{"id":"kvm-missing","severity":"error","component":"kata","message":"m"}]}`), 0o644)
	got := capture(t, func() error { return checks([]string{f}) })
	want := "run kata: uname -r\tfail\tno KVM\tenable it\nkvm-missing(kata)\terror\tm\t\n"
	if got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestCacheKeyFollowsInputs(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "runc")
	os.WriteFile(p, []byte("one"), 0o755)
	k1, err := cacheKey("", []byte("spec"), fileFlags{"runc": p})
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p, []byte("three"), 0o755)
	k2, _ := cacheKey("", []byte("spec"), fileFlags{"runc": p})
	k3, _ := cacheKey("", []byte("spec2"), fileFlags{"runc": p})
	k4, _ := cacheKey("salt", []byte("spec2"), fileFlags{"runc": p})
	if k1 == k2 || k2 == k3 || k3 == k4 {
		t.Errorf("keys do not follow their inputs: %s %s %s %s", k1, k2, k3, k4)
	}
}
