package bundler

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/satchel-dev/satchel/component"
	"github.com/satchel-dev/satchel/internal/testenv"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
)

// otherPlatform is a platform of the catalog that is not the builder's.
func otherPlatform() string {
	if BuilderPlatform() == "linux/arm64" {
		return "linux/amd64"
	}
	return "linux/arm64"
}

// toolComponent stores one tool program per platform as the file the
// catalog's completion rule for component names, and returns the component
// as unpacking would have left it.
func toolComponent(t *testing.T, store *pack.BlobStore, blobs map[manifest.Digest]manifest.Blob, name string, programs map[string]string) *manifest.Component {
	t.Helper()
	cs := component.CompletionsOf(name)
	if len(cs) != 1 {
		t.Fatalf("%s: %d completion rules", name, len(cs))
	}
	comp := &manifest.Component{Name: name, Version: "1.0.0"}
	for _, pl := range []string{"linux/amd64", "linux/arm64"} {
		prog, ok := programs[pl]
		if !ok {
			continue
		}
		d, size, blob, err := store.PutFile(strings.NewReader(prog))
		if err != nil {
			t.Fatal(err)
		}
		blobs[blob.Digest] = blob
		comp.Artifacts = append(comp.Artifacts, manifest.Artifact{Platform: pl, URL: "https://example.invalid/" + pl,
			Files: []manifest.File{{Path: cs[0].Tool, Mode: 0o755, Digest: d, Size: size, Blob: blob.Digest}}})
	}
	return comp
}

