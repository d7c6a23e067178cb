package importer

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/satchel-dev/satchel/install/images"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// call is one command the client ran, with what it read from stdin.
type call struct {
	cmd   runner.Cmd
	stdin []byte
}

func (c call) String() string { return c.cmd.String() }

// recorder is a runner.Runner that records commands and answers them
// with answer (nil: success with no output). It reads stdin to the end,
// as ctr and docker do.
type recorder struct {
	mu     sync.Mutex
	calls  []call
	answer func(c runner.Cmd) ([]byte, error)
}

func (r *recorder) Run(ctx context.Context, c runner.Cmd) ([]byte, error) {
	var in []byte
	if c.Stdin != nil {
		var err error
		if in, err = io.ReadAll(c.Stdin); err != nil {
			return nil, err
		}
	}
	r.mu.Lock()
	r.calls = append(r.calls, call{c, in})
	r.mu.Unlock()
	if r.answer != nil {
		return r.answer(c)
	}
	return nil, nil
}

func (r *recorder) LookPath(name string) (string, error) { return "", exec.ErrNotFound }

func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, c := range r.calls {
		out = append(out, c.String())
	}
	return out
}

func exitErr(c runner.Cmd, code int, stderr string) error {
	return &runner.CommandError{Cmd: c.String(), ExitCode: code, Stderr: stderr, Err: fmt.Errorf("exit status %d", code)}
}

const sock = "/run/containerd/containerd.sock"

// ctrImagesLs prints a listing as `ctr images ls` does: containerd's
// cmd/ctr/commands/images/images.go writes a tabwriter (minwidth 1, tab 8,
// padding 1, ' ') with the header "REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t",
// the size as progress.Bytes ("3.2 MiB": two fields), and the labels as
// sorted "k=v" pairs joined by "," ("-" for none).
func ctrImagesLs(rows [][6]string) []byte {
	var b bytes.Buffer
	tw := tabwriter.NewWriter(&b, 1, 8, 1, ' ', 0)
	fmt.Fprintln(tw, "REF\tTYPE\tDIGEST\tSIZE\tPLATFORMS\tLABELS\t")
	for _, r := range rows {
		fmt.Fprintf(tw, "%v\t%v\t%v\t%v\t%v\t%s\t\n", r[0], r[1], r[2], r[3], r[4], r[5])
	}
	tw.Flush()
	return b.Bytes()
}

func digestOf(s string) manifest.Digest { return manifest.DigestOf(manifest.SHA256, []byte(s)) }

func TestCtrAndList(t *testing.T) {
	pause, app := digestOf("pause"), digestOf("app")
	rec := &recorder{answer: func(c runner.Cmd) ([]byte, error) {
		return ctrImagesLs([][6]string{
			{"registry.k8s.io/pause:3.10", "application/vnd.oci.image.index.v1+json", string(pause), "319.4 KiB", "linux/amd64,linux/arm64", "io.cri-containerd.image=managed," + PinnedLabel},
			{"registry.example/app:1", "application/vnd.oci.image.manifest.v1+json", string(app), "12.0 MiB", "linux/amd64", "-"},
		}), nil
	}}
	c := &Client{Runner: rec, ContainerdSocket: sock}
	got, err := c.List(context.Background(), "/usr/local/bin/ctr", "k8s.io")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]images.Present{
		"registry.k8s.io/pause:3.10": {Ref: "registry.k8s.io/pause:3.10", Digest: pause, Pinned: true},
		"registry.example/app:1":     {Ref: "registry.example/app:1", Digest: app},
	}
	if len(got) != len(want) {
		t.Fatalf("List = %+v", got)
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("List[%s] = %+v, want %+v", k, got[k], w)
		}
	}
	if l := rec.lines(); len(l) != 1 || l[0] != "/usr/local/bin/ctr -a "+sock+" -n k8s.io images ls" {
		t.Errorf("commands %q", l)
	}
	if rec.calls[0].cmd.Timeout != 30*time.Minute {
		t.Errorf("ctr timeout %v", rec.calls[0].cmd.Timeout)
	}
	// An empty namespace has the header only.
	rec.answer = func(runner.Cmd) ([]byte, error) { return ctrImagesLs(nil), nil }
	if got, err := c.List(context.Background(), "ctr", "default"); err != nil || len(got) != 0 {
		t.Errorf("empty namespace: %+v, %v", got, err)
	}
	// A failing ctr is an error, not an empty list.
	rec.answer = func(c runner.Cmd) ([]byte, error) { return nil, exitErr(c, 1, "connection refused") }
	if got, err := c.List(context.Background(), "ctr", "default"); err == nil || got != nil {
		t.Errorf("failing ctr: %+v, %v", got, err)
	}
}

