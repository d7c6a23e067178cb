package demo

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// The README's first command: the demo must run offline on a fresh clone,
// produce a signed bundle, rebuild it byte-identically with the mirror
// stopped, and install it into a directory.
func TestDemo(t *testing.T) {
	testenv.SkipShort(t, "builds both binaries and runs the whole demo")
	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	for _, c := range []string{"bundle", "install"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, "satchel-"+c), "../../cmd/"+c)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("building satchel-%s: %v\n%s", c, err, out)
		}
	}
	var out bytes.Buffer
	root := filepath.Join(dir, "demo-root")
	err := Run(context.Background(), Options{BinDir: bin, Dir: filepath.Join(dir, "demo"), Root: root, Out: &out})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	for _, want := range []string{"STAND-IN", "rebuild byte-identical", "OK ", "Installed satchel-demo"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("demo output lacks %q:\n%s", want, out.String())
		}
	}
	for _, f := range []string{"usr/local/bin/containerd", "usr/local/bin/runsc", "usr/local/bin/containerd-shim-runsc-v1",
		"etc/containerd/conf.d/satchel.toml", "etc/docker/daemon.json", "var/lib/satchel/state.json"} {
		if _, err := os.Stat(filepath.Join(root, f)); err != nil {
			t.Errorf("installed tree: %v", err)
		}
	}
	b, _ := os.ReadFile(filepath.Join(root, "usr/local/bin/containerd"))
	if !bytes.Contains(b, []byte("stand-in")) {
		t.Errorf("the demo's containerd is not labelled a stand-in: %q", b)
	}
}
