//go:build linux

package host

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/satchel-dev/satchel/internal/testenv"
)

// seccompEnv makes TestPidfdOpenSeccompChild, run as a child of
// TestPidfdOpenProbe, load a seccomp filter that answers pidfd_open with
// the named errno, as a 4.19 kernel (ENOSYS) or a container's filter
// (EPERM) would, and then run the real probe.
const seccompEnv = "SATCHEL_HOST_TEST_PIDFD_ERRNO"

func TestPidfdOpenProbe(t *testing.T) {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	release := unix.ByteSliceToString(u.Release[:])
	ok, err := probePidfdOpen()
	switch {
	case err != nil:
		t.Logf("the probe cannot tell here (%v): a seccomp filter around the tests?", err)
	case compareVersions(release, "5.3") >= 0 && !ok:
		t.Errorf("kernel %s: pidfd_open reported absent", release)
	default:
		t.Logf("kernel %s: pidfd_open %v", release, ok)
	}

	for _, tc := range []struct {
		errno string
		want  string
	}{
		{"ENOSYS", "pidfd_open=false err=<nil>"},
		{"EPERM", "pidfd_open=false err=the pidfd_open system call answered operation not permitted"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestPidfdOpenSeccompChild$", "-test.v")
		cmd.Env = append(os.Environ(), seccompEnv+"="+tc.errno)
		out, err := cmd.CombinedOutput()
		if strings.Contains(string(out), "SKIP") {
			testenv.Skipf(t, "seccomp unavailable: %s", out)
		}
		if err != nil || !strings.Contains(string(out), tc.want) {
			t.Errorf("%s: %v\n%s\nwant %q", tc.errno, err, out, tc.want)
		}
	}
}

func TestPidfdOpenSeccompChild(t *testing.T) {
	name := os.Getenv(seccompEnv)
	if name == "" {
		t.Skip("run by TestPidfdOpenProbe") // by design: a child process of TestPidfdOpenProbe, not a test of its own
	}
	errno := map[string]syscall.Errno{"ENOSYS": unix.ENOSYS, "EPERM": unix.EPERM}[name]
	var arch uint32
	switch runtime.GOARCH {
	case "amd64":
		arch = unix.AUDIT_ARCH_X86_64
	case "arm64":
		arch = unix.AUDIT_ARCH_AARCH64
	default:
		testenv.Skipf(t, "SKIP: no seccomp filter for %s", runtime.GOARCH)
	}
	// seccomp_data: nr at offset 0, arch at 4.
	filter := []unix.SockFilter{
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 4},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 3, K: arch},
		{Code: unix.BPF_LD | unix.BPF_W | unix.BPF_ABS, K: 0},
		{Code: unix.BPF_JMP | unix.BPF_JEQ | unix.BPF_K, Jt: 0, Jf: 1, K: unix.SYS_PIDFD_OPEN},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ERRNO | uint32(errno)},
		{Code: unix.BPF_RET | unix.BPF_K, K: unix.SECCOMP_RET_ALLOW},
	}
	prog := unix.SockFprog{Len: uint16(len(filter)), Filter: &filter[0]}
	if err := unix.Prctl(unix.PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0); err != nil {
		testenv.Skipf(t, "SKIP: PR_SET_NO_NEW_PRIVS: %v", err)
	}
	if _, _, e := unix.Syscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, unix.SECCOMP_FILTER_FLAG_TSYNC, uintptr(unsafe.Pointer(&prog))); e != 0 {
		testenv.Skipf(t, "SKIP: seccomp: %v", e)
	}
	ok, err := probePidfdOpen()
	fmt.Printf("pidfd_open=%v err=%v\n", ok, err)
}

// TestPageSizeIsAuxv checks that Gather's page size is the kernel's
// AT_PAGESZ, read here from /proc/self/auxv (pairs of native words).
func TestPageSizeIsAuxv(t *testing.T) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		testenv.Skipf(t, "needs /proc/self/auxv: %v", err)
	}
	const atPagesz = 6 // AT_PAGESZ, <linux/auxvec.h>
	w := int(unsafe.Sizeof(uintptr(0)))
	word := func(p []byte) uint64 {
		if w == 8 {
			return binary.NativeEndian.Uint64(p)
		}
		return uint64(binary.NativeEndian.Uint32(p))
	}
	var aux uint64
	for i := 0; i+2*w <= len(b); i += 2 * w {
		if word(b[i:]) == atPagesz {
			aux = word(b[i+w:])
		}
	}
	if aux == 0 {
		t.Fatal("no AT_PAGESZ in /proc/self/auxv")
	}
	f := gatherFake(t, t.TempDir(), WithPidfdOpenProbe(func() (bool, error) { return true, nil }))
	if uint64(f.PageSize) != aux {
		t.Errorf("PageSize %d, AT_PAGESZ %d", f.PageSize, aux)
	}
	if f := gatherFake(t, t.TempDir(), WithPageSize(PageSize64K)); f.PageSize != PageSize64K {
		t.Errorf("WithPageSize: %d", f.PageSize)
	}
}
