package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// ENOSYSBinary returns a static build of test/enosys: $SATCHEL_ENOSYS when
// set (a prebuilt one), else one built now into the test's temp dir (Go's
// build cache makes that a link step after the first time).
func ENOSYSBinary(t testing.TB) string {
	t.Helper()
	if p := os.Getenv("SATCHEL_ENOSYS"); p != "" {
		return p
	}
	if runtime.GOOS != "linux" || (runtime.GOARCH != "amd64" && runtime.GOARCH != "arm64") {
		// By design: seccomp is Linux's, and the tables are amd64's and arm64's.
		t.Skipf("enosys runs on linux/amd64 and linux/arm64, not %s/%s", runtime.GOOS, runtime.GOARCH)
	}
	goBin := RequireBinary(t, "go")
	out := filepath.Join(t.TempDir(), "enosys")
	cmd := exec.Command(goBin, "build", "-trimpath", "-o", out, "github.com/satchel-dev/satchel/test/enosys")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building test/enosys: %v\n%s", err, b)
	}
	return out
}

// WithENOSYS rewrites cmd (not yet started) to run under enosys, so that the
// named system calls fail with ENOSYS in it and in all its children, as on a
// kernel that lacks them (see internal/testenv/enosys: pidfd_open, openat2,
// clone3, close_range, faccessat2, pidfd_send_signal, statx, ...). Env, Dir,
// stdio and the rest of cmd are kept. It returns cmd.
func WithENOSYS(t testing.TB, syscalls []string, cmd *exec.Cmd) *exec.Cmd {
	t.Helper()
	if cmd.Err != nil {
		t.Fatalf("command %v: %v", cmd.Args, cmd.Err)
	}
	bin := ENOSYSBinary(t)
	args := []string{bin}
	for _, s := range syscalls {
		args = append(args, "-s", s)
	}
	args = append(args, "--", cmd.Path)
	args = append(args, cmd.Args[1:]...)
	cmd.Path, cmd.Args = bin, args
	return cmd
}

// RunWithENOSYS runs cmd under WithENOSYS and returns its combined output.
func RunWithENOSYS(t testing.TB, syscalls []string, cmd *exec.Cmd) ([]byte, error) {
	t.Helper()
	return WithENOSYS(t, syscalls, cmd).CombinedOutput()
}