// testImage is the smallest image WriteArchive accepts: one manifest blob.
func testImage(t *testing.T) (*manifest.Index, manifest.Image, blobs) {
	m := []byte(`{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:` + strings.Repeat("0", 64) + `","size":2},"layers":[]}`)
	d := manifest.DigestOf(manifest.SHA256, m)
	ix := &manifest.Index{Created: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Blobs: []manifest.Blob{{Digest: d, Size: int64(len(m)), Encoding: manifest.EncodingNone}}}
	im := manifest.Image{Ref: "registry.example/app:1", Digest: d, MediaType: "application/vnd.oci.image.manifest.v1+json", Blobs: []manifest.Digest{d}}
	return ix, im, blobs{d: m}
}

type blobs map[manifest.Digest][]byte

func (b blobs) OpenBlob(d manifest.Digest) (io.Reader, error) {
	if v, ok := b[d]; ok {
		return bytes.NewReader(v), nil
	}
	return nil, os.ErrNotExist
}

func TestImportStreamsAndPins(t *testing.T) {
	ix, im, bl := testImage(t)
	var want bytes.Buffer
	if err := images.WriteArchive(&want, ix, im, bl, "linux/amd64", nil); err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	var progress []int64
	c := &Client{Runner: rec, ContainerdSocket: sock, Progress: func(desc string, done, total int64) {
		if !strings.Contains(desc, im.Ref) || done > total {
			t.Errorf("progress %q %d/%d", desc, done, total)
		}
		progress = append(progress, done)
	}}
	if err := c.Import(context.Background(), "ctr", ix, im, bl, "linux/amd64", []string{"k8s.io", "default"}); err != nil {
		t.Fatal(err)
	}
	wantLines := []string{
		"ctr -a " + sock + " -n k8s.io images import -",
		"ctr -a " + sock + " -n k8s.io images label " + im.Ref + " " + PinnedLabel,
		"ctr -a " + sock + " -n default images import -",
		"ctr -a " + sock + " -n default images label " + im.Ref + " " + PinnedLabel,
	}
	if got := rec.lines(); !slices.Equal(got, wantLines) {
		t.Fatalf("commands\n got %q\nwant %q", got, wantLines)
	}
	for _, i := range []int{0, 2} {
		if !bytes.Equal(rec.calls[i].stdin, want.Bytes()) {
			t.Errorf("%s: stdin is not the image's archive (%d bytes, want %d)", rec.calls[i], len(rec.calls[i].stdin), want.Len())
		}
	}
	if len(progress) != 2 || progress[1] <= progress[0] {
		t.Errorf("progress %v: want a running count across namespaces", progress)
	}

	// A failed import stops there, names the namespace and does not pin.
	rec = &recorder{answer: func(c runner.Cmd) ([]byte, error) {
		if slices.Contains(c.Args, "import") {
			return nil, exitErr(c, 1, "ctr: content digest mismatch")
		}
		return nil, nil
	}}
	c = &Client{Runner: rec, ContainerdSocket: sock}
	err := c.Import(context.Background(), "ctr", ix, im, bl, "linux/amd64", []string{"k8s.io", "default"})
	if err == nil || !strings.Contains(err.Error(), "namespace k8s.io") || !strings.Contains(err.Error(), "digest mismatch") {
		t.Errorf("failed import: %v", err)
	}
	if l := rec.lines(); len(l) != 1 {
		t.Errorf("after a failed import: %q", l)
	}
}

