package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/sign"
)

func TestMain(m *testing.M) {
	testscript.Main(m, map[string]func(){
		"satchel-install": func() { os.Exit(cli.Execute(newRootCommand(), os.Args[1:], os.Stdout, os.Stderr)) },
	})
}

var (
	keysOnce         sync.Once
	keysDir          string
	publisher, other *sign.Signer
	keysErr          error
)

// TestScripts runs the CLI scripts in testdata/script. Each script's $WORK
// holds trusted and untrusted key pairs and these bundles of stand-in
// tools and one image:
//
//	b7.satchel, b8.satchel, b6.satchel  kylin-runtimes, sequence 7, 8, 6, signed by satchel.key
//	unsigned.satchel                    sequence 7, no signature
//	wrongkey.satchel                    sequence 7, signed by other.key
//	tampered.satchel                    b7.satchel with one bit of its last blob flipped
//	foreign.satchel                     sequence 7 for another architecture
//
// $ROOT is an empty directory to install into.
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:   "testdata/script",
		Setup: setupScript,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"exit":    cmdExit,
			"treesum": cmdTreesum,
		},
	})
}

func setupScript(e *testscript.Env) error {
	keysOnce.Do(func() {
		if keysDir, keysErr = os.MkdirTemp("", "satchel-install-script-keys-"); keysErr != nil {
			return
		}
		if publisher, keysErr = writeKey(keysDir, "satchel"); keysErr != nil {
			return
		}
		other, keysErr = writeKey(keysDir, "other")
	})
	if keysErr != nil {
		return keysErr
	}
	w := e.WorkDir
	for _, n := range []string{"satchel.pub", "other.pub"} {
		b, err := os.ReadFile(filepath.Join(keysDir, n))
		if err != nil {
			return err
		}
		if err := os.WriteFile(filepath.Join(w, n), b, 0o644); err != nil {
			return err
		}
	}
	foreign := "arm64"
	if runtime.GOARCH == "arm64" {
		foreign = "amd64"
	}
	for name, s := range map[string]bundleSpec{
		"b7": {seq: 7, signer: publisher, attest: true}, "b8": {seq: 8, signer: publisher, attest: true}, "b6": {seq: 6, signer: publisher},
		// Signed by the publisher, its provenance by another key (issue 13).
		"badprov": {seq: 7, signer: publisher, attest: true, provSigner: other},
		// The next release: one component at another version.
		"b9":       {seq: 9, signer: publisher, attest: true, versions: map[string]string{"runc": "1.2.6"}},
		"unsigned": {seq: 7}, "wrongkey": {seq: 7, signer: other}, "foreign": {seq: 7, arch: foreign, signer: publisher},
	} {
		if err := buildBundle(w, filepath.Join(w, name+".satchel"), s); err != nil {
			return fmt.Errorf("building %s: %w", name, err)
		}
	}
	b, err := os.ReadFile(filepath.Join(w, "b7.satchel"))
	if err != nil {
		return err
	}
	// The last blob ends before the two zero blocks and the record padding.
	end := len(b) - 1
	for end > 0 && b[end] == 0 {
		end--
	}
	b[end-10] ^= 1
	if err := os.WriteFile(filepath.Join(w, "tampered.satchel"), b, 0o644); err != nil {
		return err
	}
	os.RemoveAll(filepath.Join(w, ".store"))
	root := filepath.Join(w, "root")
	e.Setenv("ROOT", root)
	return os.Mkdir(root, 0o755)
}

// exit N CMD ARGS... runs CMD and fails unless it exits with status N.
func cmdExit(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: exit CODE command args...")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("exit: bad code %q", args[0])
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("exit: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", strings.Join(args[1:], " "), got, want)
	}
}

// treesum DIR prints one line per entry under DIR: path, type, mode and
// content digest, sorted, so two listings are equal exactly when the trees
// are byte-identical.
func cmdTreesum(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: treesum DIR")
	}
	dir := ts.MkAbs(args[0])
	var lines []string
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			t, _ := os.Readlink(p)
			lines = append(lines, rel+" symlink "+t)
		case fi.IsDir():
			lines = append(lines, fmt.Sprintf("%s dir %v", rel, fi.Mode().Perm()))
		default:
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			lines = append(lines, fmt.Sprintf("%s file %v %x", rel, fi.Mode().Perm(), sha256.Sum256(b)))
		}
		return nil
	})
	if err != nil {
		ts.Fatalf("treesum: %v", err)
	}
	sort.Strings(lines)
	fmt.Fprintln(ts.Stdout(), strings.Join(lines, "\n"))
}
