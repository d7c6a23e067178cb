package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func jsonOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	return m
}

// TestEditsRoundTrip: what satchel merges into a file is taken back out,
// and what people had or added stays.
func TestEditsRoundTrip(t *testing.T) {
	user := []byte(`{"log-level": "warn", "runtimes": {"custom": {"path": "/opt/custom"}}}`)
	ours, _, err := DaemonJSON(user, DockerOptions{Runtimes: []string{Runsc, Kata}, DefaultRuntime: Runsc})
	if err != nil {
		t.Fatal(err)
	}
	edits, _, err := TrackEdits("/etc/docker/daemon.json", nil, user, ours, false)
	if err != nil || len(edits) != 3 {
		t.Fatalf("edits %v, %v", edits, err)
	}
	// Someone adds a setting after the install.
	doc := jsonOf(t, ours)
	doc["insecure-registries"] = []any{"harbor.internal"}
	now, _ := json.Marshal(doc)
	out, empty, changed, err := Revert("/etc/docker/daemon.json", now, edits)
	if err != nil || empty || !changed {
		t.Fatalf("revert: %v %v %v", err, empty, changed)
	}
	got := jsonOf(t, out)
	if got["log-level"] != "warn" || got["insecure-registries"] == nil || got["default-runtime"] != nil {
		t.Errorf("reverted: %s", out)
	}
	rts := got["runtimes"].(map[string]any)
	if _, ok := rts["custom"]; !ok || len(rts) != 1 {
		t.Errorf("runtimes after revert: %v", rts)
	}
}

// TestEditsAcrossUpgrade: an earlier edit satchel still owns keeps its
// original value; one people changed is theirs from then on.
func TestEditsAcrossUpgrade(t *testing.T) {
	p := "/etc/crictl.yaml"
	orig := []byte("timeout: 5\nruntime-endpoint: unix:///old.sock\n")
	v1, _, _ := Crictl(orig, CrictlOptions{})
	e1, _, err := TrackEdits(p, nil, orig, v1, false)
	if err != nil {
		t.Fatal(err)
	}
	// The user changes the endpoint back and adds debug: true.
	edited := []byte(strings.Replace(string(v1), "unix:///run/containerd/containerd.sock\nruntime", "unix:///run/containerd/containerd.sock\nruntime", 1))
	edited = []byte(strings.Replace(string(edited), "image-endpoint: unix:///run/containerd/containerd.sock", "image-endpoint: unix:///mine.sock", 1))
	v2, _, _ := Crictl(edited, CrictlOptions{})
	e2, userEdited, err := TrackEdits(p, e1, edited, v2, true)
	if err != nil || !userEdited {
		t.Fatal(err, userEdited)
	}
	// satchel set image-endpoint again: its Before is the pre-satchel value
	// (absent), not the user's interim one; runtime-endpoint keeps old.sock.
	for _, e := range e2 {
		switch e.Key[0] {
		case "runtime-endpoint":
			if string(e.Before) != `"unix:///old.sock"` {
				t.Errorf("runtime-endpoint before %s", e.Before)
			}
		case "image-endpoint":
			if string(e.Before) != `"unix:///mine.sock"` {
				t.Errorf("image-endpoint before %s: the user's value was theirs", e.Before)
			}
		}
	}
	out, _, _, err := Revert(p, v2, e2)
	if err != nil {
		t.Fatal(err)
	}
	s := string(out)
	if !strings.Contains(s, "unix:///old.sock") || !strings.Contains(s, "unix:///mine.sock") || !strings.Contains(s, "timeout: 5") {
		t.Errorf("after revert:\n%s", s)
	}
}

// TestEditsTOML covers a containerd 1.x config merged in place.
func TestEditsTOML(t *testing.T) {
	p := "/etc/containerd/config.toml"
	user := []byte("version = 2\nroot = \"/data/containerd\"\n\n[plugins.\"io.containerd.grpc.v1.cri\"]\n  max_container_log_line_size = 32768\n")
	res, err := Containerd(fullOptions("1.7.27"), user)
	if err != nil {
		t.Fatal(err)
	}
	f, _ := res.File(ContainerdConfigPath)
	edits, _, err := TrackEdits(p, nil, user, f.Data, false)
	if err != nil || len(edits) == 0 {
		t.Fatalf("%v %v", edits, err)
	}
	out, _, changed, err := Revert(p, f.Data, edits)
	if err != nil || !changed {
		t.Fatal(err)
	}
	back, _ := tree(formatTOML, out)
	want, _ := tree(formatTOML, user)
	if string(raw(back)) != string(raw(want)) {
		t.Errorf("reverted TOML differs:\n%s\nwant:\n%s", raw(back), raw(want))
	}
	// A file satchel created and nobody touched reverts to nothing.
	res2, _ := Containerd(fullOptions("1.7.27"), nil)
	f2, _ := res2.File(ContainerdConfigPath)
	e2, _, _ := TrackEdits(p, nil, nil, f2.Data, false)
	if _, empty, _, err := Revert(p, f2.Data, e2); err != nil || !empty {
		t.Errorf("created file: empty=%v %v", empty, err)
	}
}
