package main

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"

	"github.com/satchel-dev/satchel/internal/cli"
	"github.com/satchel-dev/satchel/internal/forge"
	"github.com/satchel-dev/satchel/manifest"
	"github.com/satchel-dev/satchel/pack"
	"github.com/satchel-dev/satchel/verify"
)

// TestHardeningMaliciousBundles runs every forged bundle of internal/forge
// (one per finding of issue 7 a bundle can carry, and the older classes),
// each validly signed by the trusted key, through:
//
//   - satchel-bundle verify's code path (pack.VerifyBundle with every
//     blob and file checked), which must refuse it with exit code 3;
//   - `satchel-install apply --key --root ROOT` in-process, into a root
//     holding a small host tree, which must exit 3 without writing
//     anything: the tree's hash (paths, modes, contents, link targets,
//     mtimes and ctimes of every entry) is the same afterwards;
//   - for cases whose strings would reach a terminal, `satchel-install
//     preflight` without a key, which must refuse too and print no control
//     character.
//
// It logs one summary line for `make hardening`.
func TestHardeningMaliciousBundles(t *testing.T) {
	dir := t.TempDir()
	signer, err := writeKey(dir, "publisher")
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(dir, "publisher.pub")
	keys := mustKeys(t, pub)
	base := filepath.Join(dir, "base.satchel")
	if err := buildBundle(dir, base, bundleSpec{seq: 7, signer: signer}); err != nil {
		t.Fatal(err)
	}
	fb, err := forge.Load(base, filepath.Join(dir, "forge-store"))
	if err != nil {
		t.Fatal(err)
	}

	// The control: forge's unmodified re-signed bundle passes both paths,
	// so a refusal below is the rules' doing, not the harness's.
	control := filepath.Join(dir, "control.satchel")
	if err := fb.Write(control, fb.Index(), signer); err != nil {
		t.Fatal(err)
	}
	if err := verifyAsBundleVerify(control, keys); err != nil {
		t.Fatalf("control bundle fails verify: %v", err)
	}
	if code, out := runInstaller("apply", control, "--key", pub, "--root", seededRoot(t), "--no-start"); code != 0 {
		t.Fatalf("control bundle fails apply (exit %d):\n%s", code, out)
	}

	cases := forge.Cases()
	tried, held := 0, 0
	for _, c := range cases {
		tried++
		ok := t.Run(c.Name, func(t *testing.T) {
			t.Logf("finding: %s", c.Finding)
			out := filepath.Join(dir, c.Name+".satchel")
			if err := c.Make(fb, signer, out); err != nil {
				t.Fatalf("forging: %v", err)
			}
			if err := verifyAsBundleVerify(out, keys); manifest.ExitCode(err) != manifest.ExitVerification {
				t.Errorf("satchel-bundle verify: exit %d (%v), want 3", manifest.ExitCode(err), err)
			}
			root := seededRoot(t)
			before := treeHash(t, root)
			code, text := runInstaller("apply", out, "--key", pub, "--root", root, "--no-start")
			if code != manifest.ExitVerification {
				t.Errorf("satchel-install apply: exit %d, want 3:\n%s", code, text)
			}
			if after := treeHash(t, root); after != before {
				t.Errorf("satchel-install apply wrote into the root:\n%s", diffLines(before, after))
			}
			t.Logf("refused: %s", firstLine(text))
			if c.Text {
				code, text := runInstaller("preflight", out, "--root", root)
				if code != manifest.ExitVerification {
					t.Errorf("satchel-install preflight without a key: exit %d, want 3:\n%s", code, text)
				}
				if i := strings.IndexFunc(text, func(r rune) bool { return r < 0x20 && r != '\n' && r != '\t' || r == 0x7f }); i >= 0 {
					t.Errorf("preflight printed a control character at %d: %q", i, text)
				}
				if after := treeHash(t, root); after != before {
					t.Errorf("preflight wrote into the root")
				}
			}
		})
		if ok {
			held++
		}
	}
	t.Logf("hardening: malicious-bundles tried=%d held=%d", tried, held)
	if tried < 35 || held != tried {
		t.Errorf("%d of %d malicious bundles held", held, tried)
	}
}

// verifyAsBundleVerify is what `satchel-bundle verify --key` runs (cmd/bundle/verify.go).
func verifyAsBundleVerify(path string, keys []*verify.Verifier) error {
	b, err := pack.OpenPath(path)
	if err != nil {
		return err
	}
	defer b.Close()
	_, _, err = pack.VerifyBundle(b, keys, pack.VerifyOptions{Deep: true})
	return err
}

func mustKeys(t *testing.T, paths ...string) []*verify.Verifier {
	t.Helper()
	var keys []*verify.Verifier
	for _, p := range paths {
		v, err := verify.LoadVerifierFile(p)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, v)
	}
	return keys
}

// runInstaller runs satchel-install in-process and returns its exit code
// and what it printed (stdout, then stderr).
func runInstaller(args ...string) (int, string) {
	var out, errOut bytes.Buffer
	code := cli.Execute(newRootCommand(), args, &out, &errOut)
	return code, out.String() + errOut.String()
}

// seededRoot is a root with the host files a forged bundle would go for.
func seededRoot(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for p, content := range map[string]string{
		"etc/passwd":                   "root:x:0:0:root:/root:/bin/bash\n",
		"etc/shadow":                   "root:*:19000:0:99999:7:::\n",
		"etc/cron.d/placeholder":       "# nothing\n",
		"etc/satchel/keys/README":      "trusted keys\n",
		"root/.ssh/authorized_keys":    "",
		"usr/local/bin/placeholder":    "#!/bin/sh\n",
		"usr/local/lib/systemd/README": "",
		"opt/placeholder":              "",
	} {
		full := filepath.Join(root, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// treeHash describes every entry under root (path, type, mode, size,
// content digest, link target, mtime and ctime), sorted, one per line: equal
// strings mean nothing was written, created, removed, renamed or chmodded.
func treeHash(t *testing.T, root string) string {
	t.Helper()
	var lines []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		var ctime string
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			ctime = fmt.Sprintf("%d.%09d", st.Ctim.Sec, st.Ctim.Nsec)
		}
		what := ""
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			target, _ := os.Readlink(p)
			what = "-> " + target
		case fi.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			what = fmt.Sprintf("%x", sha256.Sum256(b))
		}
		lines = append(lines, fmt.Sprintf("%s %v %d %s mtime=%d ctime=%s", rel, fi.Mode(), fi.Size(), what, fi.ModTime().UnixNano(), ctime))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

func diffLines(a, b string) string {
	in := map[string]bool{}
	for _, l := range strings.Split(a, "\n") {
		in[l] = true
	}
	var d []string
	for _, l := range strings.Split(b, "\n") {
		if !in[l] {
			d = append(d, "+ "+l)
		}
		delete(in, l)
	}
	for l := range in {
		d = append(d, "- "+l)
	}
	sort.Strings(d)
	return strings.Join(d, "\n")
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(strings.TrimSpace(s), "\n")
	return l
}
