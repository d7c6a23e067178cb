//go:build linux && (amd64 || arm64)

package testenv

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// helper runs a scenario in the test binary started as a subprocess.
func helper(name string) int {
	switch name {
	case "probe":
		// What a program sees of two calls a 4.19 kernel lacks.
		fd, err := unix.Openat2(unix.AT_FDCWD, "/", &unix.OpenHow{Flags: unix.O_RDONLY | unix.O_DIRECTORY})
		fmt.Printf("openat2 fd=%d err=%v enosys=%v\n", fd, err, errors.Is(err, unix.ENOSYS))
		fd, err = unix.PidfdOpen(os.Getpid(), 0)
		fmt.Printf("pidfd_open fd=%d err=%v enosys=%v\n", fd, err, errors.Is(err, unix.ENOSYS))
		return 0
	}
	fmt.Fprintf(os.Stderr, "unknown helper %q\n", name)
	return 2
}

func TestRunWithENOSYS(t *testing.T) {
	SkipShort(t, "builds test/enosys")
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	probe := func() *exec.Cmd {
		cmd := exec.Command(exe)
		cmd.Env = append(os.Environ(), "TESTENV_HELPER=probe")
		return cmd
	}
	// Control: this kernel has both calls, so ENOSYS below is the filter's.
	out, err := probe().CombinedOutput()
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, c := range []string{"openat2", "pidfd_open"} {
		ok := false
		for line := range strings.Lines(string(out)) {
			ok = ok || strings.HasPrefix(line, c+" ") && strings.Contains(line, "err=<nil> enosys=false")
		}
		if !ok {
			t.Fatalf("without enosys %s fails on this kernel (needs Linux ≥ 5.6):\n%s", c, out)
		}
	}
	out, err = RunWithENOSYS(t, []string{"pidfd_open", "openat2"}, probe())
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{"openat2 fd=-1 err=function not implemented enosys=true", "pidfd_open fd=-1 err=function not implemented enosys=true"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("under enosys, want %q:\n%s", want, out)
		}
	}
	// Only the named call.
	out, err = RunWithENOSYS(t, []string{"openat2"}, probe())
	if err != nil || !strings.Contains(string(out), "openat2 fd=-1") || strings.Contains(string(out), "pidfd_open fd=-1") {
		t.Errorf("openat2 only: %v\n%s", err, out)
	}
}
