package pack

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/manifest"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// buildGo builds a one-file main package with the given cgo setting.
func buildGo(t *testing.T, src string, cgo bool) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		testenv.Skipf(t, "no go command on PATH to build the test program")
	}
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module x\n\ngo 1.22\n"), 0o644)
	out := filepath.Join(dir, "prog")
	cmd := exec.Command(gobin, "build", "-o", out, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOWORK=off")
	if cgo {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=1")
	} else {
		cmd.Env = append(cmd.Env, "CGO_ENABLED=0")
	}
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, b)
	}
	return out
}

func glibcOf(t *testing.T, path string) string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	v, err := GlibcNeed(f)
	if err != nil {
		t.Fatalf("GlibcNeed(%s): %v", path, err)
	}
	return v
}

// readelfGlibc computes the expected answer independently, from readelf -V.
func readelfGlibc(t *testing.T, path string) string {
	t.Helper()
	out, err := exec.Command("readelf", "-V", "--wide", path).Output()
	if err != nil {
		testenv.Skipf(t, "needs readelf (binutils): %v", err)
	}
	best := ""
	for _, m := range regexp.MustCompile(`Name: GLIBC_([0-9.]+)\s`).FindAllStringSubmatch(string(out), -1) {
		if best == "" || compareVersions(m[1], best) > 0 {
			best = m[1]
		}
	}
	if strings.Contains(string(out), "GLIBC_ABI_DT_RELR") && compareVersions("2.36", best) > 0 {
		best = "2.36"
	}
	return best
}

func TestGlibcNeedStatic(t *testing.T) {
	testenv.SkipShort(t, "builds a Go program")
	bin := buildGo(t, "package main\nfunc main() { println(\"hi\") }\n", false)
	if got := glibcOf(t, bin); got != manifest.GlibcStatic {
		t.Errorf("CGO_ENABLED=0 binary: %q, want %q", got, manifest.GlibcStatic)
	}
}

func TestGlibcNeedCgo(t *testing.T) {
	testenv.SkipShort(t, "builds a cgo program")
	testenv.RequireBinary(t, "gcc") // for a cgo build
	src := "package main\n/*\n#include <stdio.h>\n#include <math.h>\nstatic void hello(double x) { printf(\"%f\\n\", sqrt(x)); }\n#cgo LDFLAGS: -lm\n*/\nimport \"C\"\nfunc main() { C.hello(2) }\n"
	bin := buildGo(t, src, true)
	got := glibcOf(t, bin)
	if want := readelfGlibc(t, bin); got != want || got == "" {
		t.Errorf("cgo binary: %q, readelf says %q", got, want)
	}
}

func TestGlibcNeedSystemBinary(t *testing.T) {
	const ls = "/bin/ls"
	if _, err := os.Stat(ls); err != nil {
		testenv.Skipf(t, "needs /bin/ls")
	}
	got := glibcOf(t, ls)
	want := readelfGlibc(t, ls)
	if want == "" {
		t.Skip("/bin/ls needs no glibc version here (not a glibc system)") // by design: a musl host has nothing to compare
	}
	if got != want {
		t.Errorf("/bin/ls: %q, readelf says %q", got, want)
	}
}

func TestGlibcNeedNotELF(t *testing.T) {
	dir := t.TempDir()
	for name, content := range map[string][]byte{
		"script": []byte("#!/bin/sh\necho hi\n"),
		"empty":  nil,
		"short":  []byte("\x7fEL"),
		"config": []byte("version = 2\n"),
	} {
		p := filepath.Join(dir, name)
		os.WriteFile(p, content, 0o644)
		if got := glibcOf(t, p); got != "" {
			t.Errorf("%s: %q, want \"\"", name, got)
		}
	}
	// ELF magic followed by garbage is an error, not "not ELF".
	if _, err := GlibcNeed(bytes.NewReader([]byte("\x7fELF\x02\x01\x01garbage"))); err == nil {
		t.Error("broken ELF accepted")
	}
}

func TestCompareVersions(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want int
	}{
		{"2.28", "2.3.4", 1}, {"2.2.5", "2.3", -1}, {"2.17", "2.17", 0}, {"2.17", "2.17.0", 0}, {"2.34", "2.4", 1},
	} {
		if got := compareVersions(c.a, c.b); got != c.want {
			t.Errorf("compareVersions(%s, %s) = %d, want %d", c.a, c.b, got, c.want)
		}
	}
}