func newStore(t *testing.T) *pack.BlobStore {
	t.Helper()
	s, err := pack.NewBlobStore(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func completionFile(t *testing.T, a manifest.Artifact, path string) (manifest.File, bool) {
	t.Helper()
	i := slices.IndexFunc(a.Files, func(f manifest.File) bool { return f.Path == path })
	if i < 0 {
		return manifest.File{}, false
	}
	return a.Files[i], true
}

func readStored(t *testing.T, store *pack.BlobStore, f manifest.File) string {
	t.Helper()
	rc, err := store.OpenFile(f)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestCompletionFromBuilderPlatformOnEveryArtifact(t *testing.T) {
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	// Different text per platform shows which one ran; real tools print the same.
	comp := toolComponent(t, store, blobs, "crictl", map[string]string{
		BuilderPlatform(): "#!/bin/sh\n[ \"$*\" = 'completion bash' ] && echo 'complete -W x crictl # builder' && exit 0\nexit 1\n",
		otherPlatform():   "#!/bin/sh\necho 'complete -W x crictl # other'\n",
	})
	warnings, notes, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
	if err != nil || len(warnings) != 0 || len(notes) != 0 {
		t.Fatalf("err %v, warnings %q, notes %v", err, warnings, notes)
	}
	want := component.CompletionsOf("crictl")[0].Path
	var first manifest.File
	for i, a := range comp.Artifacts {
		f, ok := completionFile(t, a, want)
		if !ok {
			t.Fatalf("%s: no %s in %+v", a.Platform, want, a.Files)
		}
		if f.Mode != 0o644 || f.Type != manifest.TypeFile {
			t.Errorf("%s: %+v", a.Platform, f)
		}
		if i == 0 {
			first = f
		} else if f != first {
			t.Errorf("platforms got different files: %+v, %+v", first, f)
		}
		if !slices.IsSortedFunc(a.Files, func(x, y manifest.File) int { return strings.Compare(x.Path, y.Path) }) {
			t.Errorf("%s: files not sorted by path", a.Platform)
		}
	}
	if got := readStored(t, store, first); got != "complete -W x crictl # builder\n" {
		t.Errorf("completion %q, want the builder platform's", got)
	}
	if _, ok := blobs[first.Blob]; !ok {
		t.Error("completion blob not recorded for the index")
	}
}

func TestCompletionFallsBackToAnotherPlatform(t *testing.T) {
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	comp := toolComponent(t, store, blobs, "crictl", map[string]string{
		BuilderPlatform(): "#!/bin/sh\necho 'broken' >&2\nexit 3\n",
		otherPlatform():   "#!/bin/sh\necho 'complete -W x crictl'\n",
	})
	warnings, _, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v, warnings %q", err, warnings)
	}
	f, ok := completionFile(t, comp.Artifacts[0], component.CompletionsOf("crictl")[0].Path)
	if !ok || readStored(t, store, f) != "complete -W x crictl\n" {
		t.Fatalf("fallback not used: %+v", comp.Artifacts[0].Files)
	}
}

func TestCompletionSkippedWhenNoBinaryRuns(t *testing.T) {
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	// An ELF header for no machine this builder runs: execve says ENOEXEC.
	elf := "\x7fELF\x02\x01\x01\x00" + strings.Repeat("\x00", 8) + "\x02\x00\xff\xff" + strings.Repeat("\x00", 200)
	comp := toolComponent(t, store, blobs, "nerdctl", map[string]string{BuilderPlatform(): elf, otherPlatform(): "#!/bin/sh\nexit 1\n"})
	before := len(comp.Artifacts[0].Files)
	warnings, notes, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "exec format error") || !strings.Contains(warnings[0], "exit status 1") {
		t.Errorf("warnings %q", warnings)
	}
	if len(notes) != 1 || notes[0].ID != "nerdctl-bash-completion-skipped" || notes[0].Severity != "info" || notes[0].Component != "nerdctl" ||
		!strings.Contains(notes[0].Text, BuilderPlatform()) {
		t.Errorf("notes %+v", notes)
	}
	if len(comp.Artifacts[0].Files) != before {
		t.Errorf("files added: %+v", comp.Artifacts[0].Files)
	}
	// The note is signed: it must not carry run-to-run details (temp paths).
	if strings.Contains(notes[0].Text, os.TempDir()) {
		t.Errorf("note holds a temporary path: %s", notes[0].Text)
	}
}

func TestCompletionRunsIsolated(t *testing.T) {
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	// Prints its initial environment, working directory listing, stdin and uid.
	prog := `#!/bin/sh
tr '\0' '\n' < /proc/$$/environ | sort
echo "cwd=$(pwd) entries=$(ls -A | wc -l)"
echo "home entries=$(ls -A "$HOME" | wc -l)"
echo "stdin=$(cat | wc -c)"
echo "uid=$(id -u)"
`
	comp := toolComponent(t, store, blobs, "nerdctl", map[string]string{BuilderPlatform(): prog})
	if _, _, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b }); err != nil {
		t.Fatal(err)
	}
	f, ok := completionFile(t, comp.Artifacts[0], component.CompletionsOf("nerdctl")[0].Path)
	if !ok {
		t.Fatal("no completion")
	}
	out := readStored(t, store, f)
	var names []string
	for _, line := range strings.Split(out, "\n") {
		if k, v, ok := strings.Cut(line, "="); ok && k == strings.ToUpper(k) && !strings.HasPrefix(line, "cwd=") {
			names = append(names, k)
			if k == "PATH" && v != "/usr/bin:/bin" {
				t.Errorf("PATH=%s", v)
			}
			if strings.HasPrefix(k, "XDG_") || k == "NERDCTL_TOML" {
				if !strings.HasPrefix(v, filepath.Dir(strings.TrimSuffix(envValue(out, "HOME"), "/"))) {
					t.Errorf("%s=%s is outside the temporary directory", k, v)
				}
			}
		}
	}
	want := []string{"HOME", "NERDCTL_TOML", "PATH", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_STATE_HOME"}
	if !slices.Equal(names, want) {
		t.Errorf("environment %v, want %v\n%s", names, want, out)
	}
	for _, s := range []string{"entries=0\n", "home entries=0\n", "stdin=0\n"} {
		if !strings.Contains(out, s) {
			t.Errorf("output lacks %q:\n%s", s, out)
		}
	}
	wantUID := "uid=" + map[bool]string{true: "65534", false: strconv.Itoa(os.Getuid())}[os.Geteuid() == 0]
	if !strings.Contains(out, wantUID+"\n") {
		t.Errorf("output lacks %q:\n%s", wantUID, out)
	}
}

