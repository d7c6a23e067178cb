package release

import (
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// buildFlags must match GOBUILD in the Makefile.
var buildFlags = []string{"build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w -buildid= -X github.com/satchel-dev/satchel/internal/version.Version=test"}

func repoRoot(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goBuild(t *testing.T, arch, pkg, out string, extraEnv ...string) {
	t.Helper()
	cmd := exec.Command("go", append(buildFlags, "-o", out, pkg)...)
	cmd.Dir = repoRoot(t)
	cmd.Env = append(os.Environ(), append([]string{"CGO_ENABLED=0", "GOOS=linux", "GOARCH=" + arch}, extraEnv...)...)
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s for %s: %v\n%s", pkg, arch, err, msg)
	}
}

// The installer must run on Kylin V10's glibc 2.28 and on hosts with no C
// library at all: no interpreter, no dynamic section, no build id.
func TestInstallerIsStaticAndReproducible(t *testing.T) {
	testenv.SkipShort(t, "builds the installer four times and runs the arm64 one under qemu-user")
	for _, arch := range []string{"amd64", "arm64"} {
		t.Run(arch, func(t *testing.T) {
			dir := t.TempDir()
			a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b")
			goBuild(t, arch, "./cmd/install", a)
			// A second build must give the same bytes; for amd64 from a
			// fresh build cache (a full compile), for arm64 in another temp dir.
			extra := []string{"GOTMPDIR=" + t.TempDir()}
			if arch == "amd64" {
				extra = append(extra, "GOCACHE="+filepath.Join(dir, "cache"))
			}
			goBuild(t, arch, "./cmd/install", b, extra...)
			x, _ := os.ReadFile(a)
			y, _ := os.ReadFile(b)
			if !bytes.Equal(x, y) {
				t.Fatalf("two builds differ: %x vs %x", sha256.Sum256(x), sha256.Sum256(y))
			}
			f, err := elf.Open(a)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			wantMachine := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
			if f.Machine != wantMachine {
				t.Fatalf("machine %v, want %v", f.Machine, wantMachine)
			}
			for _, p := range f.Progs {
				if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
					t.Fatalf("installer has %v: not static", p.Type)
				}
			}
			if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
				t.Fatalf("installer links %v", libs)
			}
			for _, s := range f.Sections {
				if s.Name == ".note.gnu.build-id" || s.Name == ".note.go.buildid" {
					t.Fatalf("installer carries a build id section %s", s.Name)
				}
			}
			if bytes.Contains(x, []byte(repoRoot(t))) {
				t.Fatal("installer contains the build directory path: -trimpath missing")
			}
			if out, err := exec.Command("file", a).Output(); err == nil && !strings.Contains(string(out), "statically linked") {
				t.Fatalf("file(1) says: %s", out)
			}
			// Run it: natively, or the other architecture under qemu-user.
			var run *exec.Cmd
			switch {
			case arch == runtime.GOARCH:
				run = exec.Command(a, "version")
			default:
				q := ""
				for _, name := range []string{"qemu-aarch64-static", "qemu-aarch64"} {
					if p, err := exec.LookPath(name); err == nil {
						q = p
						break
					}
				}
				if q == "" {
					testenv.Skipf(t, "no qemu-aarch64(-static): apt-get install qemu-user-static to run the arm64 build")
				}
				run = exec.Command(q, a, "version")
			}
			out, err := run.CombinedOutput()
			if err != nil || !strings.Contains(string(out), "test") {
				t.Fatalf("%v: %v\n%s", run.Args, err, out)
			}
		})
	}
}
