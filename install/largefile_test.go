package install

import (
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/satchel-dev/satchel/manifest"
)

// largeFixture is the default fixture with runc and runsc grown to several
// MiB of half-compressible bytes after their scripts' last line, so that
// they take the installer's read-ahead path (decompressed and hashed on a
// second goroutine while the first writes).
func largeFixture() fixture {
	fx := defaultFixture()
	fx.components = slices.Clone(fx.components)
	grow := func(f fixFile, seed uint64, n int) fixFile {
		r := rand.New(rand.NewPCG(seed, 7))
		b := []byte(f.content + "exit 0\n")
		for i := range n {
			if i%3 == 0 {
				b = append(b, byte(r.Uint32()))
			} else {
				b = append(b, byte(i/3%53))
			}
		}
		f.content = string(b)
		return f
	}
	for i, c := range fx.components {
		c.files = slices.Clone(c.files)
		for j, f := range c.files {
			switch filepath.Base(f.path) {
			case "runc":
				c.files[j] = grow(f, 1, 9<<20+3)
			case "runsc":
				c.files[j] = grow(f, 2, 3<<20+11)
			}
		}
		fx.components[i] = c
	}
	return fx
}

// TestApplyLargeFiles: large files arrive byte for byte (the read-ahead path
// gives the serial path's bytes; pack's tests compare the two directly).
func TestApplyLargeFiles(t *testing.T) {
	e := newEnv(t, largeFixture())
	e.mustApply()
	n := 0
	for _, c := range e.fx.components {
		for _, f := range c.files {
			if f.link != "" {
				continue
			}
			got, err := os.ReadFile(filepath.Join(e.root, f.path))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != f.content {
				t.Errorf("%s: %d bytes written, want %d", f.path, len(got), len(f.content))
			}
			if len(f.content) > 1<<20 {
				n++
			}
		}
	}
	if n != 2 {
		t.Fatalf("%d large files in the fixture, want 2", n)
	}
}

// TestApplyBrokenLargeFileWritesNothing: a large file whose blob is intact
// but whose content does not match its signed digest (a bundle signed
// broken), or whose blob is corrupted, fails with a verification error, and
// the root ends byte-identical to before: the file never reached its path
// and the run's earlier writes were rolled back.
func TestApplyBrokenLargeFileWritesNothing(t *testing.T) {
	signedBroken := largeFixture()
	signedBroken.tamper = func(ix *manifest.Index) {
		for ci := range ix.Components {
			for ai := range ix.Components[ci].Artifacts {
				for fi, f := range ix.Components[ci].Artifacts[ai].Files {
					if filepath.Base(f.Path) == "runc" {
						ix.Components[ci].Artifacts[ai].Files[fi].Digest = manifest.DigestOf("sha256", []byte("not runc"))
					}
				}
			}
		}
	}
	corrupt := func(e *env) {
		var runc manifest.File
		for _, c := range e.ix.Components {
			for _, a := range c.Artifacts {
				for _, f := range a.Files {
					if filepath.Base(f.Path) == "runc" {
						runc = f
					}
				}
			}
		}
		i := slices.IndexFunc(e.ix.Blobs, func(b manifest.Blob) bool { return b.Digest == runc.Blob })
		b, err := os.ReadFile(e.bundle)
		if err != nil {
			t.Fatal(err)
		}
		b[bytesIndex(t, e.bundle, e.ix.Blobs[i])+e.ix.Blobs[i].Size/3] ^= 0x10
		if err := os.WriteFile(e.bundle, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for name, tc := range map[string]struct {
		fx     fixture
		damage func(*env)
	}{
		"signed broken":  {signedBroken, nil},
		"corrupted blob": {largeFixture(), corrupt},
	} {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, tc.fx)
			if tc.damage != nil {
				tc.damage(e)
			}
			e.write("/etc/docker/daemon.json", "{}\n", 0o644)
			before := snapshot(t, e.root)
			_, err := e.apply(e.installer())
			if manifest.ExitCode(err) != manifest.ExitVerification {
				t.Fatalf("apply: exit code %d (%v), want 3", manifest.ExitCode(err), err)
			}
			t.Logf("apply: %v", err)
			if _, err := os.Lstat(filepath.Join(e.root, "usr/local/bin/runc")); !os.IsNotExist(err) {
				t.Errorf("runc exists after the failed apply: %v", err)
			}
			requireSameTree(t, before, snapshot(t, e.root))
		})
	}
}
