package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/pack"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// A .run file is the static installer with the bundle behind it: run with
// no FILE argument, it installs the bundle it carries.
func TestSelfExtractingRun(t *testing.T) {
	testenv.SkipShort(t, "builds the installer")
	dir := t.TempDir()
	installer := filepath.Join(dir, "satchel-install")
	build := exec.Command("go", "build", "-o", installer, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	signer, err := writeKey(dir, "satchel")
	if err != nil {
		t.Fatal(err)
	}
	bundle := filepath.Join(dir, "b.satchel")
	if err := buildBundle(dir, bundle, bundleSpec{seq: 3, signer: signer}); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "b.run")
	if err := pack.WriteSelfExtracting(run, installer, bundle); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(dir, "root")
	os.Mkdir(root, 0o755)
	cmd := exec.Command(run, "apply", "--key", filepath.Join(dir, "satchel.pub"), "--root", root, "--no-start")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s apply: %v\n%s", run, err, out)
	}
	if _, err := os.Stat(filepath.Join(root, "usr/local/bin/runsc")); err != nil {
		t.Fatalf("not installed: %v", err)
	}
	// The installer copies itself, not the bundle it carries.
	plain, _ := os.ReadFile(installer)
	copied, err := os.ReadFile(filepath.Join(root, "usr/local/bin/satchel-install"))
	if err != nil || !bytes.Equal(copied, plain) {
		t.Errorf("installed satchel-install is %d bytes, the program is %d (%v)", len(copied), len(plain), err)
	}
	// The plain installer, without FILE, says what it needs.
	out, err := exec.Command(installer, "apply", "--key", filepath.Join(dir, "satchel.pub"), "--root", root).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no bundle file given") || !strings.Contains(string(out), "hint: ") {
		t.Fatalf("installer without FILE: %v\n%s", err, out)
	}
	if code := cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("exit %d", code)
	}
}
