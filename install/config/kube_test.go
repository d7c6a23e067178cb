package config

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/satchel-dev/satchel/internal/testenv"
)

func TestRuntimeClasses(t *testing.T) {
	b, err := RuntimeClasses([]string{Runc, Kata, Runsc})
	if err != nil {
		t.Fatal(err)
	}
	var classes []string
	for _, doc := range bytes.Split(b, []byte("\n---\n")) {
		var m map[string]any
		if err := yaml.Unmarshal(doc, &m); err != nil {
			t.Fatalf("not YAML: %v\n%s", err, doc)
		}
		if m == nil {
			continue // the comment header
		}
		if m["apiVersion"] != "node.k8s.io/v1" || m["kind"] != "RuntimeClass" {
			t.Errorf("apiVersion/kind = %v/%v", m["apiVersion"], m["kind"])
		}
		h := m["handler"].(string)
		name := m["metadata"].(map[string]any)["name"].(string)
		classes = append(classes, name+"="+h)
		// A kata pod runs a VM: its fixed overhead is declared so the
		// scheduler counts it (kata-deploy's kata-qemu.yaml).
		_, hasOverhead := m["overhead"]
		if hasOverhead != (h == Kata) {
			t.Errorf("%s: overhead %v", name, m["overhead"])
		}
		if _, ok := m["scheduling"]; ok {
			t.Errorf("scheduling set")
		}
	}
	// gVisor's docs call its class "gvisor": both names reach handler runsc.
	if strings.Join(classes, ",") != "runsc=runsc,gvisor=runsc,kata=kata" {
		t.Errorf("classes %v", classes)
	}
	if got := RuntimeClassNames([]string{Runc, Kata, Runsc}); strings.Join(got, ",") != "runsc,gvisor,kata" {
		t.Errorf("names %v", got)
	}

	b, err = RuntimeClasses([]string{Runc, Runsc})
	if err != nil || bytes.Count(b, []byte("kind: RuntimeClass")) != 2 || bytes.Contains(b, []byte("handler: kata")) {
		t.Errorf("runsc only: %s (%v)", b, err)
	}
	if b, err := RuntimeClasses([]string{Runc}); b != nil || err != nil {
		t.Errorf("runc only: %q, %v; want nothing", b, err)
	}
	if _, err := RuntimeClasses([]string{"crun"}); err == nil {
		t.Error("unknown runtime accepted")
	}
}

func TestProfileScript(t *testing.T) {
	b, err := ProfileScript()
	if err != nil {
		t.Fatal(err)
	}
	sh := testenv.RequireBinary(t, "sh") // to run the profile script
	p := filepath.Join(t.TempDir(), "satchel.sh")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for start, want := range map[string]string{
		"/usr/bin:/bin":                "/usr/local/bin:/usr/bin:/bin",
		"/usr/local/bin:/usr/bin:/bin": "/usr/local/bin:/usr/bin:/bin",
		"/usr/bin:/usr/local/bin":      "/usr/bin:/usr/local/bin",
		"":                             "/usr/local/bin",
	} {
		// Sourced twice, as nested login shells do: no duplicate entry.
		cmd := exec.Command(sh, "-c", `. "$1"; . "$1"; printf %s "$PATH"`, "sh", p)
		cmd.Env = []string{"PATH=" + start}
		if start == "" {
			cmd.Env = []string{} // no PATH at all
		}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("sh: %v", err)
		}
		if start == "" {
			// sh without PATH uses a built-in default; only check ours is present once.
			if strings.Count(":"+string(out)+":", ":/usr/local/bin:") != 1 {
				t.Errorf("no PATH: got %q", out)
			}
			continue
		}
		if string(out) != want {
			t.Errorf("PATH=%q: got %q, want %q", start, out, want)
		}
	}
	if _, err := ProfileScript("relative/bin"); err == nil {
		t.Error("relative dir accepted")
	}
	if _, err := ProfileScript("/opt/x:/y"); err == nil {
		t.Error("dir with ':' accepted")
	}
}

func TestDiff(t *testing.T) {
	if d := Diff("/etc/x", []byte("a\n"), []byte("a\n")); d != "" {
		t.Errorf("equal files: %q", d)
	}
	got := Diff("/etc/x", []byte("1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n"), []byte("1\n2\n3\n4\nFIVE\n6\n7\n8\n9\n10\n11\n"))
	want := "--- a/etc/x\n+++ b/etc/x\n@@ -2,9 +2,10 @@\n 2\n 3\n 4\n-5\n+FIVE\n 6\n 7\n 8\n 9\n 10\n+11\n"
	if got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	got = Diff("/etc/new", nil, []byte("x\ny"))
	want = "--- /dev/null\n+++ b/etc/new\n@@ -0,0 +1,2 @@\n+x\n+y\n\\ No newline at end of file\n"
	if got != want {
		t.Errorf("new file: got\n%s\nwant\n%s", got, want)
	}
	// Two changes far apart make two hunks.
	var a, b strings.Builder
	for i := range 30 {
		line := string(rune('a'+i%26)) + "\n"
		a.WriteString(line)
		if i == 2 || i == 25 {
			line = "X\n"
		}
		b.WriteString(line)
	}
	if n := strings.Count(Diff("f", []byte(a.String()), []byte(b.String())), "@@ -"); n != 2 {
		t.Errorf("%d hunks, want 2", n)
	}
}
