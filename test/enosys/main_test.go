//go:build linux && (amd64 || arm64)

package main

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/satchel-dev/satchel/internal/testenv/enosys"
)

// The test binary is the command itself when ENOSYS_TEST_MAIN=1, and the
// program under test when its first argument is "probe" (it prints
// "NAME=ENOSYS|present" for each probe).
func TestMain(m *testing.M) {
	if len(os.Args) > 1 && os.Args[1] == "probe" {
		for _, n := range enosys.Probes() {
			r := "present"
			if err := enosys.Probe(n); errors.Is(err, unix.ENOSYS) {
				r = "ENOSYS"
			}
			fmt.Printf("%s=%s\n", n, r)
		}
		os.Exit(0)
	}
	if os.Getenv("ENOSYS_TEST_MAIN") == "1" {
		os.Unsetenv("ENOSYS_TEST_MAIN")
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

func enosysCmd(t *testing.T, args ...string) (string, int) {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), "ENOSYS_TEST_MAIN=1")
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) {
			t.Fatal(err)
		}
		code = ee.ExitCode()
	}
	return string(out), code
}

func TestCommand(t *testing.T) {
	exe, _ := os.Executable()
	out, code := enosysCmd(t, "-s", "pidfd_open", "-s", "openat2", "--", exe, "probe")
	if code != 0 || !strings.Contains(out, "pidfd_open=ENOSYS") || !strings.Contains(out, "openat2=ENOSYS") || !strings.Contains(out, "statx=present") || !strings.Contains(out, "clone3=present") {
		t.Errorf("-s pidfd_open -s openat2: exit %d\n%s", code, out)
	}
	// -k 4.19: what a 4.19 kernel lacks, and statx (4.11) stays.
	out, code = enosysCmd(t, "-k", "4.19", "--", exe, "probe")
	for _, want := range []string{"pidfd_open=ENOSYS", "openat2=ENOSYS", "clone3=ENOSYS", "close_range=ENOSYS", "faccessat2=ENOSYS", "pidfd_send_signal=ENOSYS", "statx=present"} {
		if code != 0 || !strings.Contains(out, want) {
			t.Errorf("-k 4.19: exit %d, want %s\n%s", code, want, out)
		}
	}
	// The command's exit status comes back; a shell and its children run.
	if out, code = enosysCmd(t, "-k", "4.19", "--", "sh", "-c", "ls / >/dev/null && exit 7"); code != 7 {
		t.Errorf("sh under -k 4.19: exit %d, want 7\n%s", code, out)
	}
	if out, code = enosysCmd(t, "-s", "pidfd_open", "--", "no-such-command-here"); code != 127 {
		t.Errorf("missing command: exit %d, want 127\n%s", code, out)
	}
	if out, code = enosysCmd(t, "-s", "no_such_call", "--", "true"); code != 125 || !strings.Contains(out, "unknown system call") {
		t.Errorf("unknown call: exit %d, want 125\n%s", code, out)
	}
	if out, code = enosysCmd(t, "--", "true"); code != 125 {
		t.Errorf("no call named: exit %d, want 125\n%s", code, out)
	}
	if out, code = enosysCmd(t, "-l"); code != 0 || !strings.Contains(out, "pidfd_open") || !strings.Contains(out, "Linux 5.3") {
		t.Errorf("-l: exit %d\n%s", code, out)
	}
}
