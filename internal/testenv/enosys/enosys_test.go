//go:build linux && (amd64 || arm64)

package enosys

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// The test binary plays two parts for the tests below: with
// ENOSYS_TEST_EXEC=1 it is the wrapper (Exec with the names in
// ENOSYS_TEST_NAMES), and with argument "probe" the program under test,
// printing "NAME=RESULT" for every probe.
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		for _, n := range Probes() {
			fmt.Printf("%s=%s\n", n, result(Probe(n)))
		}
		os.Exit(0)
	}
	if os.Getenv("ENOSYS_TEST_EXEC") == "1" {
		runtime.LockOSThread()
		names := strings.Split(os.Getenv("ENOSYS_TEST_NAMES"), ",")
		env := slices.DeleteFunc(os.Environ(), func(e string) bool { return strings.HasPrefix(e, "ENOSYS_TEST_") })
		err := Exec(names, []string{os.Args[0], "probe"}, env)
		fmt.Fprintln(os.Stderr, err)
		os.Exit(125)
	}
	os.Exit(m.Run())
}

func result(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, unix.ENOSYS):
		return "ENOSYS"
	}
	return "present(" + err.Error() + ")"
}

func probe(t *testing.T, names ...string) map[string]string {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "probe")
	if len(names) > 0 {
		cmd = exec.Command(exe)
		cmd.Env = append(os.Environ(), "ENOSYS_TEST_EXEC=1", "ENOSYS_TEST_NAMES="+strings.Join(names, ","))
	}
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			t.Fatalf("%v: %v\n%s", cmd.Args, err, ee.Stderr)
		}
		t.Fatal(err)
	}
	got := map[string]string{}
	for line := range strings.Lines(string(out)) {
		k, v, _ := strings.Cut(strings.TrimSpace(line), "=")
		got[k] = v
	}
	return got
}

// TestFilter: without the filter every probed call is there on this kernel
// (the control: otherwise ENOSYS below would prove nothing); under it the
// named ones answer ENOSYS and the others still work.
func TestFilter(t *testing.T) {
	plain := probe(t)
	for _, n := range Probes() {
		if plain[n] == "ENOSYS" || plain[n] == "" {
			t.Fatalf("%s without a filter: %q; this kernel must have every probed call (Linux ≥ 5.9)", n, plain[n])
		}
	}
	for _, named := range [][]string{{"pidfd_open", "openat2"}, Probes(), {"clone3"}} {
		got := probe(t, named...)
		for _, n := range Probes() {
			want := plain[n]
			if slices.Contains(named, n) {
				want = "ENOSYS"
			}
			if got[n] != want {
				t.Errorf("filter %v: %s = %q, want %q", named, n, got[n], want)
			}
		}
		t.Logf("filter %v: %v", named, got)
	}
}

func TestNumbers(t *testing.T) {
	// Spot checks against the kernel's tables (arch/x86/entry/syscalls/syscall_64.tbl,
	// include/uapi/asm-generic/unistd.h): the two ABIs share numbers from 424 on,
	// not before.
	want := map[string]map[string]uint32{
		"amd64": {"statx": 332, "pidfd_send_signal": 424, "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437, "faccessat2": 439},
		"arm64": {"statx": 291, "pidfd_send_signal": 424, "pidfd_open": 434, "clone3": 435, "close_range": 436, "openat2": 437, "faccessat2": 439},
	}[runtime.GOARCH]
	for n, nr := range want {
		if got, err := Number(n); err != nil || got != nr {
			t.Errorf("Number(%s) = %d, %v; want %d", n, got, err, nr)
		}
	}
	for n := range numbers {
		if since[n] == "" {
			t.Errorf("%s: no release recorded", n)
		}
	}
	if _, err := Number("no_such_call"); err == nil {
		t.Error("unknown name accepted")
	}
}

func TestNewer(t *testing.T) {
	got, err := Newer("4.19.90-52.22.v2207.ky10.aarch64")
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"pidfd_open", "openat2", "clone3", "close_range", "faccessat2", "pidfd_send_signal", "io_uring_setup"} {
		if !slices.Contains(got, n) {
			t.Errorf("Newer(4.19) lacks %s: %v", n, got)
		}
	}
	for _, n := range []string{"statx", "rseq", "io_pgetevents"} {
		if slices.Contains(got, n) {
			t.Errorf("Newer(4.19) has %s, which 4.19 has", n)
		}
	}
	if got, _ := Newer("5.10"); slices.Contains(got, "close_range") || !slices.Contains(got, "epoll_pwait2") {
		t.Errorf("Newer(5.10) = %v", got)
	}
	if _, err := Newer("x"); err == nil {
		t.Error("Newer(x) accepted")
	}
}

func TestFilterLimits(t *testing.T) {
	if _, err := Filter(nil); err == nil {
		t.Error("empty filter accepted")
	}
	p, err := Filter([]uint32{1, 2, 3})
	if err != nil {
		t.Fatal(err)
	}
	// Every compare must land on the errno return, the last instruction.
	for i, ins := range p[4 : 4+3] {
		if target := 4 + i + 1 + int(ins.Jt); target != len(p)-1 {
			t.Errorf("compare %d jumps to %d, want %d", i, target, len(p)-1)
		}
	}
}