func TestDockerCommands(t *testing.T) {
	ix, im, bl := testImage(t)
	rec := &recorder{answer: func(c runner.Cmd) ([]byte, error) {
		if slices.Contains(c.Args, "inspect") {
			return []byte("sha256:abc\n"), nil
		}
		return nil, nil
	}}
	c := &Client{Runner: rec, DockerSocket: "/run/docker.sock", InNamespace: true}
	ctx := context.Background()
	if err := c.DockerLoad(ctx, "docker", ix, im, bl, "linux/amd64"); err != nil {
		t.Fatal(err)
	}
	if !c.DockerAnswers(ctx, "docker") {
		t.Error("DockerAnswers = false with a docker that answers")
	}
	id, err := c.DockerImageID(ctx, "docker", "registry.example/app:1@sha256:"+strings.Repeat("a", 64))
	if err != nil || id != "sha256:abc" {
		t.Errorf("DockerImageID = %q, %v", id, err)
	}
	untagged := "registry.example/app@sha256:" + strings.Repeat("b", 64)
	c.DockerImageID(ctx, "docker", untagged)
	want := []string{
		"docker -H unix:///run/docker.sock load",
		"docker -H unix:///run/docker.sock version --format {{.Server.Version}}",
		"docker -H unix:///run/docker.sock image inspect --format {{.Id}} registry.example/app:1",
		"docker -H unix:///run/docker.sock image inspect --format {{.Id}} " + untagged,
	}
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
	var archive bytes.Buffer
	images.WriteArchive(&archive, ix, im, bl, "linux/amd64", nil)
	if !bytes.Equal(rec.calls[0].stdin, archive.Bytes()) {
		t.Error("docker load did not read the image's archive")
	}

	// Without a socket (and outside a namespace) Docker is not asked at all.
	rec = &recorder{}
	c = &Client{Runner: rec, DockerSocket: filepath.Join(t.TempDir(), "docker.sock")}
	if c.DockerUp() || c.DockerAnswers(ctx, "docker") || len(rec.lines()) != 0 {
		t.Errorf("no socket: DockerUp %v, commands %q", c.DockerUp(), rec.lines())
	}
	// A docker that fails to answer.
	rec.answer = func(c runner.Cmd) ([]byte, error) { return nil, exitErr(c, 1, "Cannot connect to the Docker daemon") }
	c.InNamespace = true
	if c.DockerAnswers(ctx, "docker") {
		t.Error("DockerAnswers = true with a failing docker")
	}
}

// listen makes a real unix socket for SocketExists and WaitContainerd.
func listen(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "c.sock")
	l, err := net.Listen("unix", p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return p
}

func TestSocketExists(t *testing.T) {
	s := listen(t)
	if !SocketExists(s) {
		t.Error("a listening socket is not a socket")
	}
	f := filepath.Join(t.TempDir(), "file")
	os.WriteFile(f, nil, 0o644)
	if SocketExists(f) || SocketExists(filepath.Join(t.TempDir(), "absent")) {
		t.Error("a file or nothing counts as a socket")
	}
	c := &Client{ContainerdSocket: s, DockerSocket: f}
	if !c.ContainerdUp() || c.DockerUp() {
		t.Errorf("ContainerdUp %v DockerUp %v", c.ContainerdUp(), c.DockerUp())
	}
}

func TestWaitContainerd(t *testing.T) {
	ctx := context.Background()
	// No socket: at once, with a remedy.
	rec := &recorder{}
	c := &Client{Runner: rec, ContainerdSocket: filepath.Join(t.TempDir(), "none.sock")}
	start := time.Now()
	err := c.WaitContainerd(ctx, "ctr", time.Minute)
	if err == nil || !strings.Contains(err.Error(), "no socket") || time.Since(start) > 5*time.Second || len(rec.lines()) != 0 {
		t.Errorf("no socket: %v after %v, commands %q", err, time.Since(start), rec.lines())
	}
	// A socket that answers on the third try.
	s := listen(t)
	n := 0
	rec = &recorder{answer: func(c runner.Cmd) ([]byte, error) {
		if n++; n < 3 {
			return nil, exitErr(c, 1, "connection refused")
		}
		return []byte("Server: v2"), nil
	}}
	c = &Client{Runner: rec, ContainerdSocket: s}
	if err := c.WaitContainerd(ctx, "ctr", time.Minute); err != nil {
		t.Fatal(err)
	}
	if l := rec.lines(); len(l) != 3 || l[0] != "ctr -a "+s+" version" {
		t.Errorf("commands %q", l)
	}
	// A ctr that cannot run at all does not wait.
	rec = &recorder{answer: func(c runner.Cmd) ([]byte, error) { return nil, exitErr(c, -1, "") }}
	c = &Client{Runner: rec, ContainerdSocket: s}
	if err := c.WaitContainerd(ctx, "ctr", time.Minute); err == nil || len(rec.lines()) != 1 {
		t.Errorf("ctr not started: %v after %d tries", err, len(rec.lines()))
	}
	// The limit is kept.
	rec = &recorder{answer: func(c runner.Cmd) ([]byte, error) { return nil, exitErr(c, 1, "refused") }}
	c = &Client{Runner: rec, ContainerdSocket: s}
	if err := c.WaitContainerd(ctx, "ctr", 0); err == nil || !strings.Contains(err.Error(), "does not answer") {
		t.Errorf("past the limit: %v", err)
	}
	// A cancelled context ends the wait.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := c.WaitContainerd(cctx, "ctr", time.Minute); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
}