func envValue(out, key string) string {
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+"="); ok {
			return v
		}
	}
	return ""
}

func TestCompletionTimeoutKillsTheToolAndItsChildren(t *testing.T) {
	old := completionTimeout
	completionTimeout = 500 * time.Millisecond
	defer func() { completionTimeout = old }()
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	// Somewhere the tool can write when it runs as nobody.
	dir, err := os.MkdirTemp("", "satchel-timeout-test-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o777)
	marker := filepath.Join(dir, "survived")
	// A child in the background that would outlive a kill of the shell alone.
	prog := "#!/bin/sh\n(sleep 2; touch " + marker + ") &\nsleep 30\n"
	comp := toolComponent(t, store, blobs, "crictl", map[string]string{BuilderPlatform(): prog})
	start := time.Now()
	warnings, notes, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
	if err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 5*time.Second {
		t.Errorf("took %s", time.Since(start))
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "did not finish") || len(notes) != 1 {
		t.Fatalf("warnings %q notes %v", warnings, notes)
	}
	time.Sleep(2500 * time.Millisecond)
	if _, err := os.Stat(marker); err == nil {
		t.Error("the tool's child survived the timeout")
	}
}

func TestCompletionRefusesNonText(t *testing.T) {
	store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
	comp := toolComponent(t, store, blobs, "crictl", map[string]string{BuilderPlatform(): "#!/bin/sh\nprintf 'a\\0b'\n"})
	warnings, _, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
	if err != nil || len(warnings) != 1 || !strings.Contains(warnings[0], "not UTF-8 text") {
		t.Fatalf("err %v warnings %q", err, warnings)
	}
}

// TestCompletionOfRealTools runs the real nerdctl and crictl that
// test/e2e/realbins.sh builds, as the bundler does: twice, for the same text.
func TestCompletionOfRealTools(t *testing.T) {
	for _, tool := range []string{"nerdctl", "crictl"} {
		t.Run(tool, func(t *testing.T) {
			bin := realBinary(tool)
			if bin == "" {
				testenv.Skipf(t, "no real %s: run test/e2e/realbins.sh (CI does)", tool)
			}
			prog, err := os.ReadFile(bin)
			if err != nil {
				t.Fatal(err)
			}
			var texts []string
			for range 2 {
				store, blobs := newStore(t), map[manifest.Digest]manifest.Blob{}
				comp := toolComponent(t, store, blobs, tool, map[string]string{BuilderPlatform(): string(prog)})
				warnings, _, err := addCompletions(context.Background(), comp, store, func(b manifest.Blob) { blobs[b.Digest] = b })
				if err != nil || len(warnings) != 0 {
					t.Fatalf("err %v warnings %q", err, warnings)
				}
				f, ok := completionFile(t, comp.Artifacts[0], component.CompletionsOf(tool)[0].Path)
				if !ok {
					t.Fatal("no completion")
				}
				texts = append(texts, readStored(t, store, f))
			}
			if texts[0] != texts[1] {
				t.Error("two runs printed different completions")
			}
			if !strings.Contains(texts[0], "complete ") || !strings.Contains(texts[0], tool) {
				t.Errorf("not a bash completion for %s:\n%.400s", tool, texts[0])
			}
			// bash parses it.
			if _, err := os.Stat("/bin/bash"); err == nil {
				f := filepath.Join(t.TempDir(), tool)
				os.WriteFile(f, []byte(texts[0]), 0o644)
				if out, err := runCmd("/bin/bash", "-n", f); err != nil {
					t.Errorf("bash -n: %v\n%s", err, out)
				}
			}
		})
	}
}

func realBinary(name string) string {
	for _, d := range []string{os.Getenv("SATCHEL_E2E_BIN"), "/var/cache/satchel-e2e/bin"} {
		if d == "" {
			continue
		}
		p := filepath.Join(d, name)
		if fi, err := os.Stat(p); err == nil && fi.Mode().IsRegular() {
			return p
		}
	}
	return ""
}

func runCmd(name string, args ...string) ([]byte, error) {
	var out bytes.Buffer
	cmd := exec.Command(name, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.Bytes(), err
}
