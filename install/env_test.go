package install

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/satchel-dev/satchel/install/plan"
	"github.com/satchel-dev/satchel/install/rootfs"
	"github.com/satchel-dev/satchel/install/runner"
	"github.com/satchel-dev/satchel/install/state"
	"github.com/satchel-dev/satchel/manifest"
)

// fakeRunner records commands. systemctl, ctr, docker and kubectl are
// answered by handlers (systemctl is "not installed" by default, so units
// are enabled by the installer's own links); installed stand-in tools
// under the root run for real.
type fakeRunner struct {
	mu    sync.Mutex
	root  string
	calls []string
	// handlers by program base name; nil handler: not installed.
	handlers map[string]func(c runner.Cmd, stdin []byte) ([]byte, error)
	// paths answers LookPath.
	paths map[string]string
}

func newFakeRunner(root string) *fakeRunner {
	return &fakeRunner{root: root, handlers: map[string]func(runner.Cmd, []byte) ([]byte, error){}, paths: map[string]string{}}
}

func notInstalled(c runner.Cmd) error {
	return &runner.CommandError{Cmd: c.String(), ExitCode: -1, Err: exec.ErrNotFound}
}

func failed(c runner.Cmd, msg string) error {
	return &runner.CommandError{Cmd: c.String(), ExitCode: 1, Stderr: msg, Err: io.ErrUnexpectedEOF}
}

func (f *fakeRunner) Run(ctx context.Context, c runner.Cmd) ([]byte, error) {
	f.mu.Lock()
	line := strings.ReplaceAll(c.String(), f.root, "<root>")
	f.calls = append(f.calls, line)
	h, ok := f.handlers[filepath.Base(c.Path)]
	f.mu.Unlock()
	var stdin []byte
	if c.Stdin != nil {
		stdin, _ = io.ReadAll(c.Stdin)
	}
	switch {
	case ok && h != nil:
		return h(c, stdin)
	case ok:
		return nil, notInstalled(c)
	case strings.HasPrefix(c.Path, f.root+"/"):
		c.Stdin = bytes.NewReader(stdin)
		return runner.ExecRunner{}.Run(ctx, c)
	}
	return nil, notInstalled(c)
}

func (f *fakeRunner) LookPath(name string) (string, error) {
	if p, ok := f.paths[name]; ok {
		return p, nil
	}
	return "", exec.ErrNotFound
}

// called returns the recorded calls containing s.
func (f *fakeRunner) called(s string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		if strings.Contains(c, s) {
			out = append(out, c)
		}
	}
	return out
}

// env is one test's world: a bundle, its key, an empty root.
type env struct {
	t      *testing.T
	dir    string
	root   string
	key    *testKey
	fx     fixture
	bundle string
	ix     *manifest.Index
	runner *fakeRunner
	self   string
}

var (
	keyOnce sync.Once
	keyDir  string
	sharedK *testKey
)

// sharedKey generates one key pair for the whole test binary (scrypt is slow).
func sharedKey(t testing.TB) *testKey {
	keyOnce.Do(func() {
		d, err := os.MkdirTemp("", "satchel-install-keys-")
		if err != nil {
			t.Fatal(err)
		}
		keyDir = d
		sharedK = newKey(t, d, "publisher")
	})
	return sharedK
}

func newEnv(t *testing.T, fx fixture) *env {
	t.Helper()
	e := &env{t: t, dir: t.TempDir(), root: t.TempDir(), key: sharedKey(t), fx: fx}
	e.root, _ = filepath.EvalSymlinks(e.root)
	e.bundle, e.ix = fx.build(t, e.dir, e.key)
	e.runner = newFakeRunner(e.root)
	e.self = filepath.Join(e.dir, "satchel-install")
	if err := os.WriteFile(e.self, []byte("#!/bin/sh\necho satchel-install stand-in\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	return e
}

func (e *env) installer(opts ...Option) *Installer {
	e.t.Helper()
	base := []Option{WithRoot(e.root), WithKeys(e.key.pub), WithRunner(e.runner), WithSelf(e.self)}
	in, err := New(append(base, opts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	return in
}

// apply opens the bundle and applies it.
func (e *env) apply(in *Installer) (*Report, error) {
	e.t.Helper()
	src, err := in.Open(context.Background(), e.bundle)
	if err != nil {
		return nil, err
	}
	defer src.Close()
	return in.Apply(context.Background(), src)
}

func (e *env) plan(in *Installer) *plan.Plan {
	e.t.Helper()
	src, err := in.Open(context.Background(), e.bundle)
	if err != nil {
		e.t.Fatal(err)
	}
	defer src.Close()
	p, err := in.Plan(context.Background(), src)
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) mustApply(opts ...Option) *Report {
	e.t.Helper()
	rep, err := e.apply(e.installer(opts...))
	if err != nil {
		e.t.Fatalf("apply: %v", err)
	}
	return rep
}

func (e *env) read(p rootfs.Path) string {
	e.t.Helper()
	b, err := os.ReadFile(filepath.Join(e.root, string(p)))
	if err != nil {
		e.t.Fatal(err)
	}
	return string(b)
}

func (e *env) write(p rootfs.Path, content string, mode os.FileMode) {
	e.t.Helper()
	hp := filepath.Join(e.root, string(p))
	if err := os.MkdirAll(filepath.Dir(hp), 0o755); err != nil {
		e.t.Fatal(err)
	}
	if err := os.WriteFile(hp, []byte(content), mode); err != nil {
		e.t.Fatal(err)
	}
}

// untar reads a tar stream into name -> content.
func untar(t testing.TB, b []byte) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		c, _ := io.ReadAll(tr)
		out[h.Name] = c
	}
}

// state reads the root's state.json.
func (e *env) state() (*state.State, error) {
	r, err := rootfs.Open(e.root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return state.Read(r)
}

// readStateAt reads state.json of a root directory.
func readStateAt(root string) (*state.State, error) {
	r, err := rootfs.Open(root)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return state.Read(r)
}