// stagedRoot is a root with staged archives and the list naming them.
func stagedRoot(t *testing.T, list images.StagedList, files ...string) (*rootfs.Root, string) {
	t.Helper()
	dir := t.TempDir()
	imgDir := filepath.Join(dir, string(state.ImageDir))
	if err := os.MkdirAll(imgDir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		tw.Close()
		if err := os.WriteFile(filepath.Join(imgDir, f), b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	j, _ := json.Marshal(list)
	if err := os.WriteFile(filepath.Join(dir, string(state.StagedList)), j, 0o644); err != nil {
		t.Fatal(err)
	}
	r, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, dir
}

func TestImportStaged(t *testing.T) {
	ctx := context.Background()
	pause := images.StagedImage{Ref: "registry.k8s.io/pause:3.10", Digest: digestOf("p"), File: "pause.tar", Namespaces: []string{"k8s.io"}, Docker: true}
	app := images.StagedImage{Ref: "registry.example/app:1", Digest: digestOf("a"), File: "app.tar", Namespaces: []string{"k8s.io", "default"}}
	done := images.StagedImage{Ref: "registry.example/done:1", Digest: digestOf("d"), File: "done.tar", Namespaces: []string{"default"}}
	list := images.StagedList{Version: 1, Images: []images.StagedImage{pause, app, done}}
	root, dir := stagedRoot(t, list, "pause.tar", "app.tar") // done.tar: imported by an earlier run

	// containerd answers; Docker is not installed ("").
	rec := &recorder{}
	c := &Client{Runner: rec, ContainerdSocket: sock, InNamespace: true}
	rep, err := c.ImportStaged(ctx, root, "ctr", "")
	if err != nil {
		t.Fatal(err)
	}
	host := func(f string) string { return root.HostPath(state.ImageDir.Join(f)) }
	want := []string{
		"ctr -a " + sock + " version",
		"ctr -a " + sock + " -n k8s.io images import " + host("pause.tar"),
		"ctr -a " + sock + " -n k8s.io images label " + pause.Ref + " " + PinnedLabel,
		"ctr -a " + sock + " -n k8s.io images import " + host("app.tar"),
		"ctr -a " + sock + " -n k8s.io images label " + app.Ref + " " + PinnedLabel,
		"ctr -a " + sock + " -n default images import " + host("app.tar"),
		"ctr -a " + sock + " -n default images label " + app.Ref + " " + PinnedLabel,
	}
	if got := rec.lines(); !slices.Equal(got, want) {
		t.Errorf("commands\n got %q\nwant %q", got, want)
	}
	if !rep.Done || len(rep.Images) != 3 {
		t.Fatalf("report %+v", rep)
	}
	r0, r1, r2 := rep.Images[0], rep.Images[1], rep.Images[2]
	if !r0.Pinned || !slices.Equal(r0.Namespaces, []string{"k8s.io"}) || !strings.HasPrefix(r0.Docker, "skipped") || r0.Error != "" {
		t.Errorf("pause: %+v", r0)
	}
	if !r1.Pinned || !slices.Equal(r1.Namespaces, []string{"k8s.io", "default"}) || r1.Docker != "" || r1.Error != "" {
		t.Errorf("app: %+v", r1)
	}
	if !r2.Pinned || len(r2.Namespaces) != 0 || r2.Error != "" {
		t.Errorf("done (archive gone): %+v", r2)
	}
	if _, err := os.Stat(filepath.Join(dir, string(state.ImageDir))); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("staging directory left after every import: %v", err)
	}
	// Nothing staged any more: done, without asking containerd.
	rec = &recorder{}
	c.Runner = rec
	if rep, err := c.ImportStaged(ctx, root, "ctr", ""); err != nil || !rep.Done || len(rec.lines()) != 0 {
		t.Errorf("second run: %+v, %v, commands %q", rep, err, rec.lines())
	}
}

// TestImportStagedFailureKeepsArchives: an archive whose import fails is
// kept, with the staging directory and the list, so that the service's
// next start (or the command run again) imports it; the others are done.
func TestImportStagedFailureKeepsArchives(t *testing.T) {
	ctx := context.Background()
	good := images.StagedImage{Ref: "good:1", File: "good.tar", Namespaces: []string{"k8s.io"}}
	bad := images.StagedImage{Ref: "bad:1", File: "bad.tar", Namespaces: []string{"k8s.io"}}
	evil := images.StagedImage{Ref: "evil:1", File: "../../../etc/shadow", Namespaces: []string{"k8s.io"}}
	root, dir := stagedRoot(t, images.StagedList{Version: 1, Images: []images.StagedImage{good, bad, evil}}, "good.tar", "bad.tar")
	failBad := true
	rec := &recorder{answer: func(c runner.Cmd) ([]byte, error) {
		if failBad && slices.Contains(c.Args, "import") && strings.HasSuffix(c.Args[len(c.Args)-1], "bad.tar") {
			return nil, exitErr(c, 1, "ctr: unexpected EOF")
		}
		return nil, nil
	}}
	c := &Client{Runner: rec, ContainerdSocket: sock, InNamespace: true}
	rep, err := c.ImportStaged(ctx, root, "ctr", "")
	if err == nil || rep == nil || rep.Done {
		t.Fatalf("ImportStaged = %+v, %v; want an error and not done", rep, err)
	}
	if rep.Images[0].Error != "" || rep.Images[1].Error == "" || !strings.Contains(rep.Images[2].Error, "bad archive name") {
		t.Errorf("results %+v", rep.Images)
	}
	for _, l := range rec.lines() {
		if strings.Contains(l, "shadow") || strings.Contains(l, "label bad:1") {
			t.Errorf("ran %q", l)
		}
	}
	imgDir := filepath.Join(dir, string(state.ImageDir))
	if _, err := os.Stat(filepath.Join(imgDir, "good.tar")); !errors.Is(err, os.ErrNotExist) {
		t.Error("the imported archive was kept")
	}
	for _, f := range []string{"bad.tar", "staged.json"} {
		if _, err := os.Stat(filepath.Join(imgDir, f)); err != nil {
			t.Errorf("%s was not kept: %v", f, err)
		}
	}
}

func TestImportStagedBadList(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, string(state.ImageDir)), 0o755)
	os.WriteFile(filepath.Join(dir, string(state.StagedList)), []byte("{not json"), 0o644)
	root, err := rootfs.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	rec := &recorder{}
	c := &Client{Runner: rec, ContainerdSocket: sock, InNamespace: true}
	if rep, err := c.ImportStaged(context.Background(), root, "ctr", ""); err == nil || rep != nil || !strings.Contains(err.Error(), string(state.StagedList)) {
		t.Errorf("damaged list: %+v, %v", rep, err)
	}
	if len(rec.lines()) != 0 {
		t.Errorf("ran %q for a damaged list", rec.lines())
	}
}

func TestImportStagedDocker(t *testing.T) {
	ctx := context.Background()
	im := images.StagedImage{Ref: "registry.k8s.io/pause:3.10", File: "pause.tar", Namespaces: []string{"k8s.io"}, Docker: true}
	root, _ := stagedRoot(t, images.StagedList{Version: 1, Images: []images.StagedImage{im}}, "pause.tar")
	rec := &recorder{}
	c := &Client{Runner: rec, ContainerdSocket: sock, DockerSocket: "/run/docker.sock", InNamespace: true}
	rep, err := c.ImportStaged(ctx, root, "ctr", "/usr/bin/docker")
	if err != nil || rep.Images[0].Docker != "loaded" {
		t.Fatalf("ImportStaged = %+v, %v", rep, err)
	}
	tarPath := root.HostPath(state.ImageDir.Join("pause.tar"))
	if l := rec.lines(); l[len(l)-1] != "/usr/bin/docker -H unix:///run/docker.sock load -i "+tarPath {
		t.Errorf("commands %q", l)
	}
}
